"""VIBES_REGISTRATION: open (anyone), invite (single-use codes), closed (the operator only).
Outside `open`, the answer says nothing about whether an address has an account."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, text

from tests.accounts.conftest import STRONG_PASSWORD
from tests.factories import make_user
from vibes.accounts.invites import create_invites
from vibes.accounts.models import User
from vibes.platform.runtime import app_runtime

REGISTER = "/api/v1/auth/register"


def _mode(app: FastAPI, mode: str) -> None:
    runtime = app_runtime(app)
    runtime.settings = runtime.settings.model_copy(update={"registration": mode})


async def _invites(app: FastAPI, count: int = 1, days: int = 7) -> list[str]:
    async with app_runtime(app).database.session_scope() as session:
        return await create_invites(session, count=count, valid_for=dt.timedelta(days=days))


async def _users(app: FastAPI) -> int:
    async with app_runtime(app).database.read_sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


def _body(email: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "password": STRONG_PASSWORD, **extra}


async def test_closed_refuses_everyone_alike_whether_the_address_exists_or_not(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    taken = await make_user(app_runtime(app).database, email="taken@example.com")
    _mode(app, "closed")
    before = await _users(app)
    existing = await client.post(REGISTER, json=_body(taken.email))
    new = await client.post(REGISTER, json=_body("new@example.com"))
    assert existing.status_code == new.status_code == 403
    assert existing.json() == new.json()
    assert new.headers["content-type"] == "application/problem+json"
    assert new.json()["type"].endswith("/registration-refused")
    assert await _users(app) == before


async def test_invite_mode_needs_a_valid_unused_code_and_spends_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    taken = await make_user(app_runtime(app).database, email="taken2@example.com")
    _mode(app, "invite")
    [code] = await _invites(app)
    before = await _users(app)
    refusals = [
        await client.post(REGISTER, json=_body("a@example.com")),
        await client.post(REGISTER, json=_body("a@example.com", invite_code="vibes_inv_nope")),
        # An existing address without a code: 403 like any other, not 409.
        await client.post(REGISTER, json=_body(taken.email)),
    ]
    assert {r.status_code for r in refusals} == {403}
    assert len({r.text for r in refusals}) == 1
    assert await _users(app) == before

    ok = await client.post(REGISTER, json=_body("a@example.com", invite_code=code))
    assert ok.status_code == 201, ok.text
    again = await client.post(REGISTER, json=_body("b@example.com", invite_code=code))
    assert again.status_code == 403
    assert await _users(app) == before + 1


async def test_an_invite_is_not_spent_by_a_registration_that_fails(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    taken = await make_user(app_runtime(app).database, email="taken3@example.com")
    _mode(app, "invite")
    [code] = await _invites(app)
    conflict = await client.post(REGISTER, json=_body(taken.email, invite_code=code))
    assert conflict.status_code == 409  # the code's holder is the one the server trusts
    ok = await client.post(REGISTER, json=_body("c@example.com", invite_code=code))
    assert ok.status_code == 201, ok.text


async def test_an_expired_invite_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    _mode(app, "invite")
    async with app_runtime(app).database.session_scope() as session:
        [code] = await create_invites(session, count=1, valid_for=dt.timedelta(seconds=-1))
    r = await client.post(REGISTER, json=_body("d@example.com", invite_code=code))
    assert r.status_code == 403


async def test_one_invite_opens_one_account_under_concurrent_use(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _mode(app, "invite")
    [code] = await _invites(app)
    answers = await asyncio.gather(
        *(
            client.post(REGISTER, json=_body(f"race{i}@example.com", invite_code=code))
            for i in range(4)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 1, [r.text for r in answers]
    assert set(statuses) <= {201, 403, 412}


async def test_invite_codes_are_stored_hashed(app: FastAPI) -> None:
    [code] = await _invites(app)
    async with app_runtime(app).database.read_sessionmaker() as session:
        rows = (await session.execute(text("SELECT * FROM invites"))).mappings().all()
    assert rows
    assert all(code not in str(value) for row in rows for value in row.values())


async def test_open_mode_still_registers_without_a_code(client: httpx.AsyncClient) -> None:
    r = await client.post(REGISTER, json=_body("open@example.com"))
    assert r.status_code == 201
