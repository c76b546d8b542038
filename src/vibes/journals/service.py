"""The rules for journal entries: who sees what, writing, reading, listing, batches.

Reads are built for speed: `read_one` and `read_page` answer in ONE statement that also
checks the access token's session is alive (folded in as a one-row subquery) and gathers
each entry's tag names, so a GET costs one database round trip whatever the page size.
They return JSON-ready dicts (see `render`) instead of ORM objects.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import os
import re
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    Table,
    Uuid,
    bindparam,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import BindParameter

from vibes.accounts.models import AuthSession
from vibes.accounts.tokens import AccessClaims
from vibes.db import Database, UTCDateTime, new_id, utcnow
from vibes.errors import NotFound, PayloadTooLarge, Unauthorized, Unprocessable
from vibes.events.models import OutboxEvent
from vibes.events.outbox import record_event
from vibes.journals import fts
from vibes.journals.models import Journal
from vibes.journals.schemas import MAX_CONTENT_BYTES, JournalCreate
from vibes.platform import statements
from vibes.platform.concurrency import check_if_match
from vibes.platform.pagination import KeyColumn, Keyset, PageParams
from vibes.sync.models import Change
from vibes.sync.service import record_change
from vibes.tags import service as tag_service
from vibes.tags.models import JournalTag, Tag
from vibes.tags.schemas import tag_key
from vibes.vault.entries import (
    SecretContent,
    UnlockedTag,
    forget_public_plaintext,
    match_score,
    open_entry,
    parse_query,
    seal_entry,
)

ENTRIES = Keyset(
    "journals",
    KeyColumn(Journal.entry_date, dt.datetime),
    KeyColumn(Journal.id, uuid.UUID),
)
# Separates tag names inside one aggregated column; tag names cannot contain control
# characters (see tags.schemas.clean_tag_name).
_TAG_SEPARATOR = "\x1f"
# Apostrophes (straight and typographic) and hyphens join word parts: "don't" is one word.
# A word is `\w+(?:['\u2019\-]\w+)*`. Its first character is a word character that
# neither follows one nor follows a joiner that follows one: counting those counts the
# words without building each word as a string (a fifth faster than findall of whole
# words; a batch counts ~100,000 of them).
_WORD_START = re.compile(r"(?<!\w)(?<!\w['\u2019\-])\w", re.UNICODE)


# --------------------------------------------------------------------------------------
# Visibility: THE rule for which entries a request may see.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: the user, and the secret tags their request has unlocked.

    Built per request by `journals.dependencies.get_viewer` from the request's
    `X-Vibes-Unlock` tokens; `secret_tags` holds each unlocked tag's data key and name,
    which is all it takes to read and write that tag's entries (in memory only).
    """

    user_id: uuid.UUID
    unlocked_secret_tag_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    secret_tags: Mapping[uuid.UUID, UnlockedTag] = field(
        default_factory=dict, compare=False, hash=False
    )


def visible_journals(viewer: Viewer) -> ColumnElement[bool]:
    """The condition EVERY journal query uses (get, list, search, tag counts, writes).

    An entry is visible when it belongs to the viewer's user and is either public
    (`secret_tag_id IS NULL`) or in one of the secret tags the request has unlocked.
    Locked secret entries are therefore absent from every answer and a GET of one is a
    404, exactly like a missing entry. Extending visibility means changing only this
    function (and how `Viewer` is built).
    """
    # Named parameters (values from `viewer_params`), so hot-path statements containing
    # this condition can be built once and cached; elsewhere the values bound here apply.
    owned = Journal.user_id == bindparam("viewer_user_id", viewer.user_id, type_=Uuid())
    if viewer.unlocked_secret_tag_ids:
        unlocked: BindParameter[Any] = bindparam(
            "viewer_unlocked_ids", sorted(viewer.unlocked_secret_tag_ids), expanding=True
        )
        return owned & (Journal.secret_tag_id.is_(None) | Journal.secret_tag_id.in_(unlocked))
    return owned & Journal.secret_tag_id.is_(None)


