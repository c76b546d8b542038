"""Idempotency-Key on POST: replay, mismatch, per-user keys, concurrency, failures, expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update

from tests.factories import AuthedUser, make_authed_user
from vibes.accounts.dependencies import CurrentPrincipal
from vibes.db import Database, utcnow
from vibes.errors import Unprocessable
from vibes.platform.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKeyHeader,
    fingerprint,
    idempotent,
    purge_expired,
)
from vibes.platform.models import AuditLog, IdempotencyKey
from vibes.platform.runtime import DbSession

PATH = "/api/v1/_probe/things"


class ThingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    fail: bool = False


class ProbeState:
    failures_left = 0


@pytest.fixture
def probe_app(app: FastAPI) -> FastAPI:
    state = ProbeState()
    app.state.probe = state

    @app.post(PATH, status_code=201)
    async def create(
        request: Request,
        body: ThingCreate,
        principal: CurrentPrincipal,
        db: DbSession,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        async def produce() -> Response:
            row = AuditLog(user_id=principal.user_id, action="probe", details={"n": body.name})
            db.add(row)
            await db.flush()
            # Not a wait for anything: a production step that takes a while, so that
            # concurrent duplicates are likely to arrive while this one is in progress.
            # (Arriving later is fine too: they then replay the stored answer.)
            await asyncio.sleep(0.05)
            if state.failures_left > 0:
                state.failures_left -= 1
                raise Unprocessable("the probe was told to fail")
            return JSONResponse(
                {"id": str(row.id), "name": body.name},
                status_code=201,
                headers={"Location": f"{PATH}/{row.id}", "ETag": '"1"'},
            )

        return await idempotent(
            db, user_id=principal.user_id, key=idempotency_key, request=request, produce=produce
        )

    return app


async def _count(database: Database, user: AuthedUser) -> int:
    async with database.read_sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.user_id == user.id)
            )
            or 0
        )


def _post(c: httpx.AsyncClient, user: AuthedUser, key: str | None, body: Any) -> Any:
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return c.post(PATH, json=body, headers=headers)


async def test_replay_returns_first_status_body_and_headers(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    first = await _post(client, user, "k-1", {"name": "a"})
    second = await _post(client, user, "k-1", {"name": "a"})
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    for header in ("location", "etag", "content-type"):
        assert second.headers[header] == first.headers[header]
    assert second.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert await _count(database, user) == 1


async def test_same_body_in_other_key_order_still_replays(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    first = await client.post(
        PATH,
        content=b'{"name": "a", "fail": false}',
        headers={**user.headers, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    second = await client.post(
        PATH,
        content=b'{"fail":false,"name":"a"}',
        headers={**user.headers, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert second.content == first.content
    assert await _count(database, user) == 1


async def test_same_key_with_other_body_is_422_and_writes_nothing(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    await _post(client, user, "k-2", {"name": "a"})
    other = await _post(client, user, "k-2", {"name": "b"})
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await _count(database, user) == 1


async def test_keys_are_per_user(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_authed_user(probe_app)
    bob = await make_authed_user(probe_app)
    a = await _post(client, alice, "shared", {"name": "a"})
    b = await _post(client, bob, "shared", {"name": "a"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert REPLAYED_HEADER not in b.headers


async def test_without_a_key_every_post_acts(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    await _post(client, user, None, {"name": "a"})
    await _post(client, user, None, {"name": "a"})
    assert await _count(database, user) == 2


async def test_ten_concurrent_identical_requests_act_once(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    answers = await asyncio.gather(
        *(_post(client, user, "burst", {"name": "same"}) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [201] * 10
    assert len({a.content for a in answers}) == 1
    assert sum(REPLAYED_HEADER in a.headers for a in answers) == 9
    assert await _count(database, user) == 1
    async with database.read_sessionmaker() as session:
        keys = await session.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.user_id == user.id)
        )
    assert keys == 1


async def test_failed_first_attempt_does_not_poison_the_key(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    probe_app.state.probe.failures_left = 1
    failed = await _post(client, user, "retry-me", {"name": "a"})
    retried = await _post(client, user, "retry-me", {"name": "a"})
    replayed = await _post(client, user, "retry-me", {"name": "a"})
    assert failed.status_code == 422
    assert retried.status_code == 201
    assert REPLAYED_HEADER not in retried.headers
    assert replayed.content == retried.content
    assert await _count(database, user) == 1


async def test_invalid_body_with_key_writes_nothing_and_keeps_key_free(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    bad = await _post(client, user, "k-bad", {"name": "a", "unknown": 1})
    good = await _post(client, user, "k-bad", {"name": "a"})
    assert bad.status_code == 422
    assert good.status_code == 201
    assert await _count(database, user) == 1


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 256])
async def test_malformed_key_is_422(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database, key: str
) -> None:
    user = await make_authed_user(probe_app)
    response = await client.post(
        PATH,
        json={"name": "a"},
        headers={**user.headers, "Idempotency-Key": key.encode()},
    )
    assert response.status_code == 422
    assert await _count(database, user) == 0


async def test_expired_key_acts_again_and_purge_removes_old_keys(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(probe_app)
    first = await _post(client, user, "old", {"name": "a"})
    async with database.session_scope() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == user.id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    again = await _post(client, user, "old", {"name": "b"})
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert await _count(database, user) == 2
    async with database.session_scope() as session:
        assert await purge_expired(session, utcnow() + dt.timedelta(hours=25)) == 1


def test_fingerprint_depends_on_method_path_query_and_body() -> None:
    base = fingerprint("POST", "/a", "", b'{"x": 1}')
    assert base == fingerprint("post", "/a", "", b'{ "x" : 1 }')
    assert base != fingerprint("POST", "/b", "", b'{"x": 1}')
    assert base != fingerprint("POST", "/a", "q=1", b'{"x": 1}')
    assert base != fingerprint("POST", "/a", "", b'{"x": 2}')
    assert fingerprint("POST", "/a", "", b"not json") != base
