"""The dispatcher: due reminders become events, events reach their channels.

Three steps, each claiming its work in a short transaction so several workers share it:

1. Due reminders: claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL; on SQLite the write
   transaction's lock makes one claimer at a time). In the same transaction each gets its
   `reminder.due` event, inserted with ON CONFLICT DO NOTHING on the occurrence's
   dedupe key, and moves on to its next occurrence. Two workers can never make two events
   for one occurrence: the row lock and the unique key each forbid it.
2. Undispatched outbox events: leased (`lease_until`), published to the live stream, then
   turned into one `Delivery` per matching webhook (and email for `reminder.due`) and
   marked dispatched. A worker killed after leasing loses nothing: the lease runs out and
   another worker takes the event.
3. Due deliveries: leased the same way, sent with no transaction open, then their attempt
   recorded and either finished or rescheduled with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx
import structlog
from sqlalchemy import Select, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.config import Settings
from vibes.db import Database, new_id, utcnow
from vibes.events.broker import Broker
from vibes.events.channels import (
    Outcome,
    encode_payload,
    event_payload,
    send_email,
    send_webhook,
)
from vibes.events.models import Delivery, DeliveryAttempt, OutboxEvent, Webhook
from vibes.platform import metrics
from vibes.platform.mail import mail_configured
from vibes.reminders import service as reminders_service
from vibes.reminders.models import Reminder

log = structlog.get_logger("vibes.events.dispatcher")

T = TypeVar("T", bound=Any)
EMAIL_TARGET = "email"
QUEUE_DEPTH_EVERY = dt.timedelta(seconds=5)
PURGE_EVERY = dt.timedelta(minutes=10)


def claim(stmt: Select[T], session: AsyncSession) -> Select[T]:
    """Make a SELECT claim its rows so concurrent workers take disjoint sets.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, rows another worker holds are skipped, not
    waited for. SQLite has no row locks: the write transaction (BEGIN IMMEDIATE) already
    holds the database's single write lock, so only one claimer runs at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def lock_rows(stmt: Select[T], session: AsyncSession) -> Select[T]:
    """`FOR UPDATE` on PostgreSQL (waiting, not skipping); SQLite's write lock suffices."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update()
    return stmt


def insert_ignoring_conflicts(
    session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]], *, on: Sequence[str]
) -> Any:
    """INSERT ... ON CONFLICT (on) DO NOTHING, on either database."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=list(on))


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Exponential backoff with jitter: base * 2**(attempt-1), capped, times 0.5 to 1.5."""
    delay: float = min(
        settings.delivery_retry_max_seconds,
        settings.delivery_retry_base_seconds * 2 ** max(0, attempt - 1),
    )
    jitter: float = random.uniform(0.5, 1.5)
    return delay * jitter


def _due_at(event_data: dict[str, Any], created_at: dt.datetime) -> dt.datetime:
    """When an event was due: a reminder's fire time, else the event's creation."""
    raw = event_data.get("due_at")
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(raw)
    return created_at


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


@dataclass
class StepCounts:
    fired: int = 0
    dispatched: int = 0
    delivered: int = 0

    @property
    def total(self) -> int:
        return self.fired + self.dispatched + self.delivered


class Dispatcher:
    """One dispatcher loop; run one per worker process (or inside `vibes serve`)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        broker: Broker,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.database = database
        # Injectable so tests can walk a schedule across months in a few milliseconds.
        self.clock = clock
        self.settings = settings
        self.broker = broker
        self.wakeup = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._depth_checked_at: dt.datetime | None = None
        self._purged_at: dt.datetime | None = None

    def client(self) -> httpx.AsyncClient:
        """The HTTP client. Requests go to a vetted IP address, so a pooled connection
        would be shared by every site on that address; with none kept alive each attempt
        stands alone (and an HTTPS one is verified for its own name)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,  # no proxies from the environment
                timeout=self.settings.webhook_timeout_seconds,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until `stop` is set; the step in flight finishes first (graceful stop)."""
        log.info("dispatcher started")
        try:
            while not stop.is_set():
                busy = False
                try:
                    counts = await self.run_once()
                    busy = counts.total >= self.settings.dispatcher_batch_size
                except Exception:
                    # The database may be restarting: log, wait a poll, try again.
                    log.exception("dispatcher step failed")
                if busy:
                    continue
                await self._sleep(stop)
        finally:
            await self.aclose()
            log.info("dispatcher stopped")

    async def _sleep(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self.wakeup.wait())
        try:
            await asyncio.wait(
                {stopping, woken},
                timeout=self.settings.dispatcher_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopping.cancel()
            woken.cancel()
        self.wakeup.clear()

    async def run_once(self) -> StepCounts:
        counts = StepCounts()
        counts.fired = await self.fire_due_reminders()
        counts.dispatched = await self.dispatch_events()
        counts.delivered = await self.deliver_due()
        await self._maybe_measure_depth()
        await self._maybe_purge()
        return counts

    # Step 1 ---------------------------------------------------------------------------

    async def fire_due_reminders(self) -> int:
        async with self.database.session_scope() as session:
            now = self.clock()
            stmt = (
                select(Reminder)
                .where(
                    Reminder.is_completed.is_(False),
                    Reminder.next_fire_at.is_not(None),
                    Reminder.next_fire_at <= now,
                )
                .order_by(Reminder.next_fire_at)
                .limit(self.settings.dispatcher_batch_size)
            )
            reminders = (await session.scalars(claim(stmt, session))).all()
            if not reminders:
                return 0
            upcoming = await self._upcoming(reminders, now)
            rows = []
            for reminder in reminders:
                due = reminders_service.fire(reminder, now, upcoming.get(reminder.id))
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
            await session.execute(
                insert_ignoring_conflicts(session, OutboxEvent, rows, on=["dedupe_key"])
            )
            await session.flush()
            reminders_service.record_fired(session, list(reminders))
        return len(reminders)

    @staticmethod
    async def _upcoming(
        reminders: Sequence[Reminder], now: dt.datetime
    ) -> dict[uuid.UUID, dt.datetime | None]:
        """The next occurrence of each recurring reminder, expanded in a thread (CPU work
        must not stall the event loop). A rule that cannot be expanded ends there: the
        due occurrence still fires, the reminder fires no more, the loop goes on."""
        bases = {
            r.id: base
            for r in reminders
            if (base := reminders_service.next_base(r, now)) is not None
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

    # Step 2 ---------------------------------------------------------------------------

    async def dispatch_events(self) -> int:
        lease = dt.timedelta(seconds=self.settings.dispatcher_lease_seconds)
        async with self.database.session_scope() as session:
            now = self.clock()
            stmt = (
                select(OutboxEvent)
                .where(
                    OutboxEvent.dispatched_at.is_(None),
                    or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now),
                )
                .order_by(OutboxEvent.id)
                .limit(self.settings.dispatcher_batch_size)
            )
            events = (await session.scalars(claim(stmt, session))).all()
            for event in events:
                event.lease_until = now + lease
                event.attempts += 1
        if not events:
            return 0

        # Live stream first: it is the fastest channel and needs no Delivery row. A crash
        # after this may publish an event twice; clients drop an id they have seen.
        published_at = self.clock()
        for event in events:
            try:
                await self.broker.publish(event.user_id, event_payload(event))
            except Exception:
                log.exception("live publish failed", event_id=str(event.id))
                continue
            lag = (published_at - _due_at(event.data, event.created_at)).total_seconds()
            metrics.DISPATCH_LAG.labels("stream").observe(max(0.0, lag))

        async with self.database.session_scope() as session:
            now = self.clock()
            user_ids = {event.user_id for event in events}
            hooks = (
                await session.scalars(
                    select(Webhook).where(
                        Webhook.user_id.in_(user_ids), Webhook.is_active.is_(True)
                    )
                )
            ).all()
            email = mail_configured(self.settings)
            rows: list[dict[str, Any]] = []
            for event in events:
                for hook in hooks:
                    if hook.user_id == event.user_id and (
                        not hook.events or event.type in hook.events
                    ):
                        rows.append(
                            self._delivery_row(event, "webhook", str(hook.id), now, hook.id)
                        )
                if email and event.type == "reminder.due":
                    rows.append(self._delivery_row(event, "email", EMAIL_TARGET, now, None))
            if rows:
                await session.execute(
                    insert_ignoring_conflicts(session, Delivery, rows, on=["event_id", "target"])
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

    @staticmethod
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

    # Step 3 ---------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        jobs = await self._claim_deliveries()
        if not jobs:
            return 0
        semaphore = asyncio.Semaphore(self.settings.dispatcher_concurrency)

        async def attempt(job: Job) -> tuple[Job, Outcome, dt.datetime]:
            async with semaphore:
                outcome = await self._send(job)
                return job, outcome, self.clock()

        results = await asyncio.gather(*(attempt(job) for job in jobs))
        await self._record(results)
        return len(jobs)

    async def _claim_deliveries(self) -> list[Job]:
        lease = dt.timedelta(seconds=self.settings.dispatcher_lease_seconds)
        async with self.database.session_scope() as session:
            now = self.clock()
            stmt = (
                select(Delivery)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at)
                .limit(self.settings.dispatcher_batch_size)
            )
            deliveries = (await session.scalars(claim(stmt, session))).all()
            if not deliveries:
                return []
            # The lease: nobody else takes these until it runs out; if this worker dies,
            # next_attempt_at (= the lease's end) makes them due again for the others.
            for delivery in deliveries:
                delivery.lease_until = now + lease
                delivery.next_attempt_at = now + lease
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
                await self._job(session, d, events[d.event_id], hooks, emails) for d in deliveries
            ]

    async def _job(
        self,
        session: AsyncSession,
        delivery: Delivery,
        event: OutboxEvent,
        hooks: dict[uuid.UUID, Webhook],
        emails: dict[uuid.UUID, str],
    ) -> Job:
        job = Job(
            delivery_id=delivery.id,
            user_id=delivery.user_id,
            channel=delivery.channel,
            attempt=delivery.attempt_count + 1,
            due_at=_due_at(event.data, event.created_at),
            webhook_id=delivery.webhook_id,
            msg_id=str(event.id),
        )
        if delivery.channel == "webhook":
            hook = hooks.get(delivery.webhook_id) if delivery.webhook_id else None
            if hook is None or not hook.is_active:
                job.cancel_reason = "webhook disabled"
                return job
            job.url, job.secret = hook.url, hook.secret
            job.body = encode_payload(event_payload(event))
        else:
            address = emails.get(delivery.user_id)
            if address is None:
                job.cancel_reason = "account has no address"
                return job
            job.email_to = address
            try:
                job.subject, job.body = await reminders_service.due_email(session, event.data)
            except Exception as exc:
                job.fail_reason = f"message cannot be built: {type(exc).__name__}"
        return job

    async def _send(self, job: Job) -> Outcome:
        if job.cancel_reason is not None:
            return Outcome(ok=False, error=job.cancel_reason, permanent=True)
        if job.fail_reason is not None:
            return Outcome(ok=False, error=job.fail_reason, permanent=True)
        if job.channel == "webhook":
            return await send_webhook(
                self.client(),
                self.settings,
                url=job.url,
                secret=job.secret,
                msg_id=job.msg_id,
                body=job.body,
            )
        return await send_email(self.settings, to=job.email_to, subject=job.subject, body=job.body)

    async def _record(self, results: Sequence[tuple[Job, Outcome, dt.datetime]]) -> None:
        """Write a batch's outcomes in a few statements (one round trip per kind, not per row)."""
        attempts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        hooks_ok: set[uuid.UUID] = set()
        hooks_failed: dict[uuid.UUID, int] = {}
        hooks_gone: dict[uuid.UUID, str] = {}
        for job, outcome, finished in results:
            label, row = self._outcome_row(job, outcome, finished)
            metrics.DELIVERIES.labels(job.channel, label).inc()
            if label == "failed":
                # Ids only: the error may quote an address or a title.
                log.warning(
                    "delivery failed for good",
                    delivery_id=str(job.delivery_id),
                    channel=job.channel,
                    attempt=job.attempt,
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
        async with self.database.session_scope() as session:
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
            await self._update_hooks(session, hooks_ok, hooks_failed, hooks_gone)

    def _outcome_row(
        self, job: Job, outcome: Outcome, finished: dt.datetime
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
        if outcome.permanent or job.attempt >= self.settings.delivery_max_attempts:
            row["status"] = "failed"
            return "failed", row
        delay = backoff_seconds(self.settings, job.attempt)
        row["next_attempt_at"] = finished + dt.timedelta(seconds=delay)
        return "retry", row

    @staticmethod
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

    # Metrics --------------------------------------------------------------------------

    async def _maybe_purge(self) -> None:
        now = self.clock()
        if self._purged_at and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        await self.purge_old_events()

    async def purge_old_events(self) -> int:
        """Delete dispatched events past the retention (their deliveries and attempt log go
        with them), a bounded chunk at a time so no run holds locks for long."""
        cutoff = self.clock() - dt.timedelta(days=self.settings.events_retention_days)
        async with self.database.session_scope() as session:
            old = (
                select(OutboxEvent.id)
                .where(OutboxEvent.dispatched_at.is_not(None), OutboxEvent.created_at < cutoff)
                .limit(5000)
            )
            result = await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(old)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _maybe_measure_depth(self) -> None:
        now = self.clock()
        if self._depth_checked_at and now - self._depth_checked_at < QUEUE_DEPTH_EVERY:
            return
        self._depth_checked_at = now
        await self.measure_queue_depth()

    async def measure_queue_depth(self) -> dict[str, int]:
        async with self.database.read_sessionmaker() as session:
            now = self.clock()
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
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.dispatched_at.is_(None))
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


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """`vibes worker`: the dispatcher alone, until `stop` is set."""
    import vibes.models  # noqa: F401 - every table mapped, as in the API process
    from vibes.events.broker import make_broker
    from vibes.platform.redis import make_redis

    database = Database(settings)
    redis = make_redis(settings)
    # Publish-only: a worker has no stream clients of its own, so no relay is started.
    broker = make_broker(settings, redis)
    dispatcher = Dispatcher(database, settings, broker)
    try:
        await dispatcher.run(stop)
    finally:
        if redis is not None:
            await redis.aclose()
        await database.dispose()
