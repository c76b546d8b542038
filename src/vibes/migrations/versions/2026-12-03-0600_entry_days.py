"""entry_days: per-day figures kept by triggers; each entry's zone and local day

Each entry gets `timezone` (its own zone where an import knows it; NULL = the account's).
`entry_days` holds, per user, vault (the nil UUID for public entries) and local day (the
rule of `journals.days.entry_local_date`: entry_date in the entry's zone, else the
account's), the number of entries, their words and their moods; triggers on `journals`
keep it in the transaction of every insert, update and delete, cascades included
(PostgreSQL: one statement-level trigger per operation over its transition tables, which
first takes a share lock on the users' rows so that a concurrent zone change, which locks
the row for update and rebuilds the user's days, is ordered with it; SQLite: row
triggers, its single writer orders them).
`tag_uses` holds each tag's number of links (public entries), kept the same way by
triggers on `journal_tags`. The covering index analytics used to scan entries with is no
longer needed.

Revision ID: 20261203_0600
Revises: 20261203_0500
Create Date: 2026-12-03 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0600"
down_revision: str | Sequence[str] | None = "20261203_0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_PUBLIC = "'00000000-0000-0000-0000-000000000000'::uuid"
_SQLITE_PUBLIC = "'00000000000000000000000000000000'"

# One entry's contribution, signed: +1 for a row that is there now, -1 for one gone.
_PG_SIGNED = """
    SELECT r.user_id, coalesce(r.secret_tag_id, {public}) AS vault_id,
           CAST(timezone(coalesce(r.timezone, u.timezone), r.entry_date) AS DATE) AS local_date,
           {sign} AS sign, r.word_count, r.mood_rating
    FROM {rows} r JOIN users u ON u.id = r.user_id
"""
_PG_LOCK = """
    PERFORM 1 FROM users WHERE id IN (SELECT user_id FROM {rows}) ORDER BY id FOR SHARE;
"""

_PG_APPLY = """
    WITH changed AS ({changed}),
    delta AS (
        SELECT user_id, vault_id, local_date,
               sum(sign) AS entries,
               sum(sign * word_count) AS words,
               sum(sign * coalesce(mood_rating, 0)) AS mood_sum,
               sum(CASE WHEN mood_rating IS NULL THEN 0 ELSE sign END) AS mood_count
        FROM changed
        GROUP BY user_id, vault_id, local_date
    )
    INSERT INTO entry_days AS d
        (user_id, vault_id, local_date, entries, words, mood_sum, mood_count)
    SELECT user_id, vault_id, local_date, entries, words, mood_sum, mood_count
    FROM delta
    WHERE entries <> 0 OR words <> 0 OR mood_sum <> 0 OR mood_count <> 0
    ORDER BY user_id, vault_id, local_date
    ON CONFLICT (user_id, vault_id, local_date) DO UPDATE SET
        entries = d.entries + excluded.entries,
        words = d.words + excluded.words,
        mood_sum = d.mood_sum + excluded.mood_sum,
        mood_count = d.mood_count + excluded.mood_count;
"""

_PG_PRUNE = """
    DELETE FROM entry_days d
    USING (SELECT DISTINCT user_id FROM old_rows) g
    WHERE d.user_id = g.user_id AND d.entries <= 0;
"""


def _pg_function(name: str, changed: str, lock: str, prune: bool) -> str:
    body = _PG_LOCK.format(rows=lock) + _PG_APPLY.format(changed=changed)
    if prune:
        body += _PG_PRUNE
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}\nRETURN NULL;\nEND\n$$"
    )


def _signed(sign: int, rows: str) -> str:
    return _PG_SIGNED.format(public=_PG_PUBLIC, sign=sign, rows=rows)


_PG_UP = [
    _pg_function("entry_days_inserted", _signed(1, "new_rows"), "new_rows", prune=False),
    _pg_function(
        "entry_days_updated",
        _signed(1, "new_rows") + " UNION ALL " + _signed(-1, "old_rows"),
        "new_rows",
        prune=True,
    ),
    _pg_function("entry_days_deleted", _signed(-1, "old_rows"), "old_rows", prune=True),
    "CREATE TRIGGER entry_days_after_insert AFTER INSERT ON journals"
    " REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION entry_days_inserted()",
    "CREATE TRIGGER entry_days_after_update AFTER UPDATE ON journals"
    " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION entry_days_updated()",
    "CREATE TRIGGER entry_days_after_delete AFTER DELETE ON journals"
    " REFERENCING OLD TABLE AS old_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION entry_days_deleted()",
]
_PG_DOWN = [
    "DROP TRIGGER IF EXISTS entry_days_after_delete ON journals",
    "DROP TRIGGER IF EXISTS entry_days_after_update ON journals",
    "DROP TRIGGER IF EXISTS entry_days_after_insert ON journals",
    "DROP FUNCTION IF EXISTS entry_days_deleted()",
    "DROP FUNCTION IF EXISTS entry_days_updated()",
    "DROP FUNCTION IF EXISTS entry_days_inserted()",
]


def _sqlite_day(row: str) -> str:
    """The entry's local day (`vibes_local_date` is registered on every connection of the
    app, `vibes.db`)."""
    return (
        f"vibes_local_date({row}.entry_date, coalesce({row}.timezone,"
        f" (SELECT u.timezone FROM users u WHERE u.id = {row}.user_id)))"
    )


_SQLITE_ADD = f"""
    INSERT INTO entry_days
        (user_id, vault_id, local_date, entries, words, mood_sum, mood_count)
    VALUES (NEW.user_id, coalesce(NEW.secret_tag_id, {_SQLITE_PUBLIC}), {_sqlite_day("NEW")}, 1,
            NEW.word_count, coalesce(NEW.mood_rating, 0), NEW.mood_rating IS NOT NULL)
    ON CONFLICT (user_id, vault_id, local_date) DO UPDATE SET
        entries = entries + excluded.entries,
        words = words + excluded.words,
        mood_sum = mood_sum + excluded.mood_sum,
        mood_count = mood_count + excluded.mood_count;
