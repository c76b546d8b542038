"""search in the account's language

`users.language` (ISO 639-1, default `en`) and `users.search_configs`: the text search
configurations the account's entries are indexed with, the language's first, older ones
after it until the background re-index (`journals.reindex`) has rebuilt their entries.
Each entry stores the configuration it was indexed with (`journals.fts_config`).

PostgreSQL: the `unaccent` extension (trusted: the database owner may create it) and one
configuration `vibes_<name>` per Snowball language (a copy of PostgreSQL's own, its words
passed through `unaccent` before the stemmer; a copy of `simple` where the server lacks
that stemmer) plus `vibes_simple`. `fts_document` stops being a generated column (which
can use only one constant configuration): a trigger builds it with the row's
`fts_config`, taken from the account on insert. Entries indexed before keep their
`simple` document (its GIN index is untouched, no table rewrite) and their accounts get
`vibes_english,simple`: the dispatcher re-indexes them in the background, and searches
query both meanwhile.

SQLite: English entries stay in `journals_fts` (porter stemmer); entries in any other
language go to the new `journals_fts_plain` (no stemmer: SQLite ships none other), both
keyed by `journals_fts_ids`. The triggers pick the table from the row's `fts_config`.

Migration-only objects keep the `fts_`/`journals_fts` prefixes (MIGRATION_ONLY_PREFIXES).

Revision ID: 20261203_0100
Revises: 20261202_1830
Create Date: 2026-12-03 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0100"
down_revision: str | Sequence[str] | None = "20261202_1830"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of platform.textsearch.STEMMED's names (a migration never changes).
STEMMED = [
    "arabic",
    "armenian",
    "basque",
    "catalan",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
    "yiddish",
]
ENGLISH = "vibes_english"
OLD_PG_CONFIG = "simple"


def _pg_config(name: str) -> str:
    """Create `vibes_<name>` unless it exists: unaccent, then the stemmer (or simple)."""
    return f"""
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'vibes_{name}') THEN
        RETURN;
      END IF;
      IF EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = '{name}_stem') THEN
        CREATE TEXT SEARCH CONFIGURATION vibes_{name} (COPY = pg_catalog.{name});
        ALTER TEXT SEARCH CONFIGURATION vibes_{name}
          ALTER MAPPING FOR hword, hword_part, word WITH unaccent, {name}_stem;
      ELSE
        CREATE TEXT SEARCH CONFIGURATION vibes_{name} (COPY = pg_catalog.simple);
        ALTER TEXT SEARCH CONFIGURATION vibes_{name}
          ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
      END IF;
    END $$
    """


PG_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    *(_pg_config(name) for name in [*STEMMED, "simple"]),
    # Existing accounts: English from now on, their entries still in `simple`.
    f"""
    ALTER TABLE users
      ADD COLUMN language VARCHAR(8) NOT NULL DEFAULT 'en',
      ADD COLUMN search_configs VARCHAR(255) NOT NULL DEFAULT '{ENGLISH},{OLD_PG_CONFIG}'
    """,
    f"ALTER TABLE users ALTER COLUMN search_configs SET DEFAULT '{ENGLISH}'",
    # Keeps the stored documents (and their GIN index): no table rewrite.
    "ALTER TABLE journals ALTER COLUMN fts_document DROP EXPRESSION",
    f"ALTER TABLE journals ADD COLUMN fts_config VARCHAR(64) NOT NULL DEFAULT '{OLD_PG_CONFIG}'",
    # From now on the trigger sets it (from the account) before the NOT NULL check.
    "ALTER TABLE journals ALTER COLUMN fts_config DROP DEFAULT",
    """
    CREATE FUNCTION journals_fts_document() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' AND NEW.fts_config IS NULL THEN
        NEW.fts_config := coalesce(
          (SELECT split_part(search_configs, ',', 1) FROM users WHERE id = NEW.user_id),
          'vibes_simple');
      END IF;
      NEW.fts_document := to_tsvector(
        NEW.fts_config::regconfig, coalesce(NEW.title, '') || ' ' || coalesce(NEW.content, ''));
      RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER journals_fts_document
    BEFORE INSERT OR UPDATE OF title, content, fts_config ON journals
    FOR EACH ROW EXECUTE FUNCTION journals_fts_document()
    """,
]
PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS journals_fts_document ON journals",
    "DROP FUNCTION IF EXISTS journals_fts_document()",
    "DROP INDEX IF EXISTS journals_fts_user_document_gin",
    "ALTER TABLE journals DROP COLUMN fts_document, DROP COLUMN fts_config",
    """
    ALTER TABLE journals ADD COLUMN fts_document tsvector
    GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(content, ''))
    ) STORED
    """,
    "CREATE INDEX journals_fts_user_document_gin ON journals USING gin (user_id, fts_document)",
    "ALTER TABLE users DROP COLUMN language, DROP COLUMN search_configs",
    *(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS vibes_{n}" for n in [*STEMMED, "simple"]),
    # The extension stays: other objects may have come to rely on it.
]

_SQLITE_UNINDEX_OLD = """
    DELETE FROM journals_fts
     WHERE rowid = (SELECT rowid FROM journals_fts_ids WHERE journal_id = old.id);
    DELETE FROM journals_fts_plain
     WHERE rowid = (SELECT rowid FROM journals_fts_ids WHERE journal_id = old.id);
    DELETE FROM journals_fts_ids WHERE journal_id = old.id;
