"""Reading entries, built for speed.

`read_one` and `read_page` answer in ONE statement that also checks the access token's
session is alive (folded in as a one-row subquery) and gathers each entry's tag names, so
a GET costs one database round trip whatever the page size. Statements are built once
per shape and cached; they return JSON-ready dicts (`rendering`), not ORM objects."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    Uuid,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from vibes.accounts.sessions import SESSION_DEAD, live_session_row, session_alive
from vibes.accounts.tokens import AccessClaims
from vibes.accounts.users import language_of
from vibes.db import Database, UTCDateTime
from vibes.errors import NotFound, Unauthorized
from vibes.journals import fts
from vibes.journals.models import Journal, JournalTag, Tag
from vibes.journals.rendering import TAG_SEPARATOR, EntryView, reveal, view_row
from vibes.journals.tagnames import tag_key
from vibes.journals.visibility import (
    Viewer,
    visibility_template,
    visible_journals,
)
from vibes.platform import statements
from vibes.platform.pagination import KeyColumn, Keyset, PageParams
from vibes.vault.entries import (
    SecretContent,
    match_score,
    parse_query,
)

ENTRIES = Keyset(
    "journals",
    KeyColumn(Journal.entry_date, dt.datetime),
    KeyColumn(Journal.id, uuid.UUID),
)
_READ_COLUMNS = (
    Journal.id,
    Journal.title,
    Journal.content,
    Journal.entry_date,
    Journal.mood_rating,
    Journal.word_count,
    Journal.secret_tag_id,
    # NULL for public entries; what the vault decrypts for an unlocked secret entry.
    Journal.ciphertext,
    Journal.nonce,
    Journal.version,
    Journal.created_at,
    Journal.updated_at,
)


def _tag_names_of(dialect: str, journal_id: ColumnElement[Any]) -> Any:
    """A correlated subquery: the entry's tag names joined by TAG_SEPARATOR, unsorted
    (`split_tags` sorts them: an ordered array_agg measured slower in PostgreSQL than
    the sort costs in Python)."""
    aggregate: ColumnElement[Any]
    if dialect == "postgresql":
        aggregate = func.string_agg(Tag.name, literal(TAG_SEPARATOR))
    else:
        aggregate = func.group_concat(Tag.name, literal(TAG_SEPARATOR))
    return (
        select(aggregate)
        .select_from(JournalTag)
        .join(Tag, Tag.id == JournalTag.tag_id)
        .where(JournalTag.journal_id == journal_id)
        .scalar_subquery()
        .label("tag_names")
    )


def _with_live_session(entries: Subquery, dialect: str) -> Select[Any]:
    """`entries` LEFT JOINed to the token's live session row: no row at all means the
    session is dead (401); a row with NULL entry columns means no entry matched."""
    alive = live_session_row()
    return (
        select(alive.c.live_session_id, entries, _tag_names_of(dialect, entries.c.id))
        .select_from(alive)
        .outerjoin(entries, true())
    )


def _session_dead() -> Unauthorized:
    return Unauthorized(SESSION_DEAD)


@dataclass(frozen=True, slots=True)
class JournalFilters:
    tags: Sequence[str] = ()
    q: str | None = None
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    # True when date_to is the exclusive end (a bare date meant "through that day").
    date_to_exclusive: bool = False
    mood_min: int | None = None
    mood_max: int | None = None


@dataclass(frozen=True, slots=True)
class _Shape:
    """Everything that changes the SQL of a read (but not its parameter values)."""

    dialect: str
    unlocked: bool
    one: bool = False
    tags: int = 0
    q: bool = False
    date_from: bool = False
    date_to: str = ""  # "", "<=" or "<"
    mood_min: bool = False
    mood_max: bool = False
    cursor: bool = False
    # The page size (limit + 1) as a literal: with `LIMIT $n` PostgreSQL's generic plan
    # assumes a tenth of the user's rows, so it keeps re-planning the prepared statement
    # on every execution (custom plans), which cost more than running it.
    limit: int = 0


# Statements are built once per shape: building SQLAlchemy statements (subqueries above
# all) costs more CPU than the database needs to answer a primary-key lookup.
@functools.lru_cache(maxsize=512)
def _read_statement(shape: _Shape) -> Select[Any]:
    conditions = [visibility_template(unlocked=shape.unlocked)]
    if shape.one:
        conditions.append(Journal.id == bindparam("journal_id", type_=Uuid()))
        entries = select(*_READ_COLUMNS).where(*conditions).subquery("entry")
        return _with_live_session(entries, shape.dialect)
    for i in range(shape.tags):
        conditions.append(
            exists(
                select(JournalTag.tag_id)
                .join(Tag, Tag.id == JournalTag.tag_id)
                .where(
                    JournalTag.journal_id == Journal.id,
                    Tag.user_id == Journal.user_id,
                    Tag.name_key == bindparam(f"tag_{i}", type_=String()),
                )
            )
        )
    if shape.q:
        conditions.append(fts.match_condition(shape.dialect))
    if shape.date_from:
        conditions.append(Journal.entry_date >= bindparam("date_from", type_=UTCDateTime()))
    if shape.date_to == "<":
        conditions.append(Journal.entry_date < bindparam("date_to", type_=UTCDateTime()))
    elif shape.date_to == "<=":
        conditions.append(Journal.entry_date <= bindparam("date_to", type_=UTCDateTime()))
    if shape.mood_min:
        conditions.append(Journal.mood_rating >= bindparam("mood_min", type_=Integer()))
    if shape.mood_max:
        conditions.append(Journal.mood_rating <= bindparam("mood_max", type_=Integer()))
    if shape.cursor:
        conditions.append(ENTRIES.after_template())
    entries = (
        select(*_READ_COLUMNS)
        .where(*conditions)
        .order_by(*ENTRIES.order_by())
        .limit(literal_column(str(int(shape.limit)), Integer()))
        .subquery("page")
    )
    return _with_live_session(entries, shape.dialect).order_by(
        entries.c.entry_date.desc(), entries.c.id.desc()
    )


async def _fetch(database: Database, shape: _Shape, params: dict[str, Any]) -> Sequence[Any]:
    """Run the cached read statement of `shape` (see `platform.statements`); with unlocked
    secret tags its expanding IN list is compiled per call, through SQLAlchemy."""
    return await statements.fetch(
        database, _read_statement(shape), params, driver=not shape.unlocked
    )


async def read_one(
    database: Database, claims: AccessClaims, viewer: Viewer, journal_id: uuid.UUID
) -> EntryView:
    """One visible entry, rendered; 401 if the session is dead, 404 if not visible.

    Runs without an ORM session or transaction (see `_fetch`): this is the hottest read,
    and the session's bookkeeping would cost more than the query itself.
    """
    shape = _Shape(
        dialect=database.read_engine.dialect.name,
        unlocked=bool(viewer.unlocked_secret_tag_ids),
        one=True,
    )
    params = {
        **visible_journals(viewer).params,
        **session_alive(claims).params,
        "journal_id": journal_id,
    }
    rows = await _fetch(database, shape, params)
    row = rows[0] if rows else None
    if row is None:
        raise _session_dead()
    if row.id is None:
        raise NotFound()
    return view_row(row, viewer)


async def read_page(
    database: Database,
    claims: AccessClaims,
    viewer: Viewer,
    filters: JournalFilters,
    page: PageParams,
) -> tuple[list[EntryView], str | None]:
    """A page of visible entries, newest `entry_date` first, in one statement (without a
    session or transaction, like `read_one`)."""
    dialect = database.read_engine.dialect.name
    tag_keys = sorted({tag_key(name) for name in filters.tags})
    params: dict[str, Any] = {
        **visible_journals(viewer).params,
        **session_alive(claims).params,
    }
    params.update({f"tag_{i}": key for i, key in enumerate(tag_keys)})
    if filters.q:
        params["fts_query"] = fts.match_value(dialect, filters.q)
    if page.cursor is not None:
        params.update(ENTRIES.cursor_params(page.cursor))
    for name in ("date_from", "date_to", "mood_min", "mood_max"):
        if getattr(filters, name) is not None:
            params[name] = getattr(filters, name)
    shape = _Shape(
        dialect=dialect,
        unlocked=bool(viewer.unlocked_secret_tag_ids),
        tags=len(tag_keys),
        q=bool(filters.q),
        date_from=filters.date_from is not None,
        date_to="" if filters.date_to is None else ("<" if filters.date_to_exclusive else "<="),
        mood_min=filters.mood_min is not None,
        mood_max=filters.mood_max is not None,
        cursor=page.cursor is not None,
        limit=page.limit + 1,
    )
    rows = await _fetch(database, shape, params)
    if not rows:
        raise _session_dead()
    found: list[tuple[Any, SecretContent | None]] = [
        (row, None) for row in rows if row.id is not None
    ]
    if viewer.secret_tags and (filters.tags or filters.q):
        # The tag links and the index hold nothing of secret entries: match the unlocked
        # tags' entries in memory and merge them into the page, in the same order.
        async with database.read_engine.connect() as conn:
            found += await _secret_matches(conn, viewer, filters, page)
        found.sort(key=lambda item: (item[0].entry_date, item[0].id), reverse=True)
        found = found[: page.limit + 1]
    items, cursor = ENTRIES.split(found, page, lambda item: (item[0].entry_date, item[0].id))
    return [view_row(row, viewer, opened) for row, opened in items], cursor


async def _secret_matches(
    conn: AsyncConnection, viewer: Viewer, filters: JournalFilters, page: PageParams
) -> list[tuple[Any, SecretContent]]:
    """Up to limit + 1 unlocked secret entries after the cursor that match the tag and
    full-text filters, decrypted (the other filters are applied by the database)."""
    visible = visible_journals(viewer)
    conditions = [visible.clause, Journal.secret_tag_id.in_(sorted(viewer.secret_tags))]
    if filters.date_from is not None:
        conditions.append(Journal.entry_date >= filters.date_from)
    if filters.date_to is not None:
        if filters.date_to_exclusive:
            conditions.append(Journal.entry_date < filters.date_to)
        else:
            conditions.append(Journal.entry_date <= filters.date_to)
    if filters.mood_min is not None:
        conditions.append(Journal.mood_rating >= filters.mood_min)
    if filters.mood_max is not None:
        conditions.append(Journal.mood_rating <= filters.mood_max)
    if page.cursor is not None:
        conditions.append(ENTRIES.after(ENTRIES.decode(page.cursor)))
    stmt = select(*_READ_COLUMNS).where(*conditions).order_by(*ENTRIES.order_by())
    wanted_tags = {tag_key(name) for name in filters.tags}
    query = parse_query(filters.q, await language_of(conn, viewer.user_id)) if filters.q else None
    matches: list[tuple[Any, SecretContent]] = []
    for row in (await conn.execute(stmt, visible.params)).all():
        _, opened = reveal(viewer, row)
        if not wanted_tags <= {tag_key(name) for name in opened.tags}:
            continue
        if query is not None and not match_score(opened, query):
            continue
        matches.append((row, opened))
        if len(matches) > page.limit:
            break
    return matches


async def views_by_id(
    conn: AsyncConnection, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, EntryView]:
    """The entries among `ids` the viewer may see, rendered as `GET /journals/{id}`
    renders them (the same columns, tag aggregate and `view_row`), in one statement."""
    if not ids:
        return {}
    visible = visible_journals(viewer)
    stmt = select(*_READ_COLUMNS, _tag_names_of(conn.dialect.name, Journal.id.expression)).where(
        visible.clause, Journal.id.in_(sorted(set(ids)))
    )
    rows = (await conn.execute(stmt, visible.params)).all()
    return {row.id: view_row(row, viewer) for row in rows}


async def read_matching(
    session: AsyncSession, viewer: Viewer, condition: ColumnElement[bool], params: dict[str, Any]
) -> list[EntryView]:
    """Every visible entry that meets `condition` (bound with `params`), newest first,
    rendered as `GET /journals` renders them (for reads other domains answer with entries,
    such as analytics' on-this-day)."""
    visible = visible_journals(viewer)
    dialect = session.get_bind().dialect.name
    stmt = (
        select(*_READ_COLUMNS, _tag_names_of(dialect, Journal.__table__.c.id))
        .where(visible.clause, condition)
        .order_by(*ENTRIES.order_by())
    )
    rows = await session.execute(stmt, {**visible.params, **params})
    return [view_row(row, viewer) for row in rows]
