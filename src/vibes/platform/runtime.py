"""The process runtime: what a `vibes serve` or `vibes worker` process opens at start.

One typed object, built by `vibes.runtime.open_runtime` (the one async context manager
both processes use) and stored once on the app (`install_runtime`). Code reads it with
`runtime_of(request)` or `scope_runtime(scope)`, never through untyped `app.state`
attributes. Domain machinery built with it (the vault's unlock store and limiters, say)
is a *part*: made by the context manager together with everything else, and found by
its type with `runtime.part(VaultRuntime)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from vibes.config import Settings
from vibes.db import CHECKPOINT_AFTER_COMMIT, SAFE_METHODS, Database
from vibes.platform.broker import Broker
from vibes.platform.keys import KeyRing
from vibes.platform.ratelimit import RateLimiter
from vibes.platform.replicas import RecentWriters
from vibes.platform.usercache import UserCache
from vibes.platform.wakeups import Wakeups

P = TypeVar("P")


@dataclass(slots=True, kw_only=True)
class Runtime:
    settings: Settings
    keyring: KeyRing
    database: Database
    redis: Redis | None
    ratelimiter: RateLimiter
    broker: Broker
    user_cache: UserCache
    recent_writers: RecentWriters
    # Wakes the dispatchers when a write queued an event (`Database.wake` calls it).
    wakeups: Wakeups = field(default_factory=Wakeups)
    parts: Mapping[type[Any], Any] = field(default_factory=dict)

    def part(self, kind: type[P]) -> P:
        """The part of type `kind` (a KeyError names a part the runtime was not built
        with: a wiring mistake, found by the first request that needs it)."""
        found = self.parts[kind]
        assert isinstance(found, kind)
        return found


_ATTRIBUTE = "runtime"


def install_runtime(app: Any, runtime: Runtime | None) -> None:
    """Store the runtime on the app for the lifespan (None when it closes)."""
    setattr(app.state, _ATTRIBUTE, runtime)


def maybe_runtime(app: Any) -> Runtime | None:
    """The app's runtime, or None outside its lifespan."""
    runtime = getattr(app.state, _ATTRIBUTE, None)
    return runtime if isinstance(runtime, Runtime) else None


def app_runtime(app: Any) -> Runtime:
    runtime = maybe_runtime(app)
    if runtime is None:
        raise RuntimeError("the app's runtime is not open: was the lifespan started?")
    return runtime


def scope_runtime(scope: Scope) -> Runtime:
    return app_runtime(scope["app"])


def runtime_of(request: Request) -> Runtime:
    return scope_runtime(request.scope)


CurrentRuntime = Annotated[Runtime, Depends(runtime_of)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work.

    Declared with `Depends(get_session, scope="function")` so the commit happens before the
    answer is sent: a failed commit becomes an error, never a 200 for lost data. Safe methods
    get an autocommit session (no transaction round trips); everything else one transaction.
    """
    runtime = runtime_of(request)
    database = runtime.database
    if request.method in SAFE_METHODS:
        async with database.read_sessionmaker() as session:
            yield session
        return
    # Committed, the scope bumps the cache generation of the users it wrote for and marks
    # them to read from the primary for a while (`Database.after_commit`), before the
    # answer is sent.
    async with database.session_scope() as session:
        yield session
    if session.info.pop(CHECKPOINT_AFTER_COMMIT, False):
        await database.checkpoint_wal()


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
