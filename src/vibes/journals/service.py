"""The rules for journal entries: who sees what, writing, reading, listing, batches.

Reads are built for speed: `read_one` and `read_page` answer in ONE statement that also
checks the access token's session is alive (folded in as a one-row subquery) and gathers
each entry's tag names, so a GET costs one database round trip whatever the page size.
They return JSON-ready dicts (see `render`) instead of ORM objects.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    exists,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import AuthSession
from vibes.accounts.sessions import session_alive_clause
from vibes.accounts.tokens import AccessClaims
from vibes.db import new_id, utcnow
from vibes.errors import NotFound, PayloadTooLarge, Unauthorized, Unprocessable
from vibes.events.models import OutboxEvent
from vibes.events.outbox import record_event
from vibes.journals import fts
from vibes.journals.models import Journal
from vibes.journals.schemas import MAX_CONTENT_BYTES, JournalCreate
from vibes.platform.concurrency import check_if_match
from vibes.platform.pagination import KeyColumn, Keyset, PageParams
from vibes.sync.models import Change
from vibes.sync.service import record_change
from vibes.tags import service as tag_service
from vibes.tags.models import JournalTag, Tag
from vibes.tags.schemas import tag_key

ENTRIES = Keyset(
    "journals",
    KeyColumn(Journal.entry_date, dt.datetime),
    KeyColumn(Journal.id, uuid.UUID),
)
# Separates tag names inside one aggregated column; tag names cannot contain control
# characters (see tags.schemas.clean_tag_name).
_TAG_SEPARATOR = "\x1f"
# Apostrophes (straight and typographic) and hyphens join word parts: "don't" is one word.
_WORD = re.compile(r"\w+(?:['\u2019\-]\w+)*", re.UNICODE)


# --------------------------------------------------------------------------------------
# Visibility: THE rule for which entries a request may see.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: the user, and the secret tags their request has unlocked.

    Built per request by `journals.dependencies.get_viewer`. Today nothing can be unlocked,
    so `unlocked_secret_tag_ids` is always empty; the vault fills it from the request's
    `X-Vibes-Unlock` tokens.
    """

    user_id: uuid.UUID
    unlocked_secret_tag_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)


def visible_journals(viewer: Viewer) -> ColumnElement[bool]:
    """The condition EVERY journal query uses (get, list, search, tag counts, writes).

    An entry is visible when it belongs to the viewer's user and is either public
    (`secret_tag_id IS NULL`) or in one of the secret tags the request has unlocked.
    Locked secret entries are therefore absent from every answer and a GET of one is a
    404, exactly like a missing entry. Extending visibility means changing only this
    function (and how `Viewer` is built).
    """
    owned = Journal.user_id == viewer.user_id
    if viewer.unlocked_secret_tag_ids:
        return owned & (
            Journal.secret_tag_id.is_(None)
            | Journal.secret_tag_id.in_(sorted(viewer.unlocked_secret_tag_ids))
        )
    return owned & Journal.secret_tag_id.is_(None)


def refuse_secret_tag(
    viewer: Viewer, secret_tag_id: uuid.UUID | None, loc: Sequence[str | int]
) -> None:
    """422 for a `secret_tag_id` the request has not unlocked.

    Storing an entry in a secret tag needs its data key, which only the vault has; until
    the vault plugs in here, every secret_tag_id is refused.
    """
    if secret_tag_id is None:
        return
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
    return len(_WORD.findall(content))


def check_content_size(content: str) -> None:
    if len(content) > MAX_CONTENT_BYTES // 4 and len(content.encode()) > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(f"An entry's content is limited to {MAX_CONTENT_BYTES} bytes.")


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


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
    """An entry as the API shows it (the JournalRead shape), ready for JSON."""
    return {
        "id": str(id),
        "title": title,
        "content": content,
        "entry_date": rfc3339(entry_date),
        "tags": tags,
        "mood_rating": mood_rating,
        "word_count": word_count,
        "secret_tag": secret_tag,
        "version": version,
        "created_at": rfc3339(created_at),
        "updated_at": rfc3339(updated_at),
    }


def render_journal(journal: Journal, tags: list[str]) -> dict[str, Any]:
    return render(
        id=journal.id,
        title=journal.title,
        content=journal.content,
        entry_date=journal.entry_date,
        tags=tags,
        mood_rating=journal.mood_rating,
        word_count=journal.word_count,
        version=journal.version,
        created_at=journal.created_at,
        updated_at=journal.updated_at,
    )


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
    Journal.version,
    Journal.created_at,
    Journal.updated_at,
)


def _tag_names_of(dialect: str, journal_id: ColumnElement[Any]) -> Any:
    """A correlated subquery: the entry's tag names joined by _TAG_SEPARATOR."""
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
    return sorted(joined.split(_TAG_SEPARATOR), key=tag_key)


def _with_live_session(claims: AccessClaims, entries: Subquery, dialect: str) -> Select[Any]:
    """`entries` LEFT JOINed to the token's live session row: no row at all means the
    session is dead (401); a row with NULL entry columns means no entry matched."""
    alive = (
        select(AuthSession.id.label("live_session_id"))
        .where(session_alive_clause(claims))
        .subquery("alive")
    )
    return (
        select(alive.c.live_session_id, entries, _tag_names_of(dialect, entries.c.id))
        .select_from(alive)
        .outerjoin(entries, true())
    )


