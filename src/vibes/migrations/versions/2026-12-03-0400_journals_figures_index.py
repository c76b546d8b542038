"""journals: a covering index for analytics' per-day figures

Revision ID: 20261203_0400
Revises: 20261203_0300
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261203_0400"
down_revision: str | Sequence[str] | None = "20261203_0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_journals_user_id_entry_date_figures",
        "journals",
        ["user_id", "entry_date", "word_count", "mood_rating", "secret_tag_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_journals_user_id_entry_date_figures", table_name="journals")
