"""journals full-text search

PostgreSQL: a stored generated `tsvector` column (`fts_document`, configuration `simple`:
no stemming, any language) over title and content, with a GIN index.

SQLite: an FTS5 table (`journals_fts`, unicode61 tokenizer without diacritics) kept in
step by triggers. Its rowids come from `journals_fts_ids`, whose INTEGER PRIMARY KEY is
stable across VACUUM (the implicit rowid of `journals` is not), and which maps them to
journal ids. Secret entries (ciphertext only) are never indexed.

These objects exist only in migrations: their names start with `fts_`/`journals_fts`, which
the model/migration comparison skips (MIGRATION_ONLY_PREFIXES).

Revision ID: 20261127_1100
Revises: 20261127_1000
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261127_1100"
down_revision: str | Sequence[str] | None = "20261127_1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_UPGRADE = [
    """
    ALTER TABLE journals ADD COLUMN fts_document tsvector
    GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(content, ''))
    ) STORED
    """,
    "CREATE INDEX journals_fts_document_gin ON journals USING gin (fts_document)",
]
PG_DOWNGRADE = [
    "DROP INDEX IF EXISTS journals_fts_document_gin",
    "ALTER TABLE journals DROP COLUMN IF EXISTS fts_document",
]

# The delete/insert pair shared by the update and delete triggers.
_SQLITE_UNINDEX_OLD = """
    DELETE FROM journals_fts
     WHERE rowid = (SELECT rowid FROM journals_fts_ids WHERE journal_id = old.id);
    DELETE FROM journals_fts_ids WHERE journal_id = old.id;
"""
_SQLITE_INDEX_NEW = """
    INSERT INTO journals_fts_ids (journal_id) SELECT new.id WHERE new.secret_tag_id IS NULL;
    INSERT INTO journals_fts (rowid, title, content)
    SELECT last_insert_rowid(), new.title, new.content WHERE new.secret_tag_id IS NULL;
"""

SQLITE_UPGRADE = [
    """
    CREATE TABLE journals_fts_ids (
        rowid INTEGER PRIMARY KEY,
        journal_id CHAR(32) NOT NULL UNIQUE
    )
    """,
    """
    CREATE VIRTUAL TABLE journals_fts USING fts5(
        title, content, tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    f"""
    CREATE TRIGGER journals_fts_after_insert AFTER INSERT ON journals BEGIN
    {_SQLITE_INDEX_NEW}
    END
    """,
    f"""
    CREATE TRIGGER journals_fts_after_update
    AFTER UPDATE OF title, content, secret_tag_id ON journals BEGIN
    {_SQLITE_UNINDEX_OLD}
    {_SQLITE_INDEX_NEW}
    END
    """,
    f"""
    CREATE TRIGGER journals_fts_after_delete AFTER DELETE ON journals BEGIN
    {_SQLITE_UNINDEX_OLD}
    END
    """,
    # Entries written before this migration.
    """
    INSERT INTO journals_fts_ids (journal_id)
    SELECT id FROM journals WHERE secret_tag_id IS NULL
    """,
    """
    INSERT INTO journals_fts (rowid, title, content)
    SELECT m.rowid, j.title, j.content FROM journals_fts_ids m JOIN journals j ON j.id = m.journal_id
    """,
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS journals_fts_after_delete",
    "DROP TRIGGER IF EXISTS journals_fts_after_update",
    "DROP TRIGGER IF EXISTS journals_fts_after_insert",
    "DROP TABLE IF EXISTS journals_fts",
    "DROP TABLE IF EXISTS journals_fts_ids",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _run(PG_UPGRADE)
    elif dialect == "sqlite":
        _run(SQLITE_UPGRADE)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _run(PG_DOWNGRADE)
    elif dialect == "sqlite":
        _run(SQLITE_DOWNGRADE)
