"""A per-user cache of computed answers that no committed write can leave stale.

Each user has a *generation*, bumped after every committed transaction that wrote
anything of theirs (`vibes.db.WROTE_USERS`, set by `recording` for every write and bumped
by the request's unit of work right after its commit, before the answer is sent). A value
is stored with the generation read *before* it was computed and served only while that
is still the current one: a value computed from a snapshot older than a commit can never
be served after that commit's bump, whichever process wrote it.

With Redis the generations and values are shared by every process (one MGET per hit);
without it both live in this process's memory, which is right for the embedded one-process
server and for several apps in one process, but not for several processes without Redis.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from vibes.config import Settings
from vibes.db import Database
from vibes.platform.metrics import CACHE_LOOKUPS
from vibes.platform.redis import key, make_redis

# Memory fallback: at most this many values, least recently used dropped first.
MEMORY_ENTRIES = 10_000
_log = structlog.get_logger(__name__)
_SEPARATOR = b"|"


class UserCache:
    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self._settings = settings
        self._redis = redis
        # Users whose bump could not reach Redis: bumped as soon as it answers again, before
        # this process reads a value, so a write made during an outage cannot leave values
        # cached before it servable afterwards.
        self._owed: set[uuid.UUID] = set()

    async def _settle(self) -> bool:
        """Pay owed bumps; False while Redis still cannot be reached."""
        if not self._owed or self._redis is None:
            return True
        users = sorted(self._owed)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.incr(self._gen_key(user_id))
                await pipe.execute()
        except RedisError:
            return False
        self._owed.difference_update(users)
        _log.info("user_cache_bumps_settled", users=len(users))
        return True

    def _gen_key(self, user_id: uuid.UUID) -> str:
        return key(self._settings, "gen", str(user_id))

    def _value_key(self, user_id: uuid.UUID, variant: str) -> str:
        return key(self._settings, "cache", str(user_id), variant)

    async def get(self, user_id: uuid.UUID, variant: str) -> tuple[bytes | None, int]:
        """(the value if it is fresh, else None; the user's current generation, to store a
        newly computed value under)."""
        value, generation = await self._get(user_id, variant)
        result = "unavailable" if generation < 0 else "miss" if value is None else "hit"
        # One series per kind of answer ("dashboard:week" counts as "dashboard").
        CACHE_LOOKUPS.labels(variant.partition(":")[0], result).inc()
        return value, generation

    async def _get(self, user_id: uuid.UUID, variant: str) -> tuple[bytes | None, int]:
        if self._redis is None:
            return _memory.get(user_id, variant)
        if not await self._settle():
            return None, -1
        try:
            raw_gen, raw_value = await self._redis.mget(
                self._gen_key(user_id), self._value_key(user_id, variant)
            )
        except RedisError:
            # Unreachable: compute afresh and store nothing (-1 is never current).
            _log.warning("user_cache_unavailable")
            return None, -1
        generation = int(raw_gen or 0)
        if raw_value is None:
            return None, generation
        raw = raw_value if isinstance(raw_value, bytes) else raw_value.encode()
        stored_gen, _, value = raw.partition(_SEPARATOR)
        return (value if int(stored_gen) == generation else None), generation

    async def put(
        self, user_id: uuid.UUID, variant: str, generation: int, value: bytes, ttl: int
    ) -> None:
        """Keep `value`, computed at `generation`, for at most `ttl` seconds."""
        if ttl <= 0 or generation < 0:
            return
        if self._redis is None:
            _memory.put(user_id, variant, generation, value, ttl)
            return
        try:
            await self._redis.set(
                self._value_key(user_id, variant),
                str(generation).encode() + _SEPARATOR + value,
                ex=ttl,
            )
        except RedisError:
            _log.warning("user_cache_unavailable")

    async def bump(self, user_ids: Iterable[uuid.UUID]) -> None:
        """Every value of these users becomes stale (call after the commit)."""
        users = sorted(set(user_ids) | self._owed)
        if not users:
            return
        if self._redis is None:
            for user_id in users:
                _memory.bump(user_id)
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.incr(self._gen_key(user_id))
                await pipe.execute()
            self._owed.clear()
        except RedisError:
            # The write is committed and must not fail now: the bump is owed, and paid
            # before this process next uses the cache.
            self._owed.update(users)
            _log.warning("user_cache_bump_failed", users=len(users))


class _Memory:
    """The in-process fallback: one per process, shared by every app in it."""

    def __init__(self) -> None:
        self.generations: dict[uuid.UUID, int] = {}
        self.values: OrderedDict[tuple[uuid.UUID, str], tuple[int, float, bytes]] = OrderedDict()

    def get(self, user_id: uuid.UUID, variant: str) -> tuple[bytes | None, int]:
        generation = self.generations.get(user_id, 0)
        found = self.values.get((user_id, variant))
        if found is None:
            return None, generation
        stored_gen, expires, value = found
        if stored_gen != generation or expires <= time.monotonic():
            del self.values[(user_id, variant)]
            return None, generation
        self.values.move_to_end((user_id, variant))
        return value, generation

    def put(
        self, user_id: uuid.UUID, variant: str, generation: int, value: bytes, ttl: int
    ) -> None:
        self.values[(user_id, variant)] = (generation, time.monotonic() + ttl, value)
        self.values.move_to_end((user_id, variant))
        while len(self.values) > MEMORY_ENTRIES:
            self.values.popitem(last=False)

    def bump(self, user_id: uuid.UUID) -> None:
        self.generations[user_id] = self.generations.get(user_id, 0) + 1


_memory = _Memory()


@asynccontextmanager
async def standalone_database(settings: Settings) -> AsyncIterator[Database]:
    """The database for a process without a runtime (the CLI): its committed writes make
    their users' cached figures stale in every process, as the app's do."""
    redis = make_redis(settings)
    cache = UserCache(settings, redis)

    async def committed(wrote: frozenset[uuid.UUID], touched: frozenset[uuid.UUID]) -> None:
        await cache.bump(wrote)

    database = Database(settings, after_commit=committed)
    try:
        yield database
    finally:
        await database.dispose()
        if redis is not None:
            await redis.aclose()
