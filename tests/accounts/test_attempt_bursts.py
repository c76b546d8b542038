"""Regression tests of the security review: bursts of password attempts.

- parallel wrong logins must not exhaust the database pool (they stalled the app 30 s and
  answered 500 when each request held two pool connections, one of them through Argon2);
- per-account password budgets must hold against parallel attempts (all of them passed
  when the attempt was counted only after the Argon2 check);
- an expired token must stop mapping to its user in the rate limiter's cache;
- a reset request answers before any database work.
"""

from __future__ import annotations

import asyncio
import collections
import time
import types
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits import parse
from sqlalchemy import event

from tests.accounts.conftest import (
    STRONG_PASSWORD,
    SmtpServer,
    sign_up,
)
from tests.conftest import MakeApp, MakeClient
from tests.waiting import wait_until
from vibes.accounts import tokens
from vibes.accounts.tokens import LEEWAY, issue_access_token, make_subject_reader
from vibes.config import Settings
from vibes.platform.runtime import app_runtime

LOGIN = "/api/v1/auth/login"
CHANGE = "/api/v1/auth/password"
ME = "/api/v1/users/me"
RESET = "/api/v1/auth/password-reset"


async def test_a_burst_of_wrong_logins_does_not_exhaust_a_small_pool(
    make_app: MakeApp, make_client: MakeClient
) -> None:
    # Before the fix: 20 requests each holding a read connection through Argon2 and then
    # waiting for a second one for the audit row -> pool timeout (30 s), then 500s.
    async with (
        make_app(database_pool_size=5) as app,
        make_client(app) as client,
    ):
        account = await sign_up(client)

        async def attempt(i: int) -> int:
            body = {"email": account.email, "password": f"wrong password {i:04d}"}
            return (await client.post(LOGIN, json=body)).status_code

        codes = collections.Counter(
            await asyncio.wait_for(asyncio.gather(*(attempt(i) for i in range(20))), 20)
        )
        assert set(codes) <= {401, 429}, codes
        assert codes[401] >= 1
        # The app still serves afterwards.
        assert (await client.get(ME, headers=account.headers)).status_code == 200


async def test_parallel_login_guesses_stay_within_the_account_budget(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await sign_up(client)  # its login spent one attempt of the budget
    budget = parse(settings.rate_limit_login_account).amount

    async def attempt(i: int) -> int:
        body = {"email": account.email, "password": f"wrong password {i:04d}"}
        return (await client.post(LOGIN, json=body)).status_code

    codes = collections.Counter(await asyncio.gather(*(attempt(i) for i in range(40))))
    assert set(codes) <= {401, 429}, codes
    assert codes[401] == budget - 1, codes
    assert codes[429] == 40 - (budget - 1), codes


@pytest.mark.parametrize(("method", "path"), [("POST", CHANGE), ("DELETE", ME)])
async def test_parallel_current_password_guesses_stay_within_the_account_budget(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, method: str, path: str
) -> None:
    account = await sign_up(client)
    budget = parse(settings.rate_limit_password_account).amount

    async def attempt(i: int) -> int:
        body: dict[str, Any] = {"password": f"wrong password {i:04d}"}
        if path == CHANGE:
            body = {
                "current_password": f"wrong password {i:04d}",
                "new_password": "an entirely new passphrase 99",
            }
        response = await client.request(method, path, json=body, headers=account.headers)
        return response.status_code

    codes = collections.Counter(await asyncio.gather(*(attempt(i) for i in range(20))))
    assert set(codes) <= {403, 429}, codes
    assert codes[403] == budget, codes
    # The account is still there, with its password.
    assert (await client.get(ME, headers=account.headers)).status_code == 200


async def test_subject_reader_forgets_a_token_once_it_expires(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Settings = app_runtime(app).settings.model_copy(update={"access_token_minutes": 1})
    user_id = uuid.uuid4()
    token, lifetime = issue_access_token(
        app_runtime(app).keyring, settings, user_id=user_id, session_id=uuid.uuid4()
    )
    issued = time.time()
    subject = make_subject_reader(app_runtime(app).keyring, settings)
    assert subject(token) == str(user_id)  # verified and cached

    def at(moment: float) -> None:
        monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: moment))

    at(issued + lifetime + LEEWAY - 3)  # within the leeway: still valid, from the cache
    assert subject(token) == str(user_id)
    at(issued + lifetime + LEEWAY + 2)  # expired: the cached entry no longer counts
    assert subject(token) is None


async def test_reset_request_answers_before_any_database_work(
    make_app: MakeApp, make_client: MakeClient, smtp_server: SmtpServer
) -> None:
    async with make_app(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_starttls=False,
    ) as app:
        async with make_client(app) as client:
            account = await sign_up(client, password=STRONG_PASSWORD)
        events: list[str] = []

        def on_sql(*_: Any) -> None:
            events.append("sql")

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            async def send_recorded(message: Any) -> None:
                if message["type"] == "http.response.start":
                    events.append(f"answer {message['status']}")
                await send(message)

            await app(scope, receive, send_recorded)

        engine = app_runtime(app).database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", on_sql)
        try:
            async with make_client(recording) as c:
                for email in (account.email, "nobody-here@example.com"):
                    events.clear()
                    response = await c.post(RESET, json={"email": email})
                    assert response.status_code == 202
                    # The lookup (and for a real account the token) come after the answer.
                    assert events[0] == "answer 202", events
                    assert "sql" in events, events
        finally:
            event.remove(engine, "before_cursor_execute", on_sql)
        # The transport returns once the app call ends, background task (and mail) included;
        # waiting on the mailbox only guards against a transport that returns sooner.
        await wait_until(lambda: smtp_server.messages, timeout=5)
        assert [m["To"] for m in smtp_server.messages] == [account.email]
