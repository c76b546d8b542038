"""Dispatcher step 1: due reminders become `reminder.due` events.

Claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL; on SQLite the write transaction's lock
makes one claimer at a time). In the same transaction each gets its `reminder.due` event,
inserted with ON CONFLICT DO NOTHING on the occurrence's dedupe key, and moves on to its
next occurrence. Two workers can never make two events for one occurrence: the row lock
and the unique key each forbid it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import cast

import structlog
from sqlalchemy import Table, bindparam, func, select, update

from vibes.config import Settings
from vibes.db import Database, new_id
from vibes.platform.portable import claim_rows, insert_many_ignoring_conflicts
from vibes.recording.models import OutboxEvent
from vibes.reminders import firing as reminder_firing
from vibes.reminders import service as reminders_service
from vibes.reminders.models import Reminder

log = structlog.get_logger("vibes.events.dispatcher")

_OUTBOX = cast(Table, OutboxEvent.__table__)
_REMINDERS = cast(Table, Reminder.__table__)
# Rows are claimed (locked) in this transaction, so the version always matches; the
# condition keeps the rule every versioned UPDATE follows.
_MOVE_ON = (
    update(_REMINDERS)
    .where(_REMINDERS.c.id == bindparam("b_id"), _REMINDERS.c.version == bindparam("b_version"))
    .values(
        next_fire_at=bindparam("b_next_fire_at"),
        occurrence_at=bindparam("b_occurrence_at"),
        snoozed_until=bindparam("b_snoozed_until"),
        last_fired_at=bindparam("b_last_fired_at"),
        updated_at=bindparam("b_updated_at"),
        version=_REMINDERS.c.version + 1,
    )
)


async def fire_due_reminders(database: Database, settings: Settings, now: dt.datetime) -> int:
    """Step 1: claim due reminders; each gets its `reminder.due` event (never two for one
    occurrence) and moves on to its next occurrence, in one transaction."""
    async with database.session_scope() as session:
        stmt = (
            select(Reminder)
            .where(
                Reminder.is_completed.is_(False),
                Reminder.next_fire_at.is_not(None),
                Reminder.next_fire_at <= now,
            )
            .order_by(Reminder.next_fire_at)
            .limit(settings.dispatcher_batch_size)
        )
        reminders = (await session.scalars(claim_rows(stmt, session))).all()
        if not reminders:
            return 0
        # Moved on by one statement below, not by the unit of work: `fire` changes them
        # detached, so the session flushes nothing of theirs.
        for reminder in reminders:
            session.expunge(reminder)
        upcoming = await _upcoming(reminders, now)
        rows = []
        for reminder in reminders:
            due = reminder_firing.fire(reminder, now, upcoming.get(reminder.id))
            rows.append(
                {
                    "id": new_id(),
                    "user_id": reminder.user_id,
                    "type": "reminder.due",
                    "data": due.data,
                    "dedupe_key": due.dedupe_key,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await insert_many_ignoring_conflicts(session, _OUTBOX, rows, on=["dedupe_key"])
        # One executemany for the batch: through the unit of work each versioned row was
        # an UPDATE of its own (asyncpg reports no rowcount for an executemany, so
        # SQLAlchemy checks versions row by row), 200 round trips a batch.
        await session.execute(
            _MOVE_ON,
            [
                {
                    "b_id": r.id,
                    "b_version": r.version,
                    "b_next_fire_at": r.next_fire_at,
                    "b_occurrence_at": r.occurrence_at,
                    "b_snoozed_until": r.snoozed_until,
                    "b_last_fired_at": r.last_fired_at,
                    "b_updated_at": now,
                }
                for r in reminders
            ],
        )
        for reminder in reminders:
            reminder.version += 1  # detached: what the change log records
            reminder.updated_at = now
        reminder_firing.record_fired(session, list(reminders))
    return len(reminders)


async def _upcoming(
    reminders: Sequence[Reminder], now: dt.datetime
) -> dict[uuid.UUID, dt.datetime | None]:
    """The next occurrence of each recurring reminder, expanded in a thread (CPU work
    must not stall the event loop). A rule that cannot be expanded ends there: the
    due occurrence still fires, the reminder fires no more, the loop goes on."""
    bases = {
        r.id: base for r in reminders if (base := reminder_firing.next_base(r, now)) is not None
    }
    if not bases:
        return {}
    by_id = {r.id: r for r in reminders}
    ids = list(bases)
    work = [(reminders_service.schedule_of(by_id[i]), bases[i]) for i in ids]
    results = await asyncio.to_thread(reminders_service.expand_next, work)
    upcoming: dict[uuid.UUID, dt.datetime | None] = {}
    for reminder_id, result in zip(ids, results, strict=True):
        if isinstance(result, Exception):
            log.warning(
                "reminder rule cannot be expanded; it stops recurring",
                reminder_id=str(reminder_id),
            )
            upcoming[reminder_id] = None
        else:
            upcoming[reminder_id] = result
    return upcoming


async def next_due_at(database: Database) -> dt.datetime | None:
    """When the earliest pending reminder falls due (an index look-up: the partial index
    on `next_fire_at`), so the dispatcher can wake then rather than at its next poll."""
    async with database.sessionmaker() as session:
        found: dt.datetime | None = await session.scalar(
            select(func.min(Reminder.next_fire_at)).where(
                Reminder.is_completed.is_(False), Reminder.next_fire_at.is_not(None)
            )
        )
    return found
