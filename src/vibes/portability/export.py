"""Exporting an account, streamed: pages read by keyset off one snapshot of the database,
each written out before the next is read, so memory stays flat whatever the account's
size. The vault rule holds: secret entries only for the tags the request unlocked (with
their tag's name); locked, the export is byte for byte the one the account gave before
its vault existed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import JSON, Boolean, String, Uuid, column, select, table, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.db import Database, UTCDateTime, utcnow
from vibes.journals.models import Journal, JournalTag, Tag
from vibes.journals.rendering import reveal
from vibes.journals.tagnames import tag_key
from vibes.journals.visibility import Viewer, visible_journals
from vibes.platform.responses import json_bytes
from vibes.portability.schemas import FORMAT, VERSION
from vibes.reminders.models import Reminder
from vibes.reminders.service import hidden_journal_ids

PAGE = 500

# Webhooks belong to the delivery layer above this one: read through a plain table
# clause naming the columns exported (never the sealed secret).
_webhooks = table(
    "webhooks",
    column("id", Uuid()),
    column("user_id", Uuid()),
    column("url", String()),
    column("events", JSON()),
    column("description", String()),
    column("is_active", Boolean()),
    column("created_at", UTCDateTime()),
    column("updated_at", UTCDateTime()),
)


@asynccontextmanager
async def snapshot(database: Database) -> AsyncIterator[AsyncSession]:
    """A read-only session on one snapshot for the whole export: REPEATABLE READ on
    PostgreSQL; on SQLite a deferred (read) transaction, which WAL keeps consistent
    without taking the write lock."""
    engine = database.engine
    if not database.is_sqlite:
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await session.connection()
        try:
            yield session
        finally:
            await session.rollback()


async def _keyset(
    session: AsyncSession, stmt: Any, keys: Sequence[Any], params: dict[str, Any]
) -> AsyncIterator[Sequence[Any]]:
    """Pages of `stmt` ordered by `keys` (ascending), each after the previous one's last."""
    after: tuple[Any, ...] | None = None
    while True:
        page_stmt = stmt.order_by(*keys).limit(PAGE)
        if after is not None:
            # A row value, so PostgreSQL walks the (user_id, key…) index from the last row
            # instead of re-sorting what is left (SQLite has row values too).
            page_stmt = page_stmt.where(tuple_(*keys) > tuple_(*after))
        rows = (await session.execute(page_stmt, params)).all()
        if not rows:
            return
        yield rows
        if len(rows) < PAGE:
            return
        last = rows[-1]
        after = (getattr(last, keys[0].key), getattr(last, keys[1].key))


