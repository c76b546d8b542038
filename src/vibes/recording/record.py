"""Writing events and changes, inside the transaction of the write that caused them."""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast, get_args

from sqlalchemy import Insert, Integer, Table, Uuid, bindparam, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from vibes.db import QUEUED_EVENTS, WROTE_USERS, new_id, utcnow
from vibes.platform.portable import (
    bulk_insert_shared,
    bulk_insert_shared_sync,
    insert_or_add,
    insert_statement,
    new_ids,
    uuid_text,
)
from vibes.recording.models import Change, OutboxEvent, SyncCounter

EventType = Literal[
    "journal.created",
    "journal.updated",
    "journal.deleted",
    "reminder.created",
    "reminder.completed",
    "reminder.due",
    "tag.created",
    "user.updated",
    "import.completed",
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
) -> None:
    """Add an event to the session; it commits (or not) with the change itself.

    `data` is thin: ids and metadata, never an entry's text. Kept in the session and
    written at commit (`_write_pending`) with one cached Core INSERT for all of the
    transaction's events, not as ORM objects through the unit of work.
    """
    mark_written(session, user_id)
    now = utcnow()
    row = {
        "id": new_id(),
        "user_id": user_id,
        "type": type,
        "data": data,
        "dedupe_key": dedupe_key,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    session.info.setdefault(_EVENTS, []).append(row)


class _Same(enum.Enum):
    SAME = "same"


# `previous_secret_tag_id` when the write left the object in the secret tag it was in.
SAME: Final = _Same.SAME

# The session's changes waiting for its commit: {(user, kind, id): _Pending}.
_PENDING = "vibes.pending_changes"
# The session's events waiting for its commit: outbox rows, in the order recorded.
_EVENTS = "vibes.pending_events"


@dataclass(slots=True)
class _Pending:
    op: Op
    version: int
    secret_tag_id: uuid.UUID | None
    previous_secret_tag_id: uuid.UUID | None


def record_change(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: Kind,
    entity_id: uuid.UUID,
    op: Op,
    version: int,
    secret_tag_id: uuid.UUID | None = None,
    previous_secret_tag_id: uuid.UUID | _Same | None = SAME,
) -> None:
    """Log a change (a tombstone for `op="delete"`) of one object for sync.

    Kept in the session until it commits (`_write_pending`), where each object written
    in the transaction gets one row, numbered in commit order. Several changes to one
    object fold into its last state, with the secret tag it was in before the first.

    For a tag or reminder, `secret_tag_id` names the vault whose entries caused the change
    (a tag's count): only viewers who see that vault learn of it.
    """
    mark_written(session, user_id)
    pending: dict[tuple[uuid.UUID, str, uuid.UUID], _Pending] = session.info.setdefault(
        _PENDING, {}
    )
    previous = secret_tag_id if previous_secret_tag_id is SAME else previous_secret_tag_id
    earlier = pending.get((user_id, kind, entity_id))
    if earlier is not None:
        previous = earlier.previous_secret_tag_id
        if kind != "journal" and earlier.secret_tag_id != secret_tag_id:
            # A tag changed for those who see a vault and for others: everyone may see it.
            secret_tag_id = None
    pending[(user_id, kind, entity_id)] = _Pending(op, version, secret_tag_id, previous)


@functools.cache
def _bump_counter(dialect: str) -> Insert:
    """Add `:count` positions to the user's counter (created at `:count`), returning the
    last one: built once per dialect, so its compiled form is cached."""
    counters = cast(Table, SyncCounter.__table__)
    count = bindparam("count", type_=Integer())
    return insert_or_add(
        dialect,
        counters,
        {"user_id": bindparam("user_id", type_=Uuid()), "position": count, "horizon": 0},
        on=["user_id"],
        add={"position": count},
    ).returning(counters.c.position)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Number the transaction's changes and write them, last thing before it commits.

    Each user's counter row is bumped by the number of changes (users in id order, so two
    transactions never wait on each other's counters crosswise). On PostgreSQL the row
    stays locked until the commit, so the next transaction of that user takes its
    positions only after this one is visible; SQLite's single writer serialises the same.
    """
    events: list[dict[str, Any]] | None = session.info.pop(_EVENTS, None)
    if events:
        session.execute(insert_statement(cast(Table, OutboxEvent.__table__)), events)
        session.info[QUEUED_EVENTS] = True
    pending: dict[tuple[uuid.UUID, str, uuid.UUID], _Pending] | None = session.info.pop(
        _PENDING, None
    )
    if not pending:
        return
    by_user: dict[uuid.UUID, list[tuple[str, uuid.UUID, _Pending]]] = {}
    for (user_id, kind, entity_id), change in pending.items():
        by_user.setdefault(user_id, []).append((kind, entity_id, change))
    bump = _bump_counter(session.get_bind().dialect.name)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for user_id in sorted(by_user):
        changes = by_user[user_id]
        last = int(session.execute(bump, {"user_id": user_id, "count": len(changes)}).scalar_one())
        ids = new_ids(len(changes))
        for offset, (change_id, (kind, entity_id, change)) in enumerate(
            zip(ids, changes, strict=True)
        ):
            rows.append(
                {
                    "id": change_id,
                    "user_id": user_id,
                    "position": last - len(changes) + 1 + offset,
                    "kind": kind,
                    "entity_id": entity_id,
                    "op": change.op,
                    "version": change.version,
                    "secret_tag_id": change.secret_tag_id,
                    "previous_secret_tag_id": change.previous_secret_tag_id,
                }
            )
    bulk_insert_shared_sync(
        session, cast(Table, Change.__table__), rows, {"created_at": now, "updated_at": now}
    )


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back transaction changed nothing, so it logs nothing."""
    session.info.pop(_PENDING, None)
    session.info.pop(_EVENTS, None)
    session.info.pop(QUEUED_EVENTS, None)


def version_data(entity_id: uuid.UUID, version: int) -> dict[str, Any]:
    """The usual event payload: ids and metadata, never an object's text."""
    return {"id": uuid_text(entity_id), "version": version}


def record_write(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: Kind,
    entity_id: uuid.UUID,
    op: Op,
    version: int,
    secret_tag_id: uuid.UUID | None = None,
    previous_secret_tag_id: uuid.UUID | _Same | None = SAME,
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
        previous_secret_tag_id=previous_secret_tag_id,
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
    """`record_write` for many objects at once: the same rows, the events written in bulk
    (the changes are written in bulk at commit, as every change is)."""
    mark_written(session, user_id)
    pending: dict[tuple[uuid.UUID, str, uuid.UUID], _Pending] = session.info.setdefault(
        _PENDING, {}
    )
    for item in written:
        key = (user_id, kind, item.entity_id)
        if key in pending:
            # Written before in this transaction: `record_change` folds the two.
            record_change(
                session,
                user_id=user_id,
                kind=kind,
                entity_id=item.entity_id,
                op=op,
                version=item.version,
                secret_tag_id=item.secret_tag_id,
            )
        else:
            # What `record_change` keeps for an object's first change (a batch's, an
            # import's thousands: without its per-call checks).
            pending[key] = _Pending(op, item.version, item.secret_tag_id, item.secret_tag_id)
    now = utcnow()
    evented = [item for item in written if item.event is not None]
    await bulk_insert_shared(
        session,
        cast(Table, OutboxEvent.__table__),
        [
            {
                "id": event_id,
                "type": item.event,
                "data": version_data(item.entity_id, item.version),
            }
            for event_id, item in zip(new_ids(len(evented)), evented, strict=True)
        ],
        {"user_id": user_id, "attempts": 0, "created_at": now, "updated_at": now},
    )
