"""Waking the dispatcher when work becomes due now, rather than at its next poll.

A unit of work that queued an outbox event calls `notify()` once it has committed, and
every dispatcher subscribed (`subscribe(event)`) has its event set. In memory where the
dispatcher shares the writer's process (the embedded default); through Redis pub/sub
when Redis is configured; else PostgreSQL LISTEN/NOTIFY. A notification carries nothing
and may be lost (a restart, an outage): the dispatcher's poll stays as the fallback, so
a lost one costs a poll interval at most, never work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from vibes.config import Settings
from vibes.platform.redis import key, make_redis

log = structlog.get_logger("vibes.platform.wakeups")

PG_CHANNEL = "vibes_dispatch"
RETRY_SECONDS = 1.0


class Wakeups:
    """In memory: the notifier and the dispatchers share a process."""

    def __init__(self) -> None:
        self._events: set[asyncio.Event] = set()

    async def subscribe(self, event: asyncio.Event) -> None:
        """Set `event` on every notification from now on (from any process, for the
        shared kinds: subscribed when this returns)."""
        self._events.add(event)

    async def unsubscribe(self, event: asyncio.Event) -> None:
        self._events.discard(event)

    def notify(self) -> None:
        """Work is due now. Never waits and never raises: the caller has committed."""
        self._wake_local()

    def _wake_local(self) -> None:
        for event in self._events:
            event.set()

    async def stop(self) -> None:
        self._events.clear()


class SharedWakeups(Wakeups):
    """Notifications through a channel every process hears. A notification sent while
    one is in flight is folded into a single next one, so a burst of writes costs a
    message or two, not one each; a failed send wakes this process's dispatchers only."""

    def __init__(self) -> None:
        super().__init__()
        self._sending: asyncio.Task[None] | None = None
        self._again = False
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def notify(self) -> None:
        if self._sending is not None and not self._sending.done():
            self._again = True
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nobody to wake
            self._sending = asyncio.get_running_loop().create_task(
                self._send_all(), name="vibes-wakeup"
            )

    async def _send_all(self) -> None:
        while True:
            self._again = False
            try:
                await self._send()
            except Exception as exc:
                log.warning("dispatcher wakeup not sent", error=type(exc).__name__)
                self._wake_local()
            if not self._again:
                return

    async def subscribe(self, event: asyncio.Event) -> None:
        await super().subscribe(event)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="vibes-wakeups")
        # Subscribed before the dispatcher's first step, so no later notice is missed;
        # if the channel is down, the poll covers for it meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The server restarted or the network blipped: poll meanwhile, reconnect.
                log.warning("dispatcher wakeups lost their channel", error=type(exc).__name__)
            self._listening.clear()
            # Work may have been notified while nobody listened.
            self._wake_local()
            await asyncio.sleep(RETRY_SECONDS)

    async def stop(self) -> None:
        for task in (self._listener, self._sending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._listener = self._sending = None
        await self._close()
        await super().stop()

    async def _send(self) -> None:
        raise NotImplementedError

    async def _listen(self) -> None:
        """Listen until the channel fails; set `_listening` once subscribed."""
        raise NotImplementedError

    async def _close(self) -> None:
        return None


class RedisWakeups(SharedWakeups):
    def __init__(self, redis: Redis, settings: Settings) -> None:
        super().__init__()
        self._redis = redis
        self._settings = settings
        self._channel = key(settings, "dispatch")

    async def _send(self) -> None:
        await self._redis.publish(self._channel, b"")

    async def _listen(self) -> None:
        # Its own connection without a read timeout: a quiet channel is not a failure.
        listener = make_redis(self._settings, listening=True)
        assert listener is not None
        try:
            async with listener.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(self._channel)
                self._listening.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake_local()
        finally:
            await listener.aclose()


class PostgresWakeups(SharedWakeups):
    """LISTEN on a connection of its own (a pooled one would be handed to others);
    NOTIFY on another, outside any write's transaction."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        self._notifier: Any = None

    async def _send(self) -> None:
        if self._notifier is None or self._notifier.is_closed():
            self._notifier = await asyncpg.connect(self._dsn)
        try:
            await self._notifier.execute("SELECT pg_notify($1, '')", PG_CHANNEL)
        except Exception:
            with contextlib.suppress(Exception):
                await self._notifier.close()
            self._notifier = None
            raise

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(PG_CHANNEL, lambda *_: self._wake_local())
            self._listening.set()
            # asyncpg reads notifications in the background; a dead connection is
            # noticed by its termination listener, a silent one by a periodic query.
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=30)
                if not lost.is_set():
                    await asyncio.wait_for(connection.execute("SELECT 1"), timeout=10)
            raise ConnectionError("the LISTEN connection was closed")
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    async def _close(self) -> None:
        if self._notifier is not None:
            with contextlib.suppress(Exception):
                await self._notifier.close(timeout=2)
            self._notifier = None


def make_wakeups(settings: Settings, redis: Redis | None) -> Wakeups:
    if redis is not None:
        return RedisWakeups(redis, settings)
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        return PostgresWakeups(url)
    return Wakeups()
