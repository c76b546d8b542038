"""The dispatcher's housekeeping: the periodic purges (old events, the sync log's
compaction, dead sessions, spent idempotency keys), queue depths measured."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from vibes.accounts import users
from vibes.config import Settings
from vibes.db import Database
from vibes.events.models import Delivery
from vibes.platform import idempotency, metrics
from vibes.platform.jobs import claim_round
from vibes.recording.models import OutboxEvent
from vibes.reminders.models import Reminder
from vibes.sync import service as sync

PURGE_EVERY = dt.timedelta(minutes=10)


async def purge_old_events(database: Database, settings: Settings, now: dt.datetime) -> int:
    """Delete dispatched events past the retention (their deliveries and attempt log go
    with them), a bounded chunk at a time so no run holds locks for long."""
    cutoff = now - dt.timedelta(days=settings.events_retention_days)
    async with database.session_scope() as session:
        old = (
            select(OutboxEvent.id)
            .where(OutboxEvent.dispatched_at.is_not(None), OutboxEvent.created_at < cutoff)
            .limit(5000)
        )
        result = await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(old)))
    return int(getattr(result, "rowcount", 0) or 0)


async def run_purges(
    database: Database, settings: Settings, now: dt.datetime, *, every: dt.timedelta = PURGE_EVERY
) -> dict[str, int]:
    """Run each purge whose round is due and that no other worker has claimed (`claim_round`);
    returns the rows each purge that ran deleted."""
    done: dict[str, int] = {}
    if await claim_round(database, "purge.events", every, now):
        done["events"] = await purge_old_events(database, settings, now)
    if await claim_round(database, "purge.sync", every, now):
        async with database.session_scope() as session:
            done["sync"] = await sync.compact(session, now, settings.sync_retention_days)
    if await claim_round(database, "purge.sessions", every, now):
        async with database.session_scope() as session:
            done["sessions"] = await users.purge_expired(session, now=now)
    if await claim_round(database, "purge.idempotency", every, now):
        async with database.session_scope() as session:
            done["idempotency"] = await idempotency.purge_expired(session, now)
    return done


async def measure_queue_depth(database: Database, now: dt.datetime) -> dict[str, int]:
    """The backlog of each step, set on the queue-depth gauges."""
    async with database.read_sessionmaker() as session:
        due = await session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(
                Reminder.is_completed.is_(False),
                Reminder.next_fire_at.is_not(None),
                Reminder.next_fire_at <= now,
            )
        )
        undispatched = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        )
        pending = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
        )
    depth = {
        "reminders": int(due or 0),
        "events": int(undispatched or 0),
        "deliveries": int(pending or 0),
    }
    for queue, value in depth.items():
        metrics.QUEUE_DEPTH.labels(queue).set(value)
    return depth