def viewer_params(viewer: Viewer) -> dict[str, Any]:
    """Execution parameters for a cached statement built with `visible_journals`."""
    params: dict[str, Any] = {"viewer_user_id": viewer.user_id}
    if viewer.unlocked_secret_tag_ids:
        params["viewer_unlocked_ids"] = sorted(viewer.unlocked_secret_tag_ids)
    return params


def check_secret_tag(
    viewer: Viewer, secret_tag_id: uuid.UUID | None, loc: Sequence[str | int]
) -> UnlockedTag | None:
    """The unlocked tag to write into (None for a public entry); 422 for a `secret_tag_id`
    the request has not unlocked, the same answer for a locked, unknown or foreign one.
    Storing an entry in a secret tag needs its data key, which only an unlock gives."""
    if secret_tag_id is None:
        return None
    unlocked = viewer.secret_tags.get(secret_tag_id)
    if unlocked is not None:
        return unlocked
    raise Unprocessable(
        "Unknown or locked secret tag.",
        errors=[
            {
                "loc": ["body", *loc, "secret_tag_id"],
                "msg": "unknown or locked secret tag",
                "type": "value_error",
            }
        ],
    )


# --------------------------------------------------------------------------------------
# Small rules
# --------------------------------------------------------------------------------------
def count_words(content: str) -> int:
    """Words in Markdown: runs of letters/digits (joined by ' or -), markup ignored."""
    return len(_WORD_START.findall(content))


def check_content_size(content: str) -> None:
    if len(content) > MAX_CONTENT_BYTES // 4 and len(content.encode()) > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(f"An entry's content is limited to {MAX_CONTENT_BYTES} bytes.")