"""
_SQLITE_KEY = (
    f"user_id = OLD.user_id AND vault_id = coalesce(OLD.secret_tag_id, {_SQLITE_PUBLIC})"
    f" AND local_date = {_sqlite_day('OLD')}"
)
_SQLITE_REMOVE = f"""
    UPDATE entry_days SET
        entries = entries - 1,
        words = words - OLD.word_count,
        mood_sum = mood_sum - coalesce(OLD.mood_rating, 0),
        mood_count = mood_count - (OLD.mood_rating IS NOT NULL)
    WHERE {_SQLITE_KEY};
    DELETE FROM entry_days WHERE {_SQLITE_KEY} AND entries <= 0;
"""
_SQLITE_UP = [
    f"CREATE TRIGGER entry_days_after_insert AFTER INSERT ON journals BEGIN {_SQLITE_ADD} END",
    "CREATE TRIGGER entry_days_after_update"
    " AFTER UPDATE OF user_id, secret_tag_id, entry_date, timezone, word_count, mood_rating"
    f" ON journals BEGIN {_SQLITE_REMOVE} {_SQLITE_ADD} END",
    f"CREATE TRIGGER entry_days_after_delete AFTER DELETE ON journals BEGIN {_SQLITE_REMOVE} END",
]
# tag_uses: one signed row per link written (+1) or removed (-1), summed per tag and
# applied in tag order (a deterministic lock order between concurrent writers).
_PG_TAG_APPLY = """
    INSERT INTO tag_uses AS t (tag_id, user_id, uses)
    SELECT tag_id, user_id, sum(sign) FROM ({changed}) c
    GROUP BY tag_id, user_id HAVING sum(sign) <> 0 ORDER BY tag_id
    ON CONFLICT (tag_id) DO UPDATE SET uses = t.uses + excluded.uses;
"""
_PG_TAG_PRUNE = """
    DELETE FROM tag_uses t USING (SELECT DISTINCT tag_id FROM old_links) g
    WHERE t.tag_id = g.tag_id AND t.uses <= 0;
"""
# A link whose tag is being deleted (a cascade) counts for nothing: the tag's row goes
# with it; the join also keeps the upsert from naming a tag that no longer exists.
_PG_TAG_SIGNED = (
    "SELECT l.tag_id, l.user_id, {sign} AS sign FROM {rows} l JOIN tags g ON g.id = l.tag_id"
)


def _pg_tag_function(name: str, changed: str, prune: bool) -> str:
    body = _PG_TAG_APPLY.format(changed=changed) + (_PG_TAG_PRUNE if prune else "")
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}\nRETURN NULL;\nEND\n$$"
    )


_PG_TAGS_UP = [
    _pg_tag_function(
        "tag_uses_inserted", _PG_TAG_SIGNED.format(sign=1, rows="new_links"), prune=False
    ),
    _pg_tag_function(
        "tag_uses_updated",
        _PG_TAG_SIGNED.format(sign=1, rows="new_links")
        + " UNION ALL "
        + _PG_TAG_SIGNED.format(sign=-1, rows="old_links"),
        prune=True,
    ),
    _pg_tag_function(
        "tag_uses_deleted", _PG_TAG_SIGNED.format(sign=-1, rows="old_links"), prune=True
    ),
    "CREATE TRIGGER tag_uses_after_insert AFTER INSERT ON journal_tags"
    " REFERENCING NEW TABLE AS new_links"
    " FOR EACH STATEMENT EXECUTE FUNCTION tag_uses_inserted()",
    "CREATE TRIGGER tag_uses_after_update AFTER UPDATE ON journal_tags"
    " REFERENCING OLD TABLE AS old_links NEW TABLE AS new_links"
    " FOR EACH STATEMENT EXECUTE FUNCTION tag_uses_updated()",
    "CREATE TRIGGER tag_uses_after_delete AFTER DELETE ON journal_tags"
    " REFERENCING OLD TABLE AS old_links"
    " FOR EACH STATEMENT EXECUTE FUNCTION tag_uses_deleted()",
]
_PG_TAGS_DOWN = [
    "DROP TRIGGER IF EXISTS tag_uses_after_delete ON journal_tags",
    "DROP TRIGGER IF EXISTS tag_uses_after_update ON journal_tags",
    "DROP TRIGGER IF EXISTS tag_uses_after_insert ON journal_tags",
    "DROP FUNCTION IF EXISTS tag_uses_deleted()",
    "DROP FUNCTION IF EXISTS tag_uses_updated()",
    "DROP FUNCTION IF EXISTS tag_uses_inserted()",
]
_SQLITE_TAG_ADD = """
    INSERT INTO tag_uses (tag_id, user_id, uses)
    SELECT NEW.tag_id, NEW.user_id, 1 WHERE EXISTS (SELECT 1 FROM tags WHERE id = NEW.tag_id)
    ON CONFLICT (tag_id) DO UPDATE SET uses = uses + 1;
