"""TOTP two-factor sign-in: setup and confirmation, the mfa-required challenge, codes that
work once (across processes too), recovery codes, the limits, turning it off.

Codes are made for the current time step and the next one, in that order: both stay
valid if a 30-second boundary passes while a test runs (a window of one step)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.accounts.conftest import Account, audit_rows, bearer, sign_up
from tests.conftest import MakeApp, MakeClient, asgi_client
from vibes.accounts.models import MfaChallenge, UserTotp
from vibes.db import Database, utcnow
from vibes.platform.runtime import app_runtime

API = "/api/v1"
LOGIN = f"{API}/auth/login"
VERIFY = f"{API}/auth/2fa/verify"
ME = f"{API}/users/me"


@dataclass
class TwoFactorAccount:
    account: Account
    secret: str
    recovery_codes: list[str]

    def code(self, steps_ahead: int) -> str:
        """The code of the time step `steps_ahead` after the current one."""
        totp = pyotp.TOTP(self.secret)
        return totp.at(time.time() + 30 * steps_ahead)


async def with_two_factor(client: httpx.AsyncClient) -> TwoFactorAccount:
    """A new account with 2FA on; its confirmation spent the current step's code."""
    account = await sign_up(client)
    setup = await client.post(f"{API}/auth/2fa/setup", headers=account.headers)
    assert setup.status_code == 200, setup.text
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Vibes:")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_svg"].lstrip().startswith("<svg")
    secret = body["secret"]
    confirm = await client.post(
        f"{API}/auth/2fa/confirm",
        json={"code": pyotp.TOTP(secret).now()},
        headers=account.headers,
    )
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    return TwoFactorAccount(account, secret, codes)


