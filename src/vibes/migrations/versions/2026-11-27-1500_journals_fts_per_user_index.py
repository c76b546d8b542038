"""journals full-text index per user

Every full-text query is scoped to one user (`visible_journals`), but the GIN index of
`20261127_1100` covers `fts_document` alone: for a frequent word PostgreSQL reads its
posting list across ALL users (about 480,000 entries for `quiet harbour` at 1.3M rows,
~60 ms) and only then intersects it with the user's entries. A two-column GIN index on
(user_id, fts_document) lets the index scan itself start from the user's few postings
and skip through the word's. It needs `btree_gin` (shipped with PostgreSQL, a trusted
extension: the database owner may create it). The single-column index it replaces is
dropped, which also makes every insert cheaper (one GIN index to maintain, not two).

PostgreSQL only (SQLite's FTS5 table is unchanged). Migration-only like the index it
replaces: its name starts with `journals_fts` (see MIGRATION_ONLY_PREFIXES).

Revision ID: 20261127_1500
Revises: 20261127_1100
Create Date: 2026-11-27 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261127_1500"
down_revision: str | Sequence[str] | None = "20261127_1100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX journals_fts_user_document_gin ON journals USING gin (user_id, fts_document)",
    "DROP INDEX IF EXISTS journals_fts_document_gin",
]
PG_DOWNGRADE = [
    "CREATE INDEX journals_fts_document_gin ON journals USING gin (fts_document)",
    "DROP INDEX IF EXISTS journals_fts_user_document_gin",
    # The extension stays: other objects may have come to rely on it.
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWNGRADE:
            op.execute(statement)