"""
_SQLITE_TAG_REMOVE = """
    UPDATE tag_uses SET uses = uses - 1 WHERE tag_id = OLD.tag_id;
    DELETE FROM tag_uses WHERE tag_id = OLD.tag_id AND uses <= 0;
"""
_SQLITE_TAGS_UP = [
    "CREATE TRIGGER tag_uses_after_insert AFTER INSERT ON journal_tags"
    f" BEGIN {_SQLITE_TAG_ADD} END",
    "CREATE TRIGGER tag_uses_after_update AFTER UPDATE OF tag_id ON journal_tags"
    f" BEGIN {_SQLITE_TAG_REMOVE} {_SQLITE_TAG_ADD} END",
    "CREATE TRIGGER tag_uses_after_delete AFTER DELETE ON journal_tags"
    f" BEGIN {_SQLITE_TAG_REMOVE} END",
]
_SQLITE_TAGS_DOWN = [
    "DROP TRIGGER IF EXISTS tag_uses_after_delete",
    "DROP TRIGGER IF EXISTS tag_uses_after_update",
    "DROP TRIGGER IF EXISTS tag_uses_after_insert",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS entry_days_after_delete",
    "DROP TRIGGER IF EXISTS entry_days_after_update",
    "DROP TRIGGER IF EXISTS entry_days_after_insert",
]


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("journals", sa.Column("timezone", sa.String(length=64), nullable=True))
    if dialect == "postgresql":
        public = _PG_PUBLIC
        day = "CAST(timezone(u.timezone, j.entry_date) AS DATE)"
    else:
        # `vibes_local_date`: registered on the migrations' connections (`vibes.migrations`).
        public = _SQLITE_PUBLIC
        day = "vibes_local_date(j.entry_date, u.timezone)"
    op.create_table(
        "entry_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("vault_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("words", sa.BigInteger(), nullable=False),
        sa.Column("mood_sum", sa.Integer(), nullable=False),
        sa.Column("mood_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_entry_days_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "vault_id", "local_date", name=op.f("pk_entry_days")),
    )
    op.execute(
        "INSERT INTO entry_days"
        " (user_id, vault_id, local_date, entries, words, mood_sum, mood_count)"
        f" SELECT j.user_id, coalesce(j.secret_tag_id, {public}), {day}, count(*),"
        " sum(j.word_count), coalesce(sum(j.mood_rating), 0), count(j.mood_rating)"
        " FROM journals j JOIN users u ON u.id = j.user_id"
        f" GROUP BY j.user_id, coalesce(j.secret_tag_id, {public}), {day}"
    )
    for statement in _PG_UP if dialect == "postgresql" else _SQLITE_UP:
        op.execute(statement)
    op.drop_index("ix_journals_user_id_entry_date_figures", table_name="journals")
    op.create_table(
        "tag_uses",
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_tag_uses_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tag_uses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tag_id", name=op.f("pk_tag_uses")),
    )
    op.execute(
        "INSERT INTO tag_uses (tag_id, user_id, uses) SELECT tag_id, user_id, count(*)"
        " FROM journal_tags GROUP BY tag_id, user_id"
    )
    for statement in _PG_TAGS_UP if dialect == "postgresql" else _SQLITE_TAGS_UP:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _PG_TAGS_DOWN if dialect == "postgresql" else _SQLITE_TAGS_DOWN:
        op.execute(statement)
    op.drop_table("tag_uses")
    op.create_index(
        "ix_journals_user_id_entry_date_figures",
        "journals",
        ["user_id", "entry_date", "word_count", "mood_rating", "secret_tag_id", "id"],
        unique=False,
    )
    for statement in _PG_DOWN if dialect == "postgresql" else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("entry_days")
    # Plain ALTER TABLE on SQLite too: a batch rebuild of `journals` would drop its
    # full-text triggers.
    op.execute("ALTER TABLE journals DROP COLUMN timezone")