async def challenge(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post(LOGIN, json={"email": account.email, "password": account.password})
    assert response.status_code == 401, response.text
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/mfa-required")
    token: str = body["mfa_token"]
    return token


async def test_sign_in_with_a_code_after_the_mfa_required_challenge(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await with_two_factor(client)
    status = await client.get(f"{API}/auth/2fa", headers=user.account.headers)
    assert status.json() == {"enabled": True, "recovery_codes_left": 10}
    mfa_token = await challenge(client, user.account)
    answer = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": user.code(1)})
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (await client.get(ME, headers=bearer(pair))).status_code == 200
    # The challenge is spent.
    again = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": user.code(1)})
    assert again.status_code == 401
    # At rest the secret is sealed, not readable.
    async with database.session_scope() as s:
        row = await s.get(UserTotp, user.account.user_id)
        assert row is not None
        assert row.secret_sealed.startswith("v1.")
        assert user.secret not in row.secret_sealed
    assert [r.action for r in await audit_rows(database) if r.action.startswith("auth.2fa")] == [
        "auth.2fa.setup",
        "auth.2fa.enabled",
    ]
    # Turning it on twice is a conflict.
    setup = await client.post(f"{API}/auth/2fa/setup", headers=user.account.headers)
    assert setup.status_code == 409


async def test_a_code_works_once_and_a_recovery_code_once(client: httpx.AsyncClient) -> None:
    user = await with_two_factor(client)
    code = user.code(1)
    first = await client.post(
        VERIFY, json={"mfa_token": await challenge(client, user.account), "code": code}
    )
    assert first.status_code == 200
    replay = await client.post(
        VERIFY, json={"mfa_token": await challenge(client, user.account), "code": code}
    )
    assert replay.status_code == 401
    # An older step's code, after a newer one was used, is refused as well.
    older = await client.post(
        VERIFY, json={"mfa_token": await challenge(client, user.account), "code": user.code(0)}
    )
    assert older.status_code == 401
    recovery = user.recovery_codes[3].upper().replace("-", " ")  # typed loosely
    used = await client.post(
        VERIFY,
        json={"mfa_token": await challenge(client, user.account), "recovery_code": recovery},
    )
    assert used.status_code == 200, used.text
    reused = await client.post(
        VERIFY,
        json={
            "mfa_token": await challenge(client, user.account),
            "recovery_code": user.recovery_codes[3],
        },
    )
    assert reused.status_code == 401
    status = await client.get(f"{API}/auth/2fa", headers=user.account.headers)
    assert status.json()["recovery_codes_left"] == 9
    both = await client.post(
        VERIFY, json={"mfa_token": "x", "code": "123456", "recovery_code": "abcde-fghij"}
    )
    assert both.status_code == 422


async def test_a_replayed_code_is_refused_by_a_second_app_instance(
    make_app: MakeApp, app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await with_two_factor(client)
    code = user.code(1)
    async with make_app(app_runtime(app).settings) as other, asgi_client(other) as other_client:
        here = await challenge(client, user.account)
        there = await challenge(other_client, user.account)
        assert (
            await client.post(VERIFY, json={"mfa_token": here, "code": code})
        ).status_code == 200
        replay = await other_client.post(VERIFY, json={"mfa_token": there, "code": code})
        assert replay.status_code == 401


async def test_unknown_email_and_wrong_password_of_a_2fa_account_answer_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    user = await with_two_factor(client)
    wrong_password = await client.post(
        LOGIN, json={"email": user.account.email, "password": "not the password at all"}
    )
    unknown_email = await client.post(
        LOGIN, json={"email": "nobody@example.com", "password": "not the password at all"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert "mfa_token" not in wrong_password.json()
    assert wrong_password.headers["www-authenticate"] == unknown_email.headers["www-authenticate"]


async def test_code_attempts_are_tightly_limited_per_account(make_client: MakeClient) -> None:
    async with make_client(rate_limit_mfa_account="3/15 minutes") as client:
        user = await with_two_factor(client)  # the confirmation was attempt 1
        mfa_token = await challenge(client, user.account)
        wrong = "000000" if user.code(1) != "000000" else "111111"
        statuses = [
            (await client.post(VERIFY, json={"mfa_token": mfa_token, "code": wrong})).status_code
            for _ in range(3)
        ]
        assert statuses == [401, 401, 429]
        # Even the right code waits now.
        right = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": user.code(1)})
        assert right.status_code == 429
        assert "retry-after" in right.headers


async def test_an_expired_mfa_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await with_two_factor(client)
    mfa_token = await challenge(client, user.account)
    async with database.session_scope() as s:
        await s.execute(update(MfaChallenge).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    late = await client.post(VERIFY, json={"mfa_token": mfa_token, "code": user.code(1)})
    assert late.status_code == 401
    assert "expired" in late.json()["detail"]


async def test_turning_it_off_needs_the_password_and_a_code(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await with_two_factor(client)
    disable = f"{API}/auth/2fa/disable"
    headers = user.account.headers
    wrong_password = await client.post(
        disable, json={"password": "not the password at all", "code": user.code(1)}, headers=headers
    )
    assert wrong_password.status_code == 403
    wrong_code = await client.post(
        disable, json={"password": user.account.password, "code": "abcde-fghij"}, headers=headers
    )
    assert wrong_code.status_code == 403
    missing = await client.post(disable, json={"password": user.account.password}, headers=headers)
    assert missing.status_code == 422
    # A recovery code does it too (the phone is lost).
    done = await client.post(
        disable,
        json={"password": user.account.password, "code": user.recovery_codes[0]},
        headers=headers,
    )
    assert done.status_code == 204, done.text
    login = await client.post(
        LOGIN, json={"email": user.account.email, "password": user.account.password}
    )
    assert login.status_code == 200
    async with database.session_scope() as s:
        assert await s.scalar(select(UserTotp.user_id)) is None
    assert (await client.get(f"{API}/auth/2fa", headers=headers)).json()["enabled"] is False


async def test_the_web_sign_in_answers_the_challenge_and_sets_its_cookie(
    client: httpx.AsyncClient,
) -> None:
    user = await with_two_factor(client)
    csrf = {"X-Vibes-CSRF": "1"}
    login = await client.post(
        f"{API}/auth/web/login",
        json={"email": user.account.email, "password": user.account.password},
        headers=csrf,
    )
    assert login.status_code == 401
    mfa_token = login.json()["mfa_token"]
    no_csrf = await client.post(
        f"{API}/auth/web/2fa/verify", json={"mfa_token": mfa_token, "code": user.code(1)}
    )
    assert no_csrf.status_code == 403
    done = await client.post(
        f"{API}/auth/web/2fa/verify",
        json={"mfa_token": mfa_token, "code": user.code(1)},
        headers=csrf,
    )
    assert done.status_code == 200, done.text
    assert set(done.json()) == {"access_token", "token_type", "expires_in"}
    assert "vibes_refresh=" in done.headers["set-cookie"]