def utc(value: dt.datetime) -> dt.datetime:
    """In UTC, which `platform.responses` writes as RFC 3339 with `Z`. Both drivers hand
    back UTC datetimes already; an `entry_date` just given may carry another offset."""
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def render(
    *,
    id: uuid.UUID,
    title: str,
    content: str,
    entry_date: dt.datetime,
    tags: list[str],
    mood_rating: int | None,
    word_count: int,
    version: int,
    created_at: dt.datetime,
    updated_at: dt.datetime,
    secret_tag: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An entry as the API shows it (the JournalRead shape), for `json_response`
    (its instants are UTC datetimes: orjson formats them as RFC 3339 far faster than
    `isoformat`, which was the list route's largest cost)."""
    return {
        "id": id,  # orjson writes a UUID in its canonical form, faster than str()
        "title": title,
        "content": content,
        "entry_date": utc(entry_date),
        "tags": tags,
        "mood_rating": mood_rating,
        "word_count": word_count,
        "secret_tag": secret_tag,
        "version": version,
        "created_at": utc(created_at),
        "updated_at": utc(updated_at),
    }


def render_journal(
    journal: Journal,
    tags: list[str],
    secret: tuple[UnlockedTag, SecretContent] | None = None,
) -> dict[str, Any]:
    """An ORM entry rendered; a secret one shows its decrypted fields (`secret`)."""
    title, content = journal.title, journal.content
    secret_tag = None
    if secret is not None:
        unlocked, opened = secret
        title, content, tags = opened.title, opened.content, list(opened.tags)
        secret_tag = unlocked.ref
    return _render_entry(journal, title, content, tags, secret_tag)


def _render_entry(
    entry: Any, title: str, content: str, tags: list[str], secret_tag: dict[str, Any] | None
) -> dict[str, Any]:
    """`render` of an ORM entry or a read row (same attribute names), with its shown
    title, content and tags (decrypted ones for a secret entry)."""
    return render(
        id=entry.id,
        title=title,
        content=content,
        entry_date=entry.entry_date,
        tags=tags,
        mood_rating=entry.mood_rating,
        word_count=entry.word_count,
        version=entry.version,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        secret_tag=secret_tag,
    )


# --------------------------------------------------------------------------------------
# Secret entries: title, content and tag names exist only inside the ciphertext
# --------------------------------------------------------------------------------------
def _unlocked_for(viewer: Viewer, secret_tag_id: uuid.UUID) -> UnlockedTag:
    unlocked = viewer.secret_tags.get(secret_tag_id)
    if unlocked is None:  # visibility admits only unlocked tags; never reached otherwise
        raise NotFound()
    return unlocked


def reveal(viewer: Viewer, row: Any) -> tuple[UnlockedTag, SecretContent]:
    """Decrypt a visible secret entry (a row or ORM object with id, version,
    secret_tag_id, nonce, ciphertext); VaultIntegrityError if it is not this row's."""
    unlocked = _unlocked_for(viewer, row.secret_tag_id)
    opened = open_entry(
        unlocked.data_key,
        user_id=viewer.user_id,
        journal_id=row.id,
        version=row.version,
        nonce=row.nonce,
        ciphertext=row.ciphertext,
    )
    return unlocked, opened


def _seal_into(
    journal: Journal,
    unlocked: UnlockedTag,
    *,
    version: int,
    title: str,
    content: str,
    tags: Sequence[str],
) -> list[str]:
    """Make `journal` a secret entry of `unlocked` holding these fields, sealed for the
    version the row will have once written. Returns the tag names as stored."""
    names = sorted(tag_service.unique_names(tags), key=tag_key)
    journal.nonce, journal.ciphertext = seal_entry(
        unlocked.data_key,
        user_id=journal.user_id,
        journal_id=journal.id,
        version=version,
        title=title,
        content=content,
        tags=names,
    )
    journal.secret_tag_id = unlocked.id
    journal.title = ""
    journal.content = ""
    return names


# --------------------------------------------------------------------------------------
# Reads: one statement, session check folded in
# --------------------------------------------------------------------------------------
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
    """A correlated subquery: the entry's tag names joined by _TAG_SEPARATOR, unsorted
    (`_split_tags` sorts them: an ordered array_agg measured slower in PostgreSQL than
    the sort costs in Python)."""
    aggregate: ColumnElement[Any]
    if dialect == "postgresql":
        aggregate = func.string_agg(Tag.name, literal(_TAG_SEPARATOR))
    else:
        aggregate = func.group_concat(Tag.name, literal(_TAG_SEPARATOR))
    return (
        select(aggregate)
        .select_from(JournalTag)
        .join(Tag, Tag.id == JournalTag.tag_id)
        .where(JournalTag.journal_id == journal_id)
        .scalar_subquery()
        .label("tag_names")
    )


def _split_tags(joined: str | None) -> list[str]:
    if not joined:
        return []
    names = joined.split(_TAG_SEPARATOR)
    if len(names) == 1:
        return names
    if len(names) == 2:  # the common case, without sorted()'s machinery
        first, second = names
        return names if tag_key(first) <= tag_key(second) else [second, first]
    return sorted(names, key=tag_key)


def live_session_clause() -> ColumnElement[bool]:
    """`accounts.sessions.session_alive_clause` with named parameters (`claims_session_id`,
    `claims_user_id`, `now`), so the statements using it can be cached."""
    return (
        (AuthSession.id == bindparam("claims_session_id", type_=Uuid()))
        & (AuthSession.user_id == bindparam("claims_user_id", type_=Uuid()))
        & AuthSession.revoked_at.is_(None)
        & (AuthSession.expires_at > bindparam("now", type_=UTCDateTime()))
    )


def live_session_row() -> Subquery:
    """The token's live session as a one-row subquery `alive(live_session_id)` (no row:
    dead): LEFT JOIN a read to it and one round trip checks both."""
    return (
        select(AuthSession.id.label("live_session_id"))
        .where(live_session_clause())
        .subquery("alive")
    )


def claims_params(claims: AccessClaims) -> dict[str, Any]:
    return {
        "claims_session_id": claims.session_id,
        "claims_user_id": claims.user_id,
        "now": utcnow(),
    }


def _with_live_session(entries: Subquery, dialect: str) -> Select[Any]:
    """`entries` LEFT JOINed to the token's live session row: no row at all means the
    session is dead (401); a row with NULL entry columns means no entry matched."""
    alive = live_session_row()
    return (
        select(alive.c.live_session_id, entries, _tag_names_of(dialect, entries.c.id))
        .select_from(alive)
        .outerjoin(entries, true())
    )


def _view(row: Any, viewer: Viewer, opened: SecretContent | None = None) -> dict[str, Any]:
    title, content, secret_tag = row.title, row.content, None
    if row.secret_tag_id is not None:
        if opened is None:
            _, opened = reveal(viewer, row)
        title, content, tags = opened.title, opened.content, list(opened.tags)
        secret_tag = _unlocked_for(viewer, row.secret_tag_id).ref
    else:
        tags = _split_tags(row.tag_names)
    return _render_entry(row, title, content, tags, secret_tag)


def _session_dead() -> Unauthorized:
    return Unauthorized("The access token is invalid or has expired.")


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
    placeholder = Viewer(
        user_id=uuid.UUID(int=0),
        unlocked_secret_tag_ids=frozenset({uuid.UUID(int=0)}) if shape.unlocked else frozenset(),
    )
    conditions = [visible_journals(placeholder)]
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
) -> dict[str, Any]:
    """One visible entry, rendered; 401 if the session is dead, 404 if not visible.

    Runs without an ORM session or transaction (see `_fetch`): this is the hottest read,
    and the session's bookkeeping would cost more than the query itself.
    """
    shape = _Shape(
        dialect=database.read_engine.dialect.name,
        unlocked=bool(viewer.unlocked_secret_tag_ids),
        one=True,
    )
    params = {**viewer_params(viewer), **claims_params(claims), "journal_id": journal_id}
    rows = await _fetch(database, shape, params)
    row = rows[0] if rows else None
    if row is None:
        raise _session_dead()
    if row.id is None:
        raise NotFound()
    return _view(row, viewer)


async def read_page(
    database: Database,
    claims: AccessClaims,
    viewer: Viewer,
    filters: JournalFilters,
    page: PageParams,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of visible entries, newest `entry_date` first, in one statement (without a
    session or transaction, like `read_one`)."""
    dialect = database.read_engine.dialect.name
    tag_keys = sorted({tag_key(name) for name in filters.tags})
    params: dict[str, Any] = {
        **viewer_params(viewer),
        **claims_params(claims),
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
    return [_view(row, viewer, opened) for row, opened in items], cursor


async def _secret_matches(
    conn: AsyncConnection, viewer: Viewer, filters: JournalFilters, page: PageParams
) -> list[tuple[Any, SecretContent]]:
    """Up to limit + 1 unlocked secret entries after the cursor that match the tag and
    full-text filters, decrypted (the other filters are applied by the database)."""
    conditions = [
        visible_journals(viewer),
        Journal.secret_tag_id.in_(sorted(viewer.secret_tags)),
    ]
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
    query = parse_query(filters.q) if filters.q else None
    matches: list[tuple[Any, SecretContent]] = []
    for row in (await conn.execute(stmt)).all():
        _, opened = reveal(viewer, row)
        if not wanted_tags <= {tag_key(name) for name in opened.tags}:
            continue
        if query is not None and not match_score(opened, query):
            continue
        matches.append((row, opened))
        if len(matches) > page.limit:
            break
    return matches


# --------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------
async def get_owned_journal(
    session: AsyncSession, viewer: Viewer, journal_id: uuid.UUID
) -> Journal:
    """The entry, if the viewer may see it; otherwise 404 (same answer as a missing one)."""
    journal = await session.scalar(
        select(Journal).where(Journal.id == journal_id, visible_journals(viewer))
    )
    if journal is None:
        raise NotFound()
    return journal


def _event_data(journal_id: uuid.UUID, version: int) -> dict[str, Any]:
    # Thin on purpose: ids and metadata, never an entry's text.
    return {"id": str(journal_id), "version": version}


async def create_journal(
    session: AsyncSession, viewer: Viewer, data: JournalCreate
) -> dict[str, Any]:
    """Create one entry (tags by name, created on first use); returns it rendered.

    A secret entry (`secret_tag_id`, unlocked) is sealed whole — title, content, tag
    names — and makes no tag rows or links, no index text and no event (a locked observer
    of the event stream must learn nothing); its change-log row names its secret tag.
    """
    unlocked = check_secret_tag(viewer, data.secret_tag_id, ())
    check_content_size(data.content)
    now = utcnow()
    journal = Journal(
        id=new_id(),
        user_id=viewer.user_id,
        title=data.title,
        content=data.content,
        entry_date=data.entry_date or now,
        mood_rating=data.mood_rating,
        word_count=count_words(data.content),
        version=1,
        created_at=now,
        updated_at=now,
    )
    if unlocked is not None:
        tags = _seal_into(
            journal, unlocked, version=1, title=data.title, content=data.content, tags=data.tags
        )
        session.add(journal)
        await session.flush()
        record_change(
            session,
            user_id=viewer.user_id,
            kind="journal",
            entity_id=journal.id,
            op="upsert",
            version=journal.version,
            secret_tag_id=unlocked.id,
        )
        opened = SecretContent(title=data.title, content=data.content, tags=tuple(tags))
        return render_journal(journal, tags, (unlocked, opened))
    session.add(journal)
    await session.flush()
    tags = (await tag_service.link_tags(session, viewer.user_id, [(journal.id, data.tags)]))[
        journal.id
    ]
    record_change(
        session,
        user_id=viewer.user_id,
        kind="journal",
        entity_id=journal.id,
        op="upsert",
        version=journal.version,
    )
    record_event(
        session,
        user_id=viewer.user_id,
        type="journal.created",
        data=_event_data(journal.id, journal.version),
    )
    return render_journal(journal, tags)


def new_ids(count: int) -> list[uuid.UUID]:
    """`count` UUIDv7s at once (one clock read, one `urandom`), in ascending order:
    the millisecond timestamp, then a 12-bit sequence number, then 62 random bits."""
    ms = time.time_ns() // 1_000_000
    tails = struct.unpack(f">{count}Q", os.urandom(8 * count))
    mask = (1 << 62) - 1
    fixed = (0x7 << 76) | (0b10 << 62)  # version 7, RFC 9562 variant
    make = uuid.UUID
    return [
        # A 4097th id moves on to the next millisecond.
        make(int=((ms + (i >> 12)) << 80) | ((i & 0xFFF) << 64) | fixed | (tail & mask))
        for i, tail in enumerate(tails)
    ]


async def bulk_insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction.

    PostgreSQL: binary COPY on the session's own asyncpg connection (same transaction,
    no per-parameter processing in Python); elsewhere a multi-row Core INSERT.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), rows)
        return
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # COPY must not run outside the unit of work: let SQLAlchemy open it first.
        await session.execute(select(literal(1)))
    columns = list(rows[0])
    for name in [c.name for c in table.columns if isinstance(c.type, JSON) and c.name in columns]:
        rows = [{**row, name: json.dumps(row[name])} for row in rows]
    record_of = operator.itemgetter(*columns)
    records = (
        [record_of(row) for row in rows]
        if len(columns) > 1
        else [(row[columns[0]],) for row in rows]
    )
    await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def create_batch(
    session: AsyncSession, viewer: Viewer, items: Sequence[JournalCreate]
) -> list[uuid.UUID]:
    """Create many entries in the caller's transaction: all of them or (on any error)
    none. Bulk writes per table instead of one ORM object per row; the change-log and
    outbox rows are the same ones `record_change`/`record_event` write. Secret items
    (unlocked tags only) are sealed as in `create_journal`: no links, no events."""
    vaults = [
        check_secret_tag(viewer, item.secret_tag_id, ("items", index))
        for index, item in enumerate(items)
    ]
    for item in items:
        check_content_size(item.content)
    now = utcnow()
    user_id = viewer.user_id
    ids = new_ids(len(items))
    rows = []
    for journal_id, item, unlocked in zip(ids, items, vaults, strict=True):
        row: dict[str, Any] = {
            "id": journal_id,
            "user_id": user_id,
            "title": item.title,
            "content": item.content,
            "entry_date": item.entry_date or now,
            "mood_rating": item.mood_rating,
            "word_count": count_words(item.content),
            "secret_tag_id": None,
            "ciphertext": None,
            "nonce": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        if unlocked is not None:
            names = sorted(tag_service.unique_names(item.tags), key=tag_key)
            row["nonce"], row["ciphertext"] = seal_entry(
                unlocked.data_key,
                user_id=user_id,
                journal_id=journal_id,
                version=1,
                title=item.title,
                content=item.content,
                tags=names,
            )
            row.update(secret_tag_id=unlocked.id, title="", content="")
        rows.append(row)
    await bulk_insert(session, cast(Table, Journal.__table__), rows)
    public = [
        journal_id for journal_id, unlocked in zip(ids, vaults, strict=True) if unlocked is None
    ]
    await tag_service.link_tags(
        session,
        user_id,
        [
            (journal_id, item.tags)
            for journal_id, item, unlocked in zip(ids, items, vaults, strict=True)
            if unlocked is None
        ],
    )
    change_ids = new_ids(len(ids))
    await bulk_insert(
        session,
        cast(Table, Change.__table__),
        [
            {
                "id": change_id,
                "user_id": user_id,
                "kind": "journal",
                "entity_id": journal_id,
                "op": "upsert",
                "version": 1,
                "secret_tag_id": unlocked.id if unlocked is not None else None,
                "created_at": now,
                "updated_at": now,
            }
            for change_id, journal_id, unlocked in zip(change_ids, ids, vaults, strict=True)
        ],
    )
    event_ids = new_ids(len(public))
    await bulk_insert(
        session,
        cast(Table, OutboxEvent.__table__),
        [
            {
                "id": event_id,
                "user_id": user_id,
                "type": "journal.created",
                "data": _event_data(journal_id, 1),
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for event_id, journal_id in zip(event_ids, public, strict=True)
        ],
    )
    return ids


def _unchanged(
    journal: Journal, name: str, value: Any, title: str, content: str, tags: list[str]
) -> bool:
    """Whether a PATCH field would leave the entry as it is (tags: the same set of keys,
    since an existing tag keeps its stored spelling)."""
    if name == "title":
        return bool(value == title)
    if name == "content":
        return bool(value == content)
    if name == "tags":
        return {tag_key(n) for n in value} == {tag_key(n) for n in tags}
    if name in ("entry_date", "mood_rating", "secret_tag_id"):
        return bool(getattr(journal, name) == value)
    return False


async def update_journal(
    session: AsyncSession,
    viewer: Viewer,
    journal: Journal,
    changes: dict[str, Any],
    *,
    if_match: str | None = None,
) -> dict[str, Any]:
    """Apply a PATCH (`changes` holds only the fields sent). `tags` replaces the set.

    Concurrency: the UPDATE carries `WHERE version = <loaded>`; a writer that lost the
    race gets StaleDataError → 412, and `If-Match` against a newer version → 412 too.

    Secret entries: every change re-seals the whole entry for its next version (the
    ciphertext is bound to it), under the target tag's key. `secret_tag_id` moves an entry
    between unlocked secret tags, into the vault (its tag links are dropped) or out of it
    (null: its fields and tag links become ordinary ones). Events follow what a locked
    observer may see: nothing while the entry stays secret, `journal.deleted` when it
    enters the vault, `journal.created` when it leaves.
    """
    check_if_match(if_match, journal.version)
    was_secret = journal.secret_tag_id is not None
    current: SecretContent | None = None
    target: UnlockedTag | None = None
    if journal.secret_tag_id is not None:
        target, current = reveal(viewer, journal)
    if "secret_tag_id" in changes:
        target = check_secret_tag(viewer, changes["secret_tag_id"], ())
    if current is not None:
        title, content, tags = current.title, current.content, list(current.tags)
    else:
        title, content = journal.title, journal.content
        tags = await tag_service.names_of(session, journal.id)
    # A PATCH that changes nothing keeps the version and updated_at (no 304 miss, no sync).
    changes = {
        k: v for k, v in changes.items() if not _unchanged(journal, k, v, title, content, tags)
    }
    if not changes:
        secret = (target, current) if current is not None and target is not None else None
        return render_journal(journal, tags, secret)
    if "title" in changes:
        title = changes["title"]
    if "content" in changes:
        check_content_size(changes["content"])
        content = changes["content"]
        journal.word_count = count_words(content)
    if "tags" in changes:
        tags = list(changes["tags"])
    if "entry_date" in changes:
        journal.entry_date = changes["entry_date"]
    if "mood_rating" in changes:
        journal.mood_rating = changes["mood_rating"]
    # Always touch the row, so a tags-only change still bumps the version (and races).
    journal.updated_at = utcnow()
    if target is not None:
        if not was_secret:
            await tag_service.replace_tags(session, viewer.user_id, journal.id, [])
        tags = _seal_into(
            journal, target, version=journal.version + 1, title=title, content=content, tags=tags
        )
        await session.flush()
        record_change(
            session,
            user_id=viewer.user_id,
            kind="journal",
            entity_id=journal.id,
            op="upsert",
            version=journal.version,
            secret_tag_id=target.id,
        )
        if not was_secret:
            await forget_public_plaintext(session)
            record_event(
                session,
                user_id=viewer.user_id,
                type="journal.deleted",
                data=_event_data(journal.id, journal.version),
            )
        opened = SecretContent(title=title, content=content, tags=tuple(tags))
        return render_journal(journal, tags, (target, opened))
    journal.title, journal.content = title, content
    journal.secret_tag_id = journal.nonce = journal.ciphertext = None
    await session.flush()
    if was_secret or "tags" in changes:
        tags = await tag_service.replace_tags(session, viewer.user_id, journal.id, tags)
    record_change(
        session,
        user_id=viewer.user_id,
        kind="journal",
        entity_id=journal.id,
        op="upsert",
        version=journal.version,
    )
    record_event(
        session,
        user_id=viewer.user_id,
        type="journal.created" if was_secret else "journal.updated",
        data=_event_data(journal.id, journal.version),
    )
    return render_journal(journal, tags)


async def delete_journal(
    session: AsyncSession, viewer: Viewer, journal: Journal, *, if_match: str | None = None
) -> None:
    check_if_match(if_match, journal.version)
    version = journal.version
    secret_tag_id = journal.secret_tag_id
    # The DELETE carries `WHERE version = <loaded>` too: a concurrent change wins → 412.
    await session.delete(journal)
    await session.flush()
    record_change(
        session,
        user_id=viewer.user_id,
        kind="journal",
        entity_id=journal.id,
        op="delete",
        version=version + 1,
        secret_tag_id=secret_tag_id,
    )
    if secret_tag_id is None:  # a secret entry's deletion is no one else's business
        record_event(
            session,
            user_id=viewer.user_id,
            type="journal.deleted",
            data={"id": str(journal.id), "version": version + 1},
        )
