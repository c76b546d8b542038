"""Dispatcher step 2: events reach the live stream and become deliveries.

Undispatched outbox events are leased (`lease_until`), published to the live stream,
then turned into one `Delivery` per matching webhook (and email for `reminder.due`) and
marked dispatched. A worker killed after leasing loses nothing: the lease runs out and
another worker takes the event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, cast

import structlog
from sqlalchemy import Table, or_, select, update

from vibes.config import Settings
from vibes.db import Database, new_id
from vibes.events.channels import due_at, event_payload
from vibes.events.models import Delivery, Webhook
from vibes.platform import metrics
from vibes.platform.broker import Broker
from vibes.platform.mail import mail_configured
from vibes.platform.portable import claim_rows, insert_many_ignoring_conflicts
from vibes.recording.models import OutboxEvent

log = structlog.get_logger("vibes.events.dispatcher")

EMAIL_TARGET = "email"


async def dispatch_events(
    database: Database, settings: Settings, broker: Broker, clock: Callable[[], dt.datetime]
) -> int:
    """Step 2: lease undispatched events, publish them to the live stream, then make one
    `Delivery` per matching webhook (and email for `reminder.due`) and mark them
    dispatched."""
    lease = dt.timedelta(seconds=settings.dispatcher_lease_seconds)
    async with database.session_scope() as session:
        now = clock()
        stmt = (
            select(OutboxEvent)
            .where(
                OutboxEvent.dispatched_at.is_(None),
                or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now),
            )
            .order_by(OutboxEvent.id)
            .limit(settings.dispatcher_batch_size)
        )
        events = (await session.scalars(claim_rows(stmt, session))).all()
        if events:
            # One UPDATE for the batch, not one per event through the unit of work.
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([event.id for event in events]))
                .values(lease_until=now + lease, attempts=OutboxEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
    if not events:
        return 0

    # Live stream first: it is the fastest channel and needs no Delivery row. A crash
    # after this may publish an event twice; clients drop an id they have seen.
    published_at = clock()
    for event in events:
        try:
            await broker.publish(event.user_id, event_payload(event))
        except Exception:
            log.exception("live publish failed", event_id=str(event.id))
            continue
        lag = (published_at - due_at(event.data, event.created_at)).total_seconds()
        metrics.DISPATCH_LAG.labels("stream").observe(max(0.0, lag))

    async with database.session_scope() as session:
        now = clock()
        user_ids = {event.user_id for event in events}
        hooks = (
            await session.scalars(
                select(Webhook).where(Webhook.user_id.in_(user_ids), Webhook.is_active.is_(True))
            )
        ).all()
        email = mail_configured(settings)
        rows: list[dict[str, Any]] = []
        for event in events:
            for hook in hooks:
                # A hook hears what happens from its registration on, never the past
                # (an event still queued when it was added included).
                if (
                    hook.user_id == event.user_id
                    and event.created_at > hook.created_at
                    and (not hook.events or event.type in hook.events)
                ):
                    rows.append(_delivery_row(event, "webhook", str(hook.id), now, hook.id))
            if email and event.type == "reminder.due":
                rows.append(_delivery_row(event, "email", EMAIL_TARGET, now, None))
        if rows:
            await insert_many_ignoring_conflicts(
                session, cast(Table, Delivery.__table__), rows, on=["event_id", "target"]
            )
        await session.execute(
            update(OutboxEvent)
            .where(
                OutboxEvent.id.in_([event.id for event in events]),
                OutboxEvent.dispatched_at.is_(None),
            )
            .values(dispatched_at=now, lease_until=None)
        )
    return len(events)


def _delivery_row(
    event: OutboxEvent,
    channel: str,
    target: str,
    now: dt.datetime,
    webhook_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "user_id": event.user_id,
        "event_id": event.id,
        "channel": channel,
        "target": target,
        "webhook_id": webhook_id,
        "status": "pending",
        "attempt_count": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
