"""Tight limits on phrase (and destroy-password) attempts, per account and per address.

Kept behind one small function (`check_phrase_attempt`) so it can move onto the shared
platform limiter without touching the routes. Every attempt counts, right or wrong:
counting only failures would let many concurrent guesses pass the check before the first
failure is recorded.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from vibes.config import Settings
from vibes.errors import TooManyRequests

PER_ACCOUNT: tuple[RateLimitItem, ...] = (parse("10/minute"), parse("50/hour"))
PER_ADDRESS: tuple[RateLimitItem, ...] = (parse("30/minute"), parse("200/hour"))


class PhraseLimiter:
    def __init__(self, settings: Settings, redis: Redis | None, *, key: bytes) -> None:
        self.enabled = settings.rate_limits_enabled
        self._key = key
        storage: Storage
        if redis is not None and settings.redis_url:
            # The app's own connection pool: closed with the app, no second pool to leak.
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=settings.redis_prefix + "vault-limits",
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)

    def _ident(self, value: str) -> str:
        # A keyed hash: the limiter's storage (Redis) never holds a user id or an address.
        return hashlib.blake2b(value.encode(), key=self._key, digest_size=16).hexdigest()

    async def hit(self, scope: str, *, user_id: uuid.UUID, address: str | None) -> None:
        """Count one attempt; raise 429 (with Retry-After) once either budget is spent."""
        if not self.enabled:
            return
        account, place = self._ident(f"u:{user_id}"), self._ident(f"a:{address or 'unknown'}")
        checks = [(item, ("account", account)) for item in PER_ACCOUNT]
        checks += [(item, ("address", place)) for item in PER_ADDRESS]
        for item, ids in checks:
            if not await self._limiter.hit(item, scope, *ids):
                stats = await self._limiter.get_window_stats(item, scope, *ids)
                raise TooManyRequests(math.ceil(stats.reset_time - time.time()))
