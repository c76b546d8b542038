"""Is this access token's session alive? The check every authenticated request makes.

Without Redis the database answers every time: an in-process cache could keep a revoked
session alive in the other processes, so there is none.

With Redis, one key per session (`session:<sid>`) answers most checks:
- a live session found in the database is cached as its user id for at most
  `session_cache_seconds` with SET NX (never overwriting a tombstone);
- revoking writes a tombstone (`0`) over it, before the revoking transaction commits, and
  keeps it longer than any racing reader could still be writing its NX entry.
So a reader that checked the database just before a revocation cannot re-cache the
session afterwards, and every revocation made through `revoke` bites at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import Iterable

import structlog
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, Select, Subquery, Uuid, bindparam, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import AuthSession
from vibes.accounts.tokens import AccessClaims
from vibes.config import Settings
from vibes.db import Bound, UTCDateTime, utcnow
from vibes.platform.broker import revocation_notice
from vibes.platform.redis import key as redis_key
from vibes.platform.runtime import Runtime

log = structlog.get_logger("vibes.sessions")

REVOKED = b"0"
SESSION_DEAD = "The access token is invalid or has expired."


@functools.cache
def _alive_clause() -> ColumnElement[bool]:
    return (
        (AuthSession.id == bindparam("claims_session_id", type_=Uuid()))
        & (AuthSession.user_id == bindparam("claims_user_id", type_=Uuid()))
        & AuthSession.revoked_at.is_(None)
        & (AuthSession.expires_at > bindparam("now", type_=UTCDateTime()))
    )


def session_alive(claims: AccessClaims) -> Bound:
    """THE session-alive rule: true when the claims' session exists, is the user's, and is
    neither revoked nor expired. Its clause is fixed, so hot reads fold it into statements
    they build once (see `live_session_row`)."""
    return Bound(
        _alive_clause(),
        {
            "claims_session_id": claims.session_id,
            "claims_user_id": claims.user_id,
            "now": utcnow(),
        },
    )


@functools.cache
def live_session_row() -> Subquery:
    """The token's live session as a one-row subquery `alive(live_session_id)` (no row:
    dead): LEFT JOIN a read to it and one round trip checks both. Run with
    `session_alive(claims).params`."""
    return select(AuthSession.id.label("live_session_id")).where(_alive_clause()).subquery("alive")


def _cache_key(settings: Settings, session_id: uuid.UUID) -> str:
    return redis_key(settings, "session", session_id.hex)


def _tombstone_seconds(settings: Settings) -> int:
    # Outlives every access token of the session and any reader's in-flight NX write.
    return settings.access_token_minutes * 60 + settings.session_cache_seconds + 60


async def is_session_active(runtime: Runtime, db: AsyncSession, claims: AccessClaims) -> bool:
    settings, redis = runtime.settings, runtime.redis
    if redis is None:
        return await _alive_until(db, claims) is not None
    cache_key = _cache_key(settings, claims.session_id)
    try:
        cached = await redis.get(cache_key)
    except RedisError:
        cached = None
    if cached == REVOKED:
        return False
    if cached is not None:
        return bool(cached == claims.user_id.bytes)
    alive_until = await _alive_until(db, claims)
    if alive_until is None:
        return False
    ttl = min(settings.session_cache_seconds, int((alive_until - utcnow()).total_seconds()))
    if ttl >= 1:
        with contextlib.suppress(RedisError):
            await redis.set(cache_key, claims.user_id.bytes, ex=ttl, nx=True)
    return True


@functools.cache
def _alive_until_statement() -> Select[dt.datetime]:
    """Built once: SQLAlchemy then finds its compiled form in its cache every request."""
    return select(AuthSession.expires_at).where(_alive_clause())


async def _alive_until(db: AsyncSession, claims: AccessClaims) -> dt.datetime | None:
    found: dt.datetime | None = await db.scalar(
        _alive_until_statement(), session_alive(claims).params
    )
    return found


async def forget(runtime: Runtime, session_ids: Iterable[uuid.UUID]) -> None:
    """Tombstone sessions in the cache (call before the revoking commit)."""
    redis = runtime.redis
    ids = list(session_ids)
    if redis is None or not ids:
        return
    settings = runtime.settings
    ttl = _tombstone_seconds(settings)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.set(_cache_key(settings, session_id), REVOKED, ex=ttl)
            await pipe.execute()
    except RedisError:
        # The database revocation still commits; cached "alive" entries run out within
        # session_cache_seconds. Readers that cannot reach Redis ask the database.
        log.error("could not tombstone revoked sessions in Redis", count=len(ids))


async def revoke(
    runtime: Runtime, db: AsyncSession, where: ColumnElement[bool], *, reason: str
) -> list[uuid.UUID]:
    """Revoke the live sessions matching `where`; their access tokens fail at once."""
    now = utcnow()
    result = await db.execute(
        update(AuthSession)
        .where(where, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
        .values(revoked_at=now, revoked_reason=reason)
        .returning(AuthSession.id, AuthSession.user_id)
        .execution_options(synchronize_session=False)
    )
    revoked = [(row.id, row.user_id) for row in result]
    ids = [session_id for session_id, _ in revoked]
    await forget(runtime, ids)
    announce_after_commit(runtime, db, revoked)
    return ids


# Publishing tasks in flight (a task only weakly referenced by the loop may be collected).
_ANNOUNCING: set[asyncio.Task[None]] = set()


def announce_after_commit(
    runtime: Runtime, db: AsyncSession, revoked: list[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    """Once `db` commits, tell the sessions' live streams (through the broker, so those of
    every process) that they are revoked: they end at once. Not before the commit: a
    stream that ended early would reconnect on a session that is still alive."""
    if not revoked:
        return

    def publish(_session: object) -> None:
        # Runs inside the awaited commit, on the event loop's thread.
        loop = asyncio.get_running_loop()
        for session_id, user_id in revoked:
            task = loop.create_task(runtime.broker.publish(user_id, revocation_notice(session_id)))
            _ANNOUNCING.add(task)
            task.add_done_callback(_ANNOUNCING.discard)

    event.listen(db.sync_session, "after_commit", publish, once=True)
