"""Writing events and changes, inside the transaction of the write that caused them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, get_args

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import WROTE_USERS, utcnow
from vibes.platform.portable import bulk_insert, new_ids
from vibes.recording.models import Change, OutboxEvent

EventType = Literal[
    "journal.created",
    "journal.updated",
    "journal.deleted",
    "reminder.created",
    "reminder.completed",
    "reminder.due",
    "tag.created",
    "user.updated",
]
ALL_EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
Kind = Literal["journal", "tag", "reminder"]
Op = Literal["upsert", "delete"]


def mark_written(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Note that this transaction wrote something of the user's, so that their cached
    figures go stale when it commits. Every record_* call does it; a write that records
    nothing (a destroyed secret tag's cascade) calls it itself."""
    session.info.setdefault(WROTE_USERS, set()).add(user_id)


def record_event(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    type: EventType,
    data: dict[str, Any],
    dedupe_key: str | None = None,
) -> OutboxEvent:
    """Add an event to the session; it commits (or not) with the change itself.

    `data` is thin: ids and metadata, never an entry's text.
    """
    mark_written(session, user_id)
    event = OutboxEvent(user_id=user_id, type=type, data=data, dedupe_key=dedupe_key)
    session.add(event)
    return event


def record_change(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: Kind,
    entity_id: uuid.UUID,
    op: Op,
    version: int,
    secret_tag_id: uuid.UUID | None = None,
) -> Change:
    """Add a change-log row (a tombstone for `op="delete"`) for sync to the session."""
    mark_written(session, user_id)
    change = Change(
        user_id=user_id,
        kind=kind,
        entity_id=entity_id,
        op=op,
        version=version,
        secret_tag_id=secret_tag_id,
    )
    session.add(change)
    return change


def version_data(entity_id: uuid.UUID, version: int) -> dict[str, Any]:
    """The usual event payload: ids and metadata, never an object's text."""
    return {"id": str(entity_id), "version": version}


def record_write(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: Kind,
    entity_id: uuid.UUID,
    op: Op,
    version: int,
    secret_tag_id: uuid.UUID | None = None,
    event: EventType | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """The change of one write and, when others may learn of it, its event (`data`
    defaults to `version_data`). A write no observer may see (a secret entry's) passes
    no event."""
    record_change(
        session,
        user_id=user_id,
        kind=kind,
        entity_id=entity_id,
        op=op,
        version=version,
        secret_tag_id=secret_tag_id,
    )
    if event is not None:
        record_event(
            session,
            user_id=user_id,
            type=event,
            data=version_data(entity_id, version) if data is None else data,
        )


class Versioned(Protocol):
    """A user's row with a version (`VersionMixin`)."""

    id: uuid.UUID
    user_id: uuid.UUID
    version: int


async def delete_recorded(
    session: AsyncSession,
    row: Versioned,
    *,
    kind: Kind,
    secret_tag_id: uuid.UUID | None = None,
    event: EventType | None = None,
) -> None:
    """Delete the row and record its tombstone (the version a deletion makes: +1).

    The DELETE carries `WHERE version = <loaded>` (the mapper's version column): if a
    concurrent change won, it fails (412) and nothing is recorded."""
    version = row.version
    await session.delete(row)
    await session.flush()
    record_write(
        session,
        user_id=row.user_id,
        kind=kind,
        entity_id=row.id,
        op="delete",
        version=version + 1,
        secret_tag_id=secret_tag_id,
        event=event,
    )


@dataclass(frozen=True, slots=True)
class Written:
    """One object of a bulk write: its change, and its event unless `event` is None."""

    entity_id: uuid.UUID
    version: int
    secret_tag_id: uuid.UUID | None = None
    event: EventType | None = None


async def record_writes(
    session: AsyncSession, *, user_id: uuid.UUID, kind: Kind, op: Op, written: Sequence[Written]
) -> None:
    """`record_write` for many objects at once: the same rows, written in bulk."""
    mark_written(session, user_id)
    now = utcnow()
    await bulk_insert(
        session,
        cast(Table, Change.__table__),
        [
            {
                "id": change_id,
                "user_id": user_id,
                "kind": kind,
                "entity_id": item.entity_id,
                "op": op,
                "version": item.version,
                "secret_tag_id": item.secret_tag_id,
                "created_at": now,
                "updated_at": now,
            }
            for change_id, item in zip(new_ids(len(written)), written, strict=True)
        ],
    )
    evented = [item for item in written if item.event is not None]
    await bulk_insert(
        session,
        cast(Table, OutboxEvent.__table__),
        [
            {
                "id": event_id,
                "user_id": user_id,
                "type": item.event,
                "data": version_data(item.entity_id, item.version),
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for event_id, item in zip(new_ids(len(evented)), evented, strict=True)
        ],
    )