async def _tag_names(
    session: AsyncSession, journal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    rows = await session.execute(
        select(JournalTag.journal_id, Tag.name)
        .join(Tag, Tag.id == JournalTag.tag_id)
        .where(JournalTag.journal_id.in_(journal_ids))
    )
    names: dict[uuid.UUID, list[str]] = defaultdict(list)
    for journal_id, name in rows:
        names[journal_id].append(name)
    return names


def _journal(row: Any, viewer: Viewer, tags: list[str]) -> dict[str, Any]:
    title, content, secret_tag = row.title, row.content, None
    if row.secret_tag_id is not None:
        unlocked, opened = reveal(viewer, row)
        title, content, tags, secret_tag = (
            opened.title,
            opened.content,
            list(opened.tags),
            unlocked.name,
        )
    return {
        "id": row.id,
        "title": title,
        "content": content,
        "entry_date": row.entry_date,
        "tags": sorted(tags, key=tag_key),
        "mood_rating": row.mood_rating,
        "secret_tag": secret_tag,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


async def journal_pages(
    session: AsyncSession, viewer: Viewer
) -> AsyncIterator[list[dict[str, Any]]]:
    """The entries the viewer may see, oldest `entry_date` first, a page at a time."""
    visible = visible_journals(viewer)
    stmt = select(
        Journal.id,
        Journal.title,
        Journal.content,
        Journal.entry_date,
        Journal.mood_rating,
        Journal.secret_tag_id,
        Journal.ciphertext,
        Journal.nonce,
        Journal.version,
        Journal.created_at,
        Journal.updated_at,
    ).where(visible.clause)
    async for rows in _keyset(session, stmt, [Journal.entry_date, Journal.id], visible.params):
        tags = await _tag_names(session, [r.id for r in rows if r.secret_tag_id is None])
        yield [_journal(row, viewer, tags.get(row.id, [])) for row in rows]


async def _tags(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[list[dict[str, Any]]]:
    stmt = select(Tag.id, Tag.name, Tag.name_key, Tag.color, Tag.created_at, Tag.updated_at).where(
        Tag.user_id == user_id
    )
    async for rows in _keyset(session, stmt, [Tag.name_key, Tag.id], {}):
        yield [
            {
                "name": r.name,
                "color": r.color,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]


async def _reminders(session: AsyncSession, viewer: Viewer) -> AsyncIterator[list[dict[str, Any]]]:
    stmt = select(*Reminder.__table__.columns).where(Reminder.user_id == viewer.user_id)
    keys = [Reminder.created_at, Reminder.id]
    async for reminders in _keyset(session, stmt, keys, {}):
        hidden = await hidden_journal_ids(
            session,
            viewer.user_id,
            viewer.unlocked_secret_tag_ids,
            {r.journal_id for r in reminders if r.journal_id is not None},
        )
        yield [
            {
                "id": r.id,
                "title": r.title,
                "notes": r.notes,
                "priority": r.priority,
                "remind_at": r.remind_at,
                "timezone": r.timezone,
                "recurrence": r.recurrence,
                "is_completed": r.is_completed,
                "completed_at": r.completed_at,
                "snoozed_until": r.snoozed_until,
                "occurrence_at": r.occurrence_at,
                "next_fire_at": r.next_fire_at,
                "last_fired_at": r.last_fired_at,
                "journal_id": None if r.journal_id in hidden else r.journal_id,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for r in reminders
        ]


async def _webhooks_of(
    session: AsyncSession, user_id: uuid.UUID
) -> AsyncIterator[list[dict[str, Any]]]:
    w = _webhooks.c
    stmt = select(
        w.id, w.url, w.events, w.description, w.is_active, w.created_at, w.updated_at
    ).where(w.user_id == user_id)
    async for rows in _keyset(session, stmt, [w.created_at, w.id], {}):
        yield [
            {
                "id": r.id,
                "url": r.url,
                "events": sorted(r.events or []),
                "description": r.description,
                "is_active": r.is_active,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]


async def _array(pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """The inside of a JSON array of the pages' items (one a line), a piece per page."""
    separator = b"\n"
    async for page in pages:
        # Each entry encoded and appended on its own: a list of the page's encoded
        # entries, then their join, held the page three times over (the export's peak).
        piece = bytearray()
        for item in page:
            piece += separator
            piece += json_bytes(item)
            separator = b",\n"
        if piece:
            yield bytes(piece)
    if separator != b"\n":
        yield b"\n"


async def export_json(
    database: Database, viewer: Viewer, *, now: dt.datetime | None = None
) -> AsyncIterator[bytes]:
    """The `vibes` document (see `schemas.VibesDocument`), in pieces."""
    async with snapshot(database) as session:
        user = (
            await session.execute(
                select(User.email, User.display_name, User.timezone, User.created_at).where(
                    User.id == viewer.user_id
                )
            )
        ).one()
        head = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": now or utcnow(),
            "profile": {
                "email": user.email,
                "display_name": user.display_name,
                "timezone": user.timezone,
                "created_at": user.created_at,
            },
        }
        yield json_bytes(head)[:-1] + b',\n"tags":['
        async for piece in _array(_tags(session, viewer.user_id)):
            yield piece
        yield b'],\n"journals":['
        async for piece in _array(journal_pages(session, viewer)):
            yield piece
        yield b'],\n"reminders":['
        async for piece in _array(_reminders(session, viewer)):
            yield piece
        yield b'],\n"webhooks":['
        async for piece in _array(_webhooks_of(session, viewer.user_id)):
            yield piece
        yield b"]}\n"
