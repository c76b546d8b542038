"""Dispatcher step 3: deliveries are sent and their outcomes recorded.

Due deliveries are leased the same way as events, sent with no transaction open, then
their attempt recorded and either finished or rescheduled with exponential backoff and
jitter.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import structlog
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.config import Settings
from vibes.db import Database, new_id
from vibes.events.channels import (
    Outcome,
    due_at,
    encode_payload,
    event_payload,
    send_email,
    url_host,
)
from vibes.events.models import Delivery, DeliveryAttempt, Webhook
from vibes.events.secrets import open_secret
from vibes.platform import metrics
from vibes.platform.portable import claim_rows, lock_rows
from vibes.platform.sealing import SealBroken
from vibes.recording.models import OutboxEvent
from vibes.reminders import firing as reminder_firing

if TYPE_CHECKING:
    from vibes.events.pools import ConnectionPools

log = structlog.get_logger("vibes.events.dispatcher")


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Exponential backoff with jitter: base * 2**(attempt-1), capped, times 0.5 to 1.5."""
    delay: float = min(
        settings.delivery_retry_max_seconds,
        settings.delivery_retry_base_seconds * 2 ** max(0, attempt - 1),
    )
    jitter: float = random.uniform(0.5, 1.5)
    return delay * jitter


@dataclass
class Job:
    """One claimed delivery with everything needed to send it, loaded before sending."""

    delivery_id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    attempt: int
    due_at: dt.datetime
    webhook_id: uuid.UUID | None = None
    url: str = ""
    secret: str = ""
    msg_id: str = ""
    body: str = ""
    email_to: str = ""
    subject: str = ""
    cancel_reason: str | None = None
    # Set when the delivery cannot be prepared (its message cannot be built): a permanent
    # failure, recorded as such instead of failing the whole claim step again and again.
    fail_reason: str | None = None


async def claim_deliveries(
    database: Database, settings: Settings, now: dt.datetime, *, sealing_key: bytes
) -> list[Job]:
    """Lease the due deliveries and load everything needed to send them (`sealing_key`
    opens the webhooks' signing secrets)."""
    lease = dt.timedelta(seconds=settings.dispatcher_lease_seconds)
    async with database.session_scope() as session:
        stmt = (
            select(Delivery)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at)
            .limit(settings.dispatcher_batch_size)
        )
        deliveries = (await session.scalars(claim_rows(stmt, session))).all()
        if not deliveries:
            return []
        # The lease: nobody else takes these until it runs out; if this worker dies,
        # next_attempt_at (= the lease's end) makes them due again for the others. One
        # UPDATE for the batch (the loaded objects keep their old lease: nothing reads it).
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([d.id for d in deliveries]))
            .values(lease_until=now + lease, next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        events = {
            e.id: e
            for e in await session.scalars(
                select(OutboxEvent).where(OutboxEvent.id.in_({d.event_id for d in deliveries}))
            )
        }
        hook_ids = {d.webhook_id for d in deliveries if d.webhook_id is not None}
        hooks = (
            {
                h.id: h
                for h in await session.scalars(select(Webhook).where(Webhook.id.in_(hook_ids)))
            }
            if hook_ids
            else {}
        )
        mail_users = {d.user_id for d in deliveries if d.channel == "email"}
        emails: dict[uuid.UUID, str] = {}
        if mail_users:
            found = await session.execute(
                select(User.id, User.email).where(User.id.in_(mail_users))
            )
            emails = {row.id: row.email for row in found}
        return [
            await _job(session, d, events[d.event_id], hooks, emails, sealing_key)
            for d in deliveries
        ]


async def _job(
    session: AsyncSession,
    delivery: Delivery,
    event: OutboxEvent,
    hooks: dict[uuid.UUID, Webhook],
    emails: dict[uuid.UUID, str],
    sealing_key: bytes,
) -> Job:
    job = Job(
        delivery_id=delivery.id,
        user_id=delivery.user_id,
        channel=delivery.channel,
        attempt=delivery.attempt_count + 1,
        due_at=due_at(event.data, event.created_at),
        webhook_id=delivery.webhook_id,
        msg_id=str(event.id),
    )
    if delivery.channel == "webhook":
        hook = hooks.get(delivery.webhook_id) if delivery.webhook_id else None
        if hook is None or not hook.is_active:
            job.cancel_reason = "webhook disabled"
            return job
        job.url = hook.url
        try:
            job.secret = open_secret(sealing_key, hook.id, hook.secret_sealed)
        except SealBroken:
            # Sealed under another server key (VIBES_SECRET_KEY or keys.json changed):
            # no retry can sign it; the user re-creates the webhook.
            job.fail_reason = "the signing secret cannot be opened with this server's key"
            return job
        job.body = encode_payload(event_payload(event))
    else:
        address = emails.get(delivery.user_id)
        if address is None:
            job.cancel_reason = "account has no address"
            return job
        job.email_to = address
        try:
            job.subject, job.body = await reminder_firing.due_email(session, event.data)
        except Exception as exc:
            job.fail_reason = f"message cannot be built: {type(exc).__name__}"
    return job


async def send(pools: ConnectionPools, settings: Settings, job: Job) -> Outcome:
    if job.cancel_reason is not None:
        return Outcome(ok=False, error=job.cancel_reason, permanent=True)
    if job.fail_reason is not None:
        return Outcome(ok=False, error=job.fail_reason, permanent=True)
    if job.channel == "webhook":
        # Here, not at the top: aiohttp loads with the first webhook (see webhook_http).
        from vibes.events.webhook_http import send_webhook

        return await send_webhook(
            pools,
            settings,
            url=job.url,
            secret=job.secret,
            msg_id=job.msg_id,
            body=job.body,
        )
    return await send_email(settings, to=job.email_to, subject=job.subject, body=job.body)


async def record_outcomes(
    database: Database, settings: Settings, results: Sequence[tuple[Job, Outcome, dt.datetime]]
) -> None:
    """Write a batch's outcomes in a few statements (one round trip per kind, not per row)."""
    attempts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    hooks_ok: set[uuid.UUID] = set()
    hooks_failed: dict[uuid.UUID, int] = {}
    hooks_gone: dict[uuid.UUID, str] = {}
    for job, outcome, finished in results:
        label, row = _outcome_row(settings, job, outcome, finished)
        metrics.DELIVERIES.labels(job.channel, label).inc()
        # One line per attempt, ids only: never the body, the address, the subject or the
        # webhook's URL beyond its host.
        log.info(
            "delivery",
            delivery_id=str(job.delivery_id),
            user_id=str(job.user_id),
            channel=job.channel,
            outcome=label,
            attempt=job.attempt,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            **({"host": url_host(job.url)} if job.url else {}),
        )
        if label == "failed":
            # Ids and the webhook's host only: the error may quote an address or a
            # title, and a webhook URL's path and query can hold its receiver's secret.
            log.warning(
                "delivery failed for good",
                delivery_id=str(job.delivery_id),
                channel=job.channel,
                attempt=job.attempt,
                **({"host": url_host(job.url)} if job.url else {}),
            )
        updates.append(row)
        if job.cancel_reason is not None:
            continue
        attempts.append(
            {
                "id": new_id(),
                "user_id": job.user_id,
                "delivery_id": job.delivery_id,
                "attempt": job.attempt,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "duration_ms": outcome.duration_ms,
                "created_at": finished,
                "updated_at": finished,
            }
        )
        if job.webhook_id is None:
            continue
        if outcome.ok:
            hooks_ok.add(job.webhook_id)
        else:
            hooks_failed[job.webhook_id] = hooks_failed.get(job.webhook_id, 0) + 1
            if outcome.gone:
                hooks_gone[job.webhook_id] = outcome.error or "gone"
    if not updates:
        return
    table = cast(Table, Delivery.__table__)
    async with database.session_scope() as session:
        if attempts:
            # A delivery deleted meanwhile (its webhook or account erased) takes its
            # attempt log with it; lock the rest so they cannot vanish mid-insert.
            present = set(
                await session.scalars(
                    lock_rows(
                        select(Delivery.id).where(
                            Delivery.id.in_([a["delivery_id"] for a in attempts])
                        ),
                        session,
                    )
                )
            )
            attempts = [a for a in attempts if a["delivery_id"] in present]
        if attempts:
            await session.execute(insert(DeliveryAttempt), attempts)
        # `status = 'pending'` guards against a slow worker whose lease ran out
        # overwriting the outcome recorded by the worker that took over.
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.status == "pending")
            .values({name: bindparam(f"b_{name}") for name in updates[0] if name != "id"}),
            [{f"b_{k}": v for k, v in row.items()} for row in updates],
        )
        await _update_hooks(session, hooks_ok, hooks_failed, hooks_gone)


