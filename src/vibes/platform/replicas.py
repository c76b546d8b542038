"""Which database answers a read: the one place that decides, per request.

With read replicas configured (`VIBES_DATABASE_REPLICA_URLS`, PostgreSQL), a safe request
(GET, HEAD, OPTIONS) is answered from a usable replica (`Database.choose_replica`: up, and
at most `VIBES_REPLICA_MAX_LAG_SECONDS` behind), fast paths included: the middleware sets
the request's replica and `Database.read_engine` / `read_sessionmaker` / `driver_slots`
follow it. Everything else, and every read when no replica is usable, goes to the primary.

Read-your-writes: a user who wrote in the last `RecentWriters.window` seconds (longer than
a usable replica can be behind, detection included) reads from the primary. Who wrote is
noted by the request's unit of work once it has committed (`platform.runtime.get_session`),
in this process and in Redis for the others; with Redis configured but unreachable nobody
can tell what other processes wrote, so every read goes to the primary until it is back.
A request without a verifiable bearer token but with cookies (a browser session: whose it
is cannot be told here) reads from the primary too, and so does a live stream (`Accept:
text/event-stream`), which outlives any check of a replica's lag.

A read that fails on its replica before any byte of the answer was sent is run again on
the primary (a read is safe to run twice); when the replica could not be reached (refused,
cut, timed out, a pooled connection it closed) it is taken out until the background check
finds it back: no failed request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from asyncpg.exceptions import InterfaceError  # type: ignore[import-untyped]
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibes.config import Settings
from vibes.db import REPLICA_CHECK_SECONDS, SAFE_METHODS, Replica
from vibes.errors import is_unavailable
from vibes.platform.ratelimit import bearer_token
from vibes.platform.redis import Outage, key

if TYPE_CHECKING:
    from vibes.platform.runtime import Runtime

_COOKIE = b"cookie"
_ACCEPT = b"accept"
_EVENT_STREAM = b"text/event-stream"
# In-process marks are pruned of expired ones when there are this many.
_PRUNE_AT = 10_000


class RecentWriters:
    """Who wrote in the last `window` seconds: in this process, and in Redis (one key per
    user, expiring by itself) for the other processes."""

    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.settings = settings
        self.enabled = bool(settings.database_replica_urls)
        # A replica is used while at most the lag bound behind, and found out within two
        # checks (one request may also still be on its way): past that, a write is on it.
        self.window = settings.replica_max_lag_seconds + 2 * REPLICA_CHECK_SECONDS + 1
        self._redis = redis
        self._local: dict[str, float] = {}
        self._outage = Outage("read-your-writes")

    def _key(self, user_id: str) -> str:
        return key(self.settings, "wrote", user_id)

    async def mark(self, user_ids: Iterable[uuid.UUID]) -> None:
        """`user_ids` just committed a write: their reads go to the primary for a while."""
        if not self.enabled:
            return
        ids = [str(user_id) for user_id in user_ids]
        if not ids:
            return
        now = time.monotonic()
        if len(self._local) > _PRUNE_AT:
            self._local = {k: v for k, v in self._local.items() if v > now}
        for user_id in ids:
            self._local[user_id] = now + self.window
        if self._redis is None:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in ids:
                    pipe.set(self._key(user_id), b"1", px=int(self.window * 1000))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._outage.failed(exc)
        else:
            self._outage.recovered()

    async def recent(self, user_id: str) -> bool:
        """Whether `user_id` wrote within the window (True when that cannot be known)."""
        deadline = self._local.get(user_id)
        if deadline is not None and deadline > time.monotonic():
            return True
        if self._redis is None:
            return False
        try:
            found = await self._redis.exists(self._key(user_id))
        except (RedisError, OSError) as exc:
            self._outage.failed(exc)
            return True
        self._outage.recovered()
        return bool(found)


def _cut_off(exc: BaseException) -> bool:
    """Whether `exc` says the replica cannot be reached (or dropped the connection)."""
    if is_unavailable(exc):
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, InterfaceError | SAInterfaceError):
            return True
        current = current.__cause__ or current.__context__
    return False


class ReadRoutingMiddleware:
    """Sends a safe request's reads to a usable replica unless its user wrote lately, and
    runs it again on the primary when that replica cannot be reached (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        identify: Callable[[str], str | None],
        runtime: Callable[[], Runtime | None],
    ) -> None:
        self.app = app
        self.identify = identify
        self.runtime = runtime

    async def _choose(self, scope: Scope, runtime: Runtime) -> Replica | None:
        for name, value in scope["headers"]:
            if name == _ACCEPT and _EVENT_STREAM in value:
                return None  # a live stream outlives any check of the replica's lag
        replica = runtime.database.choose_replica()
        if replica is None:
            return None  # none usable: no need to ask who wrote
        token = bearer_token(scope)
        if token:
            subject = self.identify(token)
            if subject is not None and await runtime.recent_writers.recent(subject):
                return None
        elif any(name == _COOKIE for name, _ in scope["headers"]):
            return None
        return replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        runtime = self.runtime()
        if runtime is None or not runtime.database.replicas:
            await self.app(scope, receive, send)
            return
        replica = await self._choose(scope, runtime)
        if replica is None:
            await self.app(scope, receive, send)
            return
        started = False
        received: list[Message] = []

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def receive_recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received.append(message)
            return message

        try:
            with runtime.database.reading_from(replica):
                await self.app(scope, receive_recording, send_tracking)
            return
        except Exception as exc:
            if started:
                raise
            # A read is safe to run twice, and the primary answers whatever the replica
            # could not: a conflict with its recovery cancelled the statement, say.
            if _cut_off(exc):
                replica.failed(exc)

        async def replay() -> Message:
            # The request body as the first attempt read it, then the client's own.
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)
