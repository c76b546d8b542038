"""Tight limits on phrase (and destroy-password) attempts, per account and per address.

Kept behind one small function (`check_phrase_attempt`) so it can move onto the shared
platform limiter without touching the routes. Every attempt counts, right or wrong:
counting only failures would let many concurrent guesses pass the check before the first
failure is recorded.
"""

from __future__ import annotations

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
    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.enabled = settings.rate_limits_enabled
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

    async def hit(self, scope: str, *, user_id: uuid.UUID, address: str | None) -> None:
        """Count one attempt; raise 429 (with Retry-After) once either budget is spent."""
        if not self.enabled:
            return
        checks = [(item, ("account", str(user_id))) for item in PER_ACCOUNT]
        checks += [(item, ("address", address or "unknown")) for item in PER_ADDRESS]
        for item, ids in checks:
            if not await self._limiter.hit(item, scope, *ids):
                stats = await self._limiter.get_window_stats(item, scope, *ids)
                raise TooManyRequests(math.ceil(stats.reset_time - time.time()))
