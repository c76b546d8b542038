"""Opening and closing a process's runtime: the one place `vibes serve`'s lifespan and
`vibes worker` build the database, Redis, the broker, the key ring and the domains'
machinery from settings (the type itself is `vibes.platform.runtime.Runtime`)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import vibes.models  # noqa: F401 - every table mapped before the first flush resolves FKs
from vibes.accounts.pats import TokenCache
from vibes.config import Settings
from vibes.db import Database
from vibes.platform.broker import make_broker
from vibes.platform.keys import KeyRing, load_keyring
from vibes.platform.ratelimit import RateLimiter
from vibes.platform.redis import make_redis
from vibes.platform.runtime import Runtime
from vibes.platform.usercache import UserCache
from vibes.vault.runtime import VaultRuntime


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, keyring: KeyRing | None = None, relay_events: bool = True
) -> AsyncIterator[Runtime]:
    """Everything a process needs, closed again in reverse order on the way out.

    `relay_events`: relay events published by other processes to this one's live-stream
    clients (an API process); a worker only publishes, so it starts no relay.
    """
    keyring = keyring or load_keyring(settings)
    database = Database(settings)
    redis = make_redis(settings)
    try:
        ratelimiter = RateLimiter.from_settings(
            settings, key=keyring.derive("rate-limits"), redis=redis
        )
        broker = make_broker(settings, redis)
        core = Runtime(
            settings=settings,
            keyring=keyring,
            database=database,
            redis=redis,
            ratelimiter=ratelimiter,
            broker=broker,
            user_cache=UserCache(settings, redis),
        )
        runtime = dataclasses.replace(
            core, parts={VaultRuntime: VaultRuntime(core), TokenCache: TokenCache()}
        )
        if relay_events:
            await broker.start()
        try:
            yield runtime
        finally:
            if relay_events:
                await broker.stop()
    finally:
        if redis is not None:
            await redis.aclose()
        await database.dispose()
