"""imported_objects: the source identity of every imported object (idempotent imports)

Revision ID: 20261203_0300
Revises: 20261203_0200
Create Date: 2026-12-03 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vibes.db

revision: str = "20261203_0300"
down_revision: str | Sequence[str] | None = "20261203_0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imported_objects",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", vibes.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", vibes.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_imported_objects_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_objects")),
        sa.UniqueConstraint("user_id", "kind", "source_key", name="uq_imported_objects_source"),
    )


def downgrade() -> None:
    op.drop_table("imported_objects")
