"""SQLite full-text search stems words (porter)

`glacier` did not find `glaciers` on SQLite: the FTS5 table `journals_fts` of
`20261127_1100` tokenized with `unicode61` alone. It is recreated with the porter stemmer
on top of the same tokenizer and options, and refilled from `journals` (through the
unchanged `journals_fts_ids`, so rowids stay). The triggers name the table, not its
tokenizer: they carry on unchanged. The downgrade restores the plain tokenizer.

A no-op on PostgreSQL (its `fts_document` column and index are unchanged).

Revision ID: 20261202_1830
Revises: 20261202_1745
Create Date: 2026-12-02 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261202_1830"
down_revision: str | Sequence[str] | None = "20261202_1745"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PORTER = "porter unicode61 remove_diacritics 2"
PLAIN = "unicode61 remove_diacritics 2"


def _recreate(tokenize: str) -> list[str]:
    return [
        "DROP TABLE IF EXISTS journals_fts",
        f"CREATE VIRTUAL TABLE journals_fts USING fts5(title, content, tokenize = '{tokenize}')",
        """
        INSERT INTO journals_fts (rowid, title, content)
        SELECT m.rowid, j.title, j.content
          FROM journals_fts_ids m JOIN journals j ON j.id = m.journal_id
        """,
    ]


def _run(statements: list[str]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(_recreate(PORTER))


def downgrade() -> None:
    _run(_recreate(PLAIN))
