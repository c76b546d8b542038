"""Refresh rotation, reuse detection, logout, and the per-device sessions list."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.accounts.conftest import age_spent_refresh_tokens, audit_rows, bearer, sign_in, sign_up
from tests.factories import make_authed_user
from vibes.accounts.models import AuthSession, RefreshToken
from vibes.db import Database
from vibes.platform.models import IdempotencyKey

REFRESH = "/api/v1/auth/refresh"
SESSIONS = "/api/v1/auth/sessions"
ME = "/api/v1/users/me"


async def test_refresh_rotates_the_pair_and_spends_the_old_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    first = account.tokens
    response = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer"
    assert (await client.get(ME, headers=bearer(second))).status_code == 200
    # Only hashes are stored.
    async with database.session_scope() as s:
        hashes = set(await s.scalars(select(RefreshToken.token_hash)))
    assert hashlib.sha256(second["refresh_token"].encode()).digest() in hashes
    assert all(second["refresh_token"].encode() not in h for h in hashes)
    # And the next rotation works from the new one.
    third = await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


async def test_reusing_spent_refresh_token_revokes_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    stolen = account.tokens["refresh_token"]
    rotated = (await client.post(REFRESH, json={"refresh_token": stolen})).json()
    assert (await client.get(ME, headers=bearer(rotated))).status_code == 200
    await age_spent_refresh_tokens(database)  # past the grace window for retries

    reuse = await client.post(REFRESH, json={"refresh_token": stolen})
    assert reuse.status_code == 401
    assert reuse.headers["content-type"].startswith("application/problem+json")

    # The whole session is gone: its newest access and refresh tokens fail too.
    assert (await client.get(ME, headers=bearer(rotated))).status_code == 401
    again = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    [row] = await audit_rows(database, "auth.refresh.reused")
    assert row.user_id == account.user_id
    async with database.session_scope() as s:
        reasons = list(await s.scalars(select(AuthSession.revoked_reason)))
    assert reasons == ["refresh_token_reuse"]


async def test_reuse_revokes_only_that_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    laptop = await sign_in(client, account.email, account.password, "laptop")
    stolen = account.tokens["refresh_token"]
    await client.post(REFRESH, json={"refresh_token": stolen})
    await age_spent_refresh_tokens(database)
    await client.post(REFRESH, json={"refresh_token": stolen})
    assert (await client.get(ME, headers=bearer(laptop))).status_code == 200


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(REFRESH, json={"refresh_token": "x" * 43})
    assert response.status_code == 401


async def test_logout_signs_the_device_out_and_is_idempotent(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    body = {"refresh_token": account.tokens["refresh_token"]}
    assert (
        await client.post("/api/v1/auth/logout", json=body, headers=account.headers)
    ).status_code == 204
    assert (await client.get(ME, headers=account.headers)).status_code == 401
    assert (await client.post(REFRESH, json=body)).status_code == 401
    assert (await client.post("/api/v1/auth/logout", json=body)).status_code == 204


async def test_logout_with_the_refresh_token_alone_works(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    assert (await client.get(ME, headers=account.headers)).status_code == 200
    body = {"refresh_token": account.tokens["refresh_token"]}
    assert (await client.post("/api/v1/auth/logout", json=body)).status_code == 204
    assert (await client.get(ME, headers=account.headers)).status_code == 401


async def test_sessions_list_marks_the_current_device(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    phone = await sign_in(client, account.email, account.password, "phone")
    response = await client.get(SESSIONS, headers=bearer(phone))
    assert response.status_code == 200
    items = response.json()
    assert len(items) == 2
    assert set(items[0]) >= {"id", "device_name", "created_at", "last_used_at", "current"}
    current = [item for item in items if item["current"]]
    assert len(current) == 1
    assert current[0]["device_name"] == "phone"


async def test_deleting_a_session_signs_that_device_out_at_once(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    phone = await sign_in(client, account.email, account.password, "phone")
    assert (await client.get(ME, headers=bearer(phone))).status_code == 200
    items = (await client.get(SESSIONS, headers=account.headers)).json()
    [phone_session] = [item for item in items if item["device_name"] == "phone"]

    response = await client.delete(f"{SESSIONS}/{phone_session['id']}", headers=account.headers)
    assert response.status_code == 204
    assert (await client.get(ME, headers=bearer(phone))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    ).status_code == 401
    assert (await client.get(ME, headers=account.headers)).status_code == 200
    again = await client.delete(f"{SESSIONS}/{phone_session['id']}", headers=account.headers)
    assert again.status_code == 404


async def test_another_users_session_is_404_like_a_missing_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await sign_up(client)
    stranger = await make_authed_user(app)
    theirs = await client.delete(f"{SESSIONS}/{stranger.session_id}", headers=account.headers)
    missing = await client.delete(
        f"{SESSIONS}/01900000-0000-7000-8000-000000000000", headers=account.headers
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert (await client.get(ME, headers=stranger.headers)).status_code == 200


async def test_session_revocation_is_audited(client: httpx.AsyncClient, database: Database) -> None:
    account = await sign_up(client)
    phone = await sign_in(client, account.email, account.password, "phone")
    items = (await client.get(SESSIONS, headers=bearer(phone))).json()
    [other] = [item for item in items if not item["current"]]
    await client.delete(f"{SESSIONS}/{other['id']}", headers=bearer(phone))
    [row] = await audit_rows(database, "auth.session.revoked")
    assert row.user_id == account.user_id
    assert row.details == {"session_id": other["id"]}


# --- retries: Idempotency-Key and the grace window ------------------------------------


async def test_refresh_retried_with_same_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    body = {"refresh_token": account.tokens["refresh_token"]}
    headers = {"Idempotency-Key": "refresh-retry-1"}
    first = await client.post(REFRESH, json=body, headers=headers)
    assert first.status_code == 200
    await age_spent_refresh_tokens(database)  # even past the grace window
    again = await client.post(REFRESH, json=body, headers=headers)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    pair = first.json()
    assert (await client.get(ME, headers=bearer(pair))).status_code == 200
    assert (
        await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    ).status_code == 200
    async with database.session_scope() as s:
        assert list(await s.scalars(select(AuthSession.revoked_at))) == [None]
        stored = b"".join(
            row or b"" for row in await s.scalars(select(IdempotencyKey.response_body))
        )
    # The replayable answer holds live tokens: kept sealed, not as they are.
    assert pair["refresh_token"].encode() not in stored
    assert pair["access_token"].encode() not in stored


async def test_refresh_retried_within_grace_gets_the_same_refresh_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    body = {"refresh_token": account.tokens["refresh_token"]}
    first = await client.post(REFRESH, json=body)
    retry = await client.post(REFRESH, json=body)  # the first answer was lost
    assert first.status_code == retry.status_code == 200
    assert retry.json()["refresh_token"] == first.json()["refresh_token"]
    assert (await client.get(ME, headers=bearer(retry.json()))).status_code == 200
    async with database.session_scope() as s:
        assert list(await s.scalars(select(AuthSession.revoked_at))) == [None]
        unspent = list(
            await s.scalars(select(RefreshToken.id).where(RefreshToken.used_at.is_(None)))
        )
    assert len(unspent) == 1  # a retry adds no second live token
    nxt = await client.post(REFRESH, json={"refresh_token": retry.json()["refresh_token"]})
    assert nxt.status_code == 200


async def test_spent_token_within_grace_after_successor_was_used_revokes(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    stolen = account.tokens["refresh_token"]
    rotated = (await client.post(REFRESH, json={"refresh_token": stolen})).json()
    moved_on = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert moved_on.status_code == 200
    # The owner has moved on: the old token again is a reuse even seconds later.
    reuse = await client.post(REFRESH, json={"refresh_token": stolen})
    assert reuse.status_code == 401
    assert (await client.get(ME, headers=bearer(moved_on.json()))).status_code == 401


async def test_concurrent_refreshes_with_one_token_keep_the_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    body = {"refresh_token": account.tokens["refresh_token"]}
    answers = await asyncio.gather(*(client.post(REFRESH, json=body) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.json()["refresh_token"] for a in answers}) == 1
    async with database.session_scope() as s:
        assert list(await s.scalars(select(AuthSession.revoked_at))) == [None]