"""
_SQLITE_INDEX_NEW = f"""
    INSERT INTO journals_fts_ids (journal_id) SELECT new.id WHERE new.secret_tag_id IS NULL;
    INSERT INTO journals_fts (rowid, title, content)
    SELECT last_insert_rowid(), new.title, new.content
     WHERE new.secret_tag_id IS NULL AND new.fts_config = '{ENGLISH}';
    INSERT INTO journals_fts_plain (rowid, title, content)
    SELECT (SELECT rowid FROM journals_fts_ids WHERE journal_id = new.id), new.title, new.content
     WHERE new.secret_tag_id IS NULL AND new.fts_config IS NOT '{ENGLISH}';
"""
# The account's configuration: the first of its `search_configs`.
_SQLITE_ACCOUNT_CONFIG = """
    (SELECT CASE WHEN instr(search_configs, ',') > 0
                 THEN substr(search_configs, 1, instr(search_configs, ',') - 1)
                 ELSE search_configs END
       FROM users WHERE id = new.user_id)
"""

SQLITE_UPGRADE = [
    "DROP TRIGGER IF EXISTS journals_fts_after_insert",
    "DROP TRIGGER IF EXISTS journals_fts_after_update",
    "DROP TRIGGER IF EXISTS journals_fts_after_delete",
    # Every existing entry is English (porter, `journals_fts`), like its account.
    # No default: NULL on insert is what lets the trigger take the account's.
    "ALTER TABLE journals ADD COLUMN fts_config VARCHAR(64)",
    f"UPDATE journals SET fts_config = '{ENGLISH}'",
    """
    CREATE VIRTUAL TABLE journals_fts_plain USING fts5(
        title, content, tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    # Sets the row's configuration from its account, which (re)indexes it (below).
    f"""
    CREATE TRIGGER journals_fts_after_insert AFTER INSERT ON journals BEGIN
    UPDATE journals
       SET fts_config = coalesce(new.fts_config, {_SQLITE_ACCOUNT_CONFIG}, 'vibes_simple')
     WHERE id = new.id;
    END
    """,
    f"""
    CREATE TRIGGER journals_fts_after_update
    AFTER UPDATE OF title, content, secret_tag_id, fts_config ON journals BEGIN
    {_SQLITE_UNINDEX_OLD}
    {_SQLITE_INDEX_NEW}
    END
    """,
    f"""
    CREATE TRIGGER journals_fts_after_delete AFTER DELETE ON journals BEGIN
    {_SQLITE_UNINDEX_OLD}
    END
    """,
]

# 20261127_1100's triggers (one FTS table), restored by the downgrade.
_OLD_UNINDEX = """
    DELETE FROM journals_fts
     WHERE rowid = (SELECT rowid FROM journals_fts_ids WHERE journal_id = old.id);
    DELETE FROM journals_fts_ids WHERE journal_id = old.id;
"""
_OLD_INDEX = """
    INSERT INTO journals_fts_ids (journal_id) SELECT new.id WHERE new.secret_tag_id IS NULL;
    INSERT INTO journals_fts (rowid, title, content)
    SELECT last_insert_rowid(), new.title, new.content WHERE new.secret_tag_id IS NULL;
"""
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS journals_fts_after_insert",
    "DROP TRIGGER IF EXISTS journals_fts_after_update",
    "DROP TRIGGER IF EXISTS journals_fts_after_delete",
    "INSERT INTO journals_fts (rowid, title, content) "
    "SELECT rowid, title, content FROM journals_fts_plain",
    "DROP TABLE IF EXISTS journals_fts_plain",
    "ALTER TABLE journals DROP COLUMN fts_config",
    f"""
    CREATE TRIGGER journals_fts_after_insert AFTER INSERT ON journals BEGIN
    {_OLD_INDEX}
    END
    """,
    f"""
    CREATE TRIGGER journals_fts_after_update
    AFTER UPDATE OF title, content, secret_tag_id ON journals BEGIN
    {_OLD_UNINDEX}
    {_OLD_INDEX}
    END
    """,
    f"""
    CREATE TRIGGER journals_fts_after_delete AFTER DELETE ON journals BEGIN
    {_OLD_UNINDEX}
    END
    """,
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _run(PG_UPGRADE)
    elif dialect == "sqlite":
        op.add_column(
            "users", sa.Column("language", sa.String(8), nullable=False, server_default="en")
        )
        op.add_column(
            "users",
            sa.Column("search_configs", sa.String(255), nullable=False, server_default=ENGLISH),
        )
        _run(SQLITE_UPGRADE)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _run(PG_DOWNGRADE)
    elif dialect == "sqlite":
        _run(SQLITE_DOWNGRADE)
        op.drop_column("users", "search_configs")
        op.drop_column("users", "language")