def _view(row: Any) -> dict[str, Any]:
    return render(
        id=row.id,
        title=row.title,
        content=row.content,
        entry_date=row.entry_date,
        tags=_split_tags(row.tag_names),
        mood_rating=row.mood_rating,
        word_count=row.word_count,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _session_dead() -> Unauthorized:
    return Unauthorized("The access token is invalid or has expired.")


async def read_one(
    session: AsyncSession, claims: AccessClaims, viewer: Viewer, journal_id: uuid.UUID
) -> dict[str, Any]:
    """One visible entry, rendered; 401 if the session is dead, 404 if not visible."""
    entries = (
        select(*_READ_COLUMNS)
        .where(Journal.id == journal_id, visible_journals(viewer))
        .subquery("entry")
    )
    stmt = _with_live_session(claims, entries, fts.dialect_of(session))
    row = (await session.execute(stmt)).first()
    if row is None:
        raise _session_dead()
    if row.id is None:
        raise NotFound()
    return _view(row)


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


def filter_conditions(
    viewer: Viewer, filters: JournalFilters, dialect: str
) -> list[ColumnElement[bool]]:
    conditions = [visible_journals(viewer)]
    for key in sorted({tag_key(name) for name in filters.tags}):
        conditions.append(
            exists(
                select(JournalTag.tag_id)
                .join(Tag, Tag.id == JournalTag.tag_id)
                .where(
                    JournalTag.journal_id == Journal.id,
                    Tag.user_id == viewer.user_id,
                    Tag.name_key == key,
                )
            )
        )
    if filters.q:
        conditions.append(fts.match_condition(dialect, filters.q))
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
    return conditions


async def read_page(
    session: AsyncSession,
    claims: AccessClaims,
    viewer: Viewer,
    filters: JournalFilters,
    page: PageParams,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of visible entries, newest `entry_date` first, in one statement."""
    dialect = fts.dialect_of(session)
    entries = ENTRIES.apply(
        select(*_READ_COLUMNS).where(*filter_conditions(viewer, filters, dialect)), page
    ).subquery("page")
    stmt = _with_live_session(claims, entries, dialect).order_by(
        entries.c.entry_date.desc(), entries.c.id.desc()
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        raise _session_dead()
    found = [row for row in rows if row.id is not None]
    items, cursor = ENTRIES.split(found, page, lambda r: (r.entry_date, r.id))
    return [_view(row) for row in items], cursor


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
    """Create one entry (tags by name, created on first use); returns it rendered."""
    refuse_secret_tag(viewer, data.secret_tag_id, ())
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


async def create_batch(
    session: AsyncSession, viewer: Viewer, items: Sequence[JournalCreate]
) -> list[uuid.UUID]:
    """Create many entries in the caller's transaction: all of them or (on any error)
    none. Bulk statements per table instead of one ORM object per row; the change-log and
    outbox rows are the same ones `record_change`/`record_event` write."""
    for index, item in enumerate(items):
        refuse_secret_tag(viewer, item.secret_tag_id, ("items", index))
        check_content_size(item.content)
    now = utcnow()
    user_id = viewer.user_id
    ids = [new_id() for _ in items]
    await session.execute(
        insert(Journal),
        [
            {
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
            for journal_id, item in zip(ids, items, strict=True)
        ],
    )
    await tag_service.link_tags(
        session,
        user_id,
        [(journal_id, item.tags) for journal_id, item in zip(ids, items, strict=True)],
    )
    await session.execute(
        insert(Change),
        [
            {
                "id": new_id(),
                "user_id": user_id,
                "kind": "journal",
                "entity_id": journal_id,
                "op": "upsert",
                "version": 1,
                "secret_tag_id": None,
                "created_at": now,
                "updated_at": now,
            }
            for journal_id in ids
        ],
    )
    await session.execute(
        insert(OutboxEvent),
        [
            {
                "id": new_id(),
                "user_id": user_id,
                "type": "journal.created",
                "data": _event_data(journal_id, 1),
                "dedupe_key": None,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for journal_id in ids
        ],
    )
    return ids


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
    """
    check_if_match(if_match, journal.version)
    if "secret_tag_id" in changes:
        refuse_secret_tag(viewer, changes["secret_tag_id"], ())
    if not changes:
        return render_journal(journal, await tag_service.names_of(session, journal.id))
    if "title" in changes:
        journal.title = changes["title"]
    if "content" in changes:
        check_content_size(changes["content"])
        journal.content = changes["content"]
        journal.word_count = count_words(changes["content"])
    if "entry_date" in changes:
        journal.entry_date = changes["entry_date"]
    if "mood_rating" in changes:
        journal.mood_rating = changes["mood_rating"]
    # Always touch the row, so a tags-only change still bumps the version (and races).
    journal.updated_at = utcnow()
    await session.flush()
    if "tags" in changes:
        tags = await tag_service.replace_tags(session, viewer.user_id, journal.id, changes["tags"])
    else:
        tags = await tag_service.names_of(session, journal.id)
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
        type="journal.updated",
        data=_event_data(journal.id, journal.version),
    )
    return render_journal(journal, tags)


async def delete_journal(
    session: AsyncSession, viewer: Viewer, journal: Journal, *, if_match: str | None = None
) -> None:
    check_if_match(if_match, journal.version)
    version = journal.version
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
    )
    record_event(
        session,
        user_id=viewer.user_id,
        type="journal.deleted",
        data={"id": str(journal.id), "version": version + 1},
    )
