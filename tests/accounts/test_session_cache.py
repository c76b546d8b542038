"""The live-session check: correct first, with or without Redis, under concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.accounts.conftest import STRONG_PASSWORD, sign_up
from tests.conftest import Backend
from tests.factories import make_authed_user
from vibes.accounts import sessions, users
from vibes.accounts.models import AuthSession, PasswordResetToken, RefreshToken
from vibes.accounts.tokens import decode_access_token
from vibes.db import Database, utcnow
from vibes.platform.runtime import app_runtime

ME = "/api/v1/users/me"


async def test_without_redis_nothing_is_cached_in_process(
    app: FastAPI, client: httpx.AsyncClient, backend: Backend
) -> None:
    """Another process revoking (here: a bare UPDATE) is seen by the very next request."""
    if backend.redis_url is not None:
        pytest.skip("the in-process case")
    user = await make_authed_user(app)
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    async with app_runtime(app).database.session_scope() as s:
        await s.execute(update(AuthSession).values(revoked_at=utcnow()))
    assert (await client.get(ME, headers=user.headers)).status_code == 401


async def test_redis_cache_is_tombstoned_on_revoke(
    app: FastAPI, client: httpx.AsyncClient, backend: Backend
) -> None:
    if backend.redis_url is None:
        pytest.skip("needs Redis")
    user = await make_authed_user(app)
    claims = decode_access_token(
        app_runtime(app).keyring, app_runtime(app).settings, user.access_token
    )
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    key = app_runtime(app).settings.redis_prefix + "session:" + user.session_id.hex
    assert await app_runtime(app).redis.get(key) == user.id.bytes
    async with app_runtime(app).database.session_scope() as s:
        await sessions.revoke(app_runtime(app), s, AuthSession.id == user.session_id, reason="test")
    assert await app_runtime(app).redis.get(key) == sessions.REVOKED
    assert (
        await app_runtime(app).redis.ttl(key) > app_runtime(app).settings.access_token_minutes * 60
    )
    async with app_runtime(app).database.read_sessionmaker() as s:
        assert not await sessions.is_session_active(app_runtime(app), s, claims)
    assert (await client.get(ME, headers=user.headers)).status_code == 401


async def test_a_late_reader_cannot_recache_a_revoked_session(
    app: FastAPI, backend: Backend
) -> None:
    """A reader that saw the session alive in the database just before the revocation
    committed must not write "alive" over the tombstone afterwards."""
    if backend.redis_url is None:
        pytest.skip("needs Redis")
    user = await make_authed_user(app)
    claims = decode_access_token(
        app_runtime(app).keyring, app_runtime(app).settings, user.access_token
    )
    # The revoker tombstones first (its transaction has not committed yet)...
    await sessions.forget(app_runtime(app), [user.session_id])
    # ...so the database still says "alive" to this reader, who must not cache it.
    async with app_runtime(app).database.read_sessionmaker() as s:
        assert not await sessions.is_session_active(app_runtime(app), s, claims)
    key = app_runtime(app).settings.redis_prefix + "session:" + user.session_id.hex
    assert await app_runtime(app).redis.get(key) == sessions.REVOKED


async def test_concurrent_registrations_of_one_address_make_one_account(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "twice@example.com", "password": STRONG_PASSWORD}
    answers = await asyncio.gather(
        *(client.post("/api/v1/auth/register", json=body) for _ in range(3))
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409]


async def test_purge_expired_removes_dead_sessions_and_reset_tokens(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    await client.post("/api/v1/auth/password-reset", json={"email": account.email})
    later = utcnow() + dt.timedelta(days=365)
    async with database.session_scope() as s:
        assert await users.purge_expired(s) == 0
    async with database.session_scope() as s:
        assert await users.purge_expired(s, now=later) == 2
    async with database.session_scope() as s:
        for model in (AuthSession, RefreshToken, PasswordResetToken):
            assert await s.scalar(select(func.count()).select_from(model)) == 0
