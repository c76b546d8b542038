"""Fan-out of dispatched events to the live streams of connected clients.

With Redis every process publishes to one pub/sub channel and every API process relays
what it hears to its own subscribers, so a client connected to any process gets its
events. Without Redis the broker is in memory: enough for the embedded default, where the
dispatcher runs inside the API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from redis.asyncio import Redis

from vibes.config import Settings
from vibes.platform.redis import Outage, key, make_redis

log = structlog.get_logger("vibes.platform.broker")

# A slow client must not hold the dispatcher up: past this many queued events its stream
# is ended (it reconnects and resumes with Last-Event-ID).
QUEUE_SIZE = 1000


# A message on a user's channel that is not an event: the named session was revoked, so
# its live streams end at once (pushed, rather than noticed at the next heartbeat).
CONTROL = "control"
SESSION_REVOKED = "session.revoked"


def revocation_notice(session_id: uuid.UUID) -> dict[str, Any]:
    return {CONTROL: SESSION_REVOKED, "session_id": str(session_id)}


class Subscription:
    """One client's queue of events (dicts as sent on the wire)."""

    def __init__(self, user_id: uuid.UUID) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def put(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self, wait: float) -> dict[str, Any] | None:
        """The next event, or None when `wait` seconds pass first."""
        try:
            async with asyncio.timeout(wait):
                return await self.queue.get()
        except TimeoutError:
            return None


class Broker:
    """In-memory fan-out; the base of the Redis broker too."""

    is_shared = False

    def __init__(self) -> None:
        self._subscribers: dict[uuid.UUID, set[Subscription]] = {}

    @property
    def relaying(self) -> bool:
        """Whether published events reach this process's clients now (in memory: always;
        through Redis: while its subscription holds)."""
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, user_id: uuid.UUID, event: dict[str, Any]) -> None:
        self._deliver_local(user_id, event)

    def _deliver_local(self, user_id: uuid.UUID, event: dict[str, Any]) -> None:
        for subscription in list(self._subscribers.get(user_id, ())):
            subscription.put(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: uuid.UUID) -> AsyncIterator[Subscription]:
        subscription = Subscription(user_id)
        self._subscribers.setdefault(user_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(user_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[user_id]


class RedisBroker(Broker):
    """Publishes through Redis pub/sub; one listener per process relays to local clients."""

    is_shared = True

    def __init__(self, redis: Redis, settings: Settings) -> None:
        super().__init__()
        self._redis = redis
        self._settings = settings
        self._channel = key(settings, "events")
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._subscribed = False
        self._outage = Outage("event relay")

    @property
    def relaying(self) -> bool:
        # While Redis is away, live streams read the outbox themselves (see events).
        return self._subscribed

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="vibes-event-relay")
            # Subscribed before the app answers, so no event published later is missed.
            await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, user_id: uuid.UUID, event: dict[str, Any]) -> None:
        message = json.dumps({"user_id": str(user_id), "event": event}, separators=(",", ":"))
        try:
            await self._redis.publish(self._channel, message)
        except Exception as exc:
            # Not lost: the event is in the outbox, and streams read it from there while
            # their process's relay is down. This process's own clients get it now.
            self._outage.failed(exc)
            self._deliver_local(user_id, event)
        else:
            self._outage.recovered()

    async def _listen(self) -> None:
        # Its own connection without a read timeout: a quiet channel is not a failure.
        listener = make_redis(self._settings, listening=True)
        assert listener is not None
        try:
            while True:
                try:
                    async with listener.pubsub(ignore_subscribe_messages=True) as pubsub:
                        await pubsub.subscribe(self._channel)
                        self._subscribed = True
                        self._ready.set()
                        async for message in pubsub.listen():
                            self._relay(message)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Redis restarted or the network blipped: until the relay is back,
                    # streams poll the outbox (nothing is missed); it reconnects itself.
                    self._subscribed = False
                    self._ready.set()
                    log.warning("event relay lost its Redis subscription", error=str(exc))
                    await asyncio.sleep(1)
        finally:
            self._subscribed = False
            await listener.aclose()

    def _relay(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            body = json.loads(message["data"])
            user_id = uuid.UUID(body["user_id"])
            event = body["event"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed event message")
            return
        self._deliver_local(user_id, event)


def make_broker(settings: Settings, redis: Redis | None) -> Broker:
    if redis is not None:
        return RedisBroker(redis, settings)
    return Broker()
