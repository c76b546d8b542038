"""Abandoned requests over real HTTP: a client that disconnects mid-request.

A create whose whole request reached the server is a write the server received: it
commits even when nobody is left to read the answer. The client's retry with the same
`Idempotency-Key` must then replay that answer, never write a second entry. A request
whose body never arrived whole writes nothing, and its key stays free.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.events.servers import serving
from tests.factories import AuthedUser, make_authed_user
from tests.waiting import wait_until
from vibes.db import Database
from vibes.journals.models import Journal
from vibes.platform.idempotency import REPLAYED_HEADER
from vibes.platform.models import IdempotencyKey
from vibes.platform.runtime import app_runtime

# Real servers on loopback.
pytestmark = pytest.mark.slow

PATH = "/api/v1/journals"


def _raw_request(user: AuthedUser, key: str, body: bytes, *, send: int | None = None) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {user.access_token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Idempotency-Key: {key}\r\n"
        "\r\n"
    ).encode()
    return head + body[: len(body) if send is None else send]


async def _send_and_vanish(port: int, payload: bytes) -> None:
    """Write the bytes and close the connection at once, without reading a byte."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _count(database: Database, user_id: uuid.UUID) -> int:
    async with database.session_scope() as db:
        n = await db.scalar(
            select(func.count()).select_from(Journal).where(Journal.user_id == user_id)
        )
    return int(n or 0)


def _headers(user: AuthedUser, key: str) -> dict[str, str]:
    return user.headers | {"Idempotency-Key": key, "Content-Type": "application/json"}


def _entry(n: int) -> bytes:
    # Large enough that the server is still at work when the client has gone.
    return json.dumps(
        {"title": f"Left behind {n}", "content": "word " * 50_000, "tags": ["a", "b"]}
    ).encode()


async def test_a_retry_of_an_abandoned_create_replays_it(app: FastAPI) -> None:
    database = app_runtime(app).database
    async with (
        serving(app, lifespan="off") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        user = await make_authed_user(app)
        keys = [str(uuid.uuid4()) for _ in range(8)]
        bodies = [_entry(n) for n in range(len(keys))]
        for key, body in zip(keys, bodies, strict=True):
            await _send_and_vanish(port, _raw_request(user, key, body))

        # Retried right away: some first attempts are still in flight (the retry waits
        # for them), others are done; either way one entry per key.
        answers = await asyncio.gather(
            *(
                http.post(
                    PATH,
                    content=body,
                    headers=_headers(user, key),
                )
                for key, body in zip(keys, bodies, strict=True)
            )
        )
        assert [a.status_code for a in answers] == [201] * len(keys)
        assert await _count(database, user.id) == len(keys)
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == len(keys)

        # Once everything settled, a second retry replays the same entry.
        again = await http.post(
            PATH,
            content=bodies[0],
            headers=_headers(user, keys[0]),
        )
        assert again.status_code == 201
        assert again.headers[REPLAYED_HEADER] == "true"
        assert again.json()["id"] == answers[0].json()["id"]
        assert await _count(database, user.id) == len(keys)


async def test_an_abandoned_create_commits_and_its_retry_replays(app: FastAPI) -> None:
    database = app_runtime(app).database
    async with (
        serving(app, lifespan="off") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        user = await make_authed_user(app)
        key, body = str(uuid.uuid4()), _entry(0)
        await _send_and_vanish(port, _raw_request(user, key, body))

        async def written() -> bool:
            return await _count(database, user.id) == 1

        await wait_until(written, timeout=20)
        retry = await http.post(
            PATH,
            content=body,
            headers=_headers(user, key),
        )
        assert retry.status_code == 201
        assert retry.headers[REPLAYED_HEADER] == "true"
        assert await _count(database, user.id) == 1


async def test_a_create_whose_body_never_arrived_writes_nothing(app: FastAPI) -> None:
    database = app_runtime(app).database
    async with (
        serving(app, lifespan="off") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        user = await make_authed_user(app)
        key, body = str(uuid.uuid4()), _entry(0)
        await _send_and_vanish(port, _raw_request(user, key, body, send=len(body) // 2))
        await asyncio.sleep(0.5)  # give a wrongly started handler time to commit
        assert await _count(database, user.id) == 0
        async with database.session_scope() as db:
            assert await db.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

        # The key was never claimed: the retry runs as a first attempt.
        retry = await http.post(
            PATH,
            content=body,
            headers=_headers(user, key),
        )
        assert retry.status_code == 201
        assert REPLAYED_HEADER not in retry.headers
        assert await _count(database, user.id) == 1
