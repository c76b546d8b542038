"""sync positions: changes numbered per user in commit order, sync counters, periodic jobs

Revision ID: 20261203_0200
Revises: 20261203_0100
Create Date: 2026-12-03 02:00:00

Existing changes are numbered per user in the order they were made (their UUIDv7 ids),
and each user's counter starts after the last one. The secret tag of a change stops being
a foreign key: the tombstones of a destroyed secret tag's entries must outlive the tag.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vibes.db

revision: str = "20261203_0200"
down_revision: str | Sequence[str] | None = "20261203_0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_counters",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("horizon", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sync_counters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sync_counters")),
    )
    op.create_table(
        "periodic_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_run_at", vibes.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_jobs")),
    )
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("previous_secret_tag_id", sa.Uuid(), nullable=True))
        batch.drop_constraint("fk_changes_secret_tag_id_secret_tags", type_="foreignkey")
        batch.drop_index("ix_changes_user_id_id")
    op.execute(
        "UPDATE changes SET previous_secret_tag_id = secret_tag_id, position = ("
        " SELECT numbered.n FROM ("
        "  SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS n FROM changes"
        " ) AS numbered WHERE numbered.id = changes.id)"
    )
    op.execute(
        "INSERT INTO sync_counters (user_id, position, horizon)"
        " SELECT user_id, max(position), 0 FROM changes GROUP BY user_id"
    )
    with op.batch_alter_table("changes") as batch:
        batch.alter_column("position", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint("uq_changes_user_id_position", ["user_id", "position"])


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_constraint("uq_changes_user_id_position", type_="unique")
        batch.create_index("ix_changes_user_id_id", ["user_id", "id"], unique=False)
        # Tombstones of destroyed secret tags name tags that no longer exist.
        batch.drop_column("previous_secret_tag_id")
        batch.drop_column("position")
    op.execute(
        "DELETE FROM changes WHERE secret_tag_id IS NOT NULL"
        " AND secret_tag_id NOT IN (SELECT id FROM secret_tags)"
    )
    with op.batch_alter_table("changes") as batch:
        batch.create_foreign_key(
            "fk_changes_secret_tag_id_secret_tags",
            "secret_tags",
            ["secret_tag_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.drop_table("periodic_jobs")
    op.drop_table("sync_counters")