def _outcome_row(
    settings: Settings, job: Job, outcome: Outcome, finished: dt.datetime
) -> tuple[str, dict[str, Any]]:
    """The outcome's label and the delivery's new values (same keys for every row)."""
    row: dict[str, Any] = {
        "id": job.delivery_id,
        "status": "pending",
        "attempt_count": job.attempt if job.cancel_reason is None else job.attempt - 1,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "lease_until": None,
        "delivered_at": None,
        "next_attempt_at": finished,
        "updated_at": finished,
    }
    if outcome.ok:
        row.update(status="succeeded", delivered_at=finished)
        lag = (finished - job.due_at).total_seconds()
        metrics.DISPATCH_LAG.labels(job.channel).observe(max(0.0, lag))
        return "succeeded", row
    if job.cancel_reason is not None:
        row["status"] = "cancelled"
        return "cancelled", row
    if outcome.permanent or job.attempt >= settings.delivery_max_attempts:
        row["status"] = "failed"
        return "failed", row
    delay = backoff_seconds(settings, job.attempt)
    row["next_attempt_at"] = finished + dt.timedelta(seconds=delay)
    return "retry", row


async def _update_hooks(
    session: AsyncSession,
    ok: set[uuid.UUID],
    failed: dict[uuid.UUID, int],
    gone: dict[uuid.UUID, str],
) -> None:
    reset = ok - failed.keys()
    if reset:
        await session.execute(
            update(Webhook)
            .where(Webhook.id.in_(reset), Webhook.consecutive_failures != 0)
            .values(consecutive_failures=0)
        )
    for hook_id, count in failed.items():
        values: dict[str, Any] = {"consecutive_failures": Webhook.consecutive_failures + count}
        if hook_id in gone:
            values.update(
                is_active=False, disabled_reason=gone[hook_id], version=Webhook.version + 1
            )
        await session.execute(update(Webhook).where(Webhook.id == hook_id).values(**values))
    if gone:
        # The receiver is gone: what is still queued for it will never be wanted.
        await session.execute(
            update(Delivery)
            .where(Delivery.webhook_id.in_(gone.keys()), Delivery.status == "pending")
            .values(status="cancelled", last_error="webhook disabled", lease_until=None)
        )
