"""Opening and closing a process's runtime: the one place `vibes serve`'s lifespan and
`vibes worker` build the database, Redis, the broker, the key ring and the domains'
machinery from settings (the type itself is `vibes.platform.runtime.Runtime`)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import vibes.models  # noqa: F401 - every table mapped before the first flush resolves FKs
from vibes.accounts.pats import TokenCache
from vibes.config import Settings
from vibes.db import Database
from vibes.platform import metrics
from vibes.platform.broker import make_broker
from vibes.platform.keys import KeyRing, load_keyring
from vibes.platform.ratelimit import RateLimiter
from vibes.platform.redis import make_redis
from vibes.platform.replicas import RecentWriters
from vibes.platform.runtime import Runtime
from vibes.platform.usercache import UserCache
from vibes.platform.wakeups import make_wakeups
from vibes.vault.runtime import VaultRuntime


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    keyring: KeyRing | None = None,
    relay_events: bool = True,
    serves_reads: bool = True,
) -> AsyncIterator[Runtime]:
    """Everything a process needs, closed again in reverse order on the way out.

    `relay_events`: relay events published by other processes to this one's live-stream
    clients (an API process); a worker only publishes, so it starts no relay.
    `serves_reads`: requests may read from replicas, so they are checked in the background
    (an API process); a worker reads and writes on the primary only.
    """
    keyring = keyring or load_keyring(settings)
    redis = make_redis(settings)
    user_cache = UserCache(settings, redis)
    recent_writers = RecentWriters(settings, redis)

    async def committed(wrote: frozenset[uuid.UUID], touched: frozenset[uuid.UUID]) -> None:
        # Their cached figures are stale from now on, and their reads go to the primary
        # until every replica has the write.
        await user_cache.bump(wrote)
        await recent_writers.mark(touched)

    database = Database(settings, after_commit=committed)
    metrics.instrument(database)
    try:
        ratelimiter = RateLimiter.from_settings(
            settings, key=keyring.derive("rate-limits"), redis=redis
        )
        broker = make_broker(settings, redis)
        wakeups = make_wakeups(settings, redis)
        database.wake = wakeups.notify
        core = Runtime(
            settings=settings,
            keyring=keyring,
            database=database,
            redis=redis,
            ratelimiter=ratelimiter,
            broker=broker,
            user_cache=user_cache,
            recent_writers=recent_writers,
            wakeups=wakeups,
        )
        runtime = dataclasses.replace(
            core, parts={VaultRuntime: VaultRuntime(core), TokenCache: TokenCache()}
        )
        if relay_events:
            await broker.start()
        watch_stop = asyncio.Event()
        watcher = None
        if database.replicas and serves_reads:
            await database.check_replicas()  # reads go to a replica from the first request
            watcher = asyncio.create_task(
                database.watch_replicas(watch_stop), name="vibes-replica-checks"
            )
        sampler = None
        if metrics.multiprocess_mode():
            sampler = asyncio.create_task(
                metrics.sample_pools(watch_stop), name="vibes-pool-sampler"
            )
        try:
            yield runtime
        finally:
            watch_stop.set()
            for task in (watcher, sampler):
                if task is not None:
                    await task
            if relay_events:
                await broker.stop()
            database.wake = None
            await wakeups.stop()
    finally:
        if redis is not None:
            await redis.aclose()
        await database.dispose()
