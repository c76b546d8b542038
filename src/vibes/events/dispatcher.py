"""The dispatcher: due reminders become events, events reach their channels.

One loop (`Dispatcher.run`) runs three steps, each claiming its work in a short
transaction so several workers share it: `firing` (due reminders → `reminder.due`
events), `fanout` (events → the live stream and one delivery per channel) and `delivery`
(deliveries sent, outcomes recorded with backoff); `housekeeping` purges and measures;
`journals.reindex` re-indexes entries whose account changed its language.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from vibes.config import Settings
from vibes.db import Database, utcnow
from vibes.events import delivery, fanout, firing, housekeeping
from vibes.events.channels import Outcome
from vibes.events.delivery import Job
from vibes.events.secrets import sealing_key
from vibes.journals import reindex
from vibes.platform.broker import Broker
from vibes.platform.keys import KeyRing, load_keyring
from vibes.platform.wakeups import Wakeups

if TYPE_CHECKING:
    from vibes.events.pools import ConnectionPools

log = structlog.get_logger("vibes.events.dispatcher")

QUEUE_DEPTH_EVERY = dt.timedelta(seconds=5)
PURGE_EVERY = housekeeping.PURGE_EVERY
# Woken by the clock for the next due reminder, a dispatcher waits at least this long, so
# that a steady stream of due reminders is claimed in batches, not one by one (each step
# costs a few statements whatever its size); it adds at most this much to their lag.
BATCH_WINDOW = 0.05


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
        keyring: KeyRing | None = None,
        tls: ssl.SSLContext | None = None,
        wakeups: Wakeups | None = None,
    ) -> None:
        self.database = database
        # Opens the webhooks' sealed signing secrets; the same key ring as the API's.
        self.sealing_key = sealing_key(keyring or load_keyring(settings))
        # Injectable so tests can walk a schedule across months in a few milliseconds.
        self.clock = clock
        self.settings = settings
        self.broker = broker
        # Set by a notification that work is due now (see `vibes.platform.wakeups`).
        self.wakeup = asyncio.Event()
        self.wakeups = wakeups or Wakeups()
        # Set once the dispatcher listens for wakeups and has run its first step.
        self.ready = asyncio.Event()
        # Tests trust their own CA here; None: the public CAs (certifi's).
        self._tls = tls
        self._pools: ConnectionPools | None = None
        self._depth_checked_at: dt.datetime | None = None
        self._purged_at: dt.datetime | None = None

    @property
    def pools(self) -> ConnectionPools:
        """The webhooks' kept-alive connections, one pool per site on its vetted address
        (see `pools`): a connection never carries another site's request."""
        if self._pools is None:
            # Here, not at the top: aiohttp loads with the first webhook (see webhook_http).
            from vibes.events.pools import ConnectionPools

            self._pools = ConnectionPools(
                per_host=self.settings.webhook_connections_per_host,
                max_pools=self.settings.webhook_pools_max,
                idle_seconds=self.settings.webhook_idle_seconds,
                tls=self._tls,
            )
        return self._pools

    async def aclose(self) -> None:
        if self._pools is not None:
            await self._pools.aclose()
            self._pools = None

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until `stop` is set; the step in flight finishes first (graceful stop)."""
        log.info("dispatcher started")
        await self.wakeups.subscribe(self.wakeup)
        try:
            while not stop.is_set():
                busy = failed = False
                # Cleared before the step, not after it: a notice that arrives during
                # the step makes the next one start at once.
                self.wakeup.clear()
                try:
                    counts = await self.run_once()
                    busy = counts.total >= self.settings.dispatcher_batch_size
                except Exception:
                    # The database may be restarting, or a due reminder fails each time
                    # it is fired: log, wait a whole poll (not the window until the
                    # reminder that is still due), try again.
                    log.exception("dispatcher step failed")
                    failed = True
                self.ready.set()
                if busy:
                    continue
                await self._sleep(stop, failed=failed)
        finally:
            await self.wakeups.unsubscribe(self.wakeup)
            await self.aclose()
            log.info("dispatcher stopped")

    async def _sleep(self, stop: asyncio.Event, *, failed: bool = False) -> None:
        timeout = self.settings.dispatcher_poll_seconds if failed else await self._until_next_due()
        stopping = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self.wakeup.wait())
        try:
            await asyncio.wait(
                {stopping, woken},
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopping.cancel()
            woken.cancel()

    async def _until_next_due(self) -> float:
        """Seconds to sleep: until the next reminder falls due (reminders due by the clock
        make no notification), at most a poll, at least the batch window (a reminder
        already due fell due during the step, or is another worker's in flight)."""
        poll = self.settings.dispatcher_poll_seconds
        try:
            due = await firing.next_due_at(self.database)
        except Exception:
            log.exception("next due reminder not found")
            return poll
        if due is None:
            return poll
        wait = (due - self.clock()).total_seconds()
        return min(poll, max(wait, BATCH_WINDOW))

    async def run_once(self) -> StepCounts:
        counts = StepCounts()
        counts.fired = await self.fire_due_reminders()
        counts.dispatched = await self.dispatch_events()
        counts.delivered = await self.deliver_due()
        await self._maybe_measure_depth()
        await self._maybe_purge()
        await reindex.reindex_pending(self.database)
        if self._pools is not None:
            await self._pools.close_idle()
        return counts

    async def fire_due_reminders(self) -> int:
        return await firing.fire_due_reminders(self.database, self.settings, self.clock())

    async def dispatch_events(self) -> int:
        return await fanout.dispatch_events(self.database, self.settings, self.broker, self.clock)

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
        return await delivery.claim_deliveries(
            self.database, self.settings, self.clock(), sealing_key=self.sealing_key
        )

    async def _send(self, job: Job) -> Outcome:
        return await delivery.send(self.pools, self.settings, job)

    async def _record(self, results: Sequence[tuple[Job, Outcome, dt.datetime]]) -> None:
        await delivery.record_outcomes(self.database, self.settings, results)

    async def _maybe_purge(self) -> None:
        now = self.clock()
        if self._purged_at and now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        await housekeeping.run_purges(self.database, self.settings, now, every=PURGE_EVERY)

    async def purge_old_events(self) -> int:
        return await housekeeping.purge_old_events(self.database, self.settings, self.clock())

    async def _maybe_measure_depth(self) -> None:
        now = self.clock()
        if self._depth_checked_at and now - self._depth_checked_at < QUEUE_DEPTH_EVERY:
            return
        self._depth_checked_at = now
        await self.measure_queue_depth()

    async def measure_queue_depth(self) -> dict[str, int]:
        return await housekeeping.measure_queue_depth(self.database, self.clock())
