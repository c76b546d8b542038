"""Password change, and password reset by mail through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import structlog
from sqlalchemy import select, update

from tests.accounts.conftest import (
    OTHER_STRONG_PASSWORD,
    SmtpServer,
    audit_rows,
    bearer,
    sign_in,
    sign_up,
)
from tests.conftest import MakeApp, MakeClient
from tests.waiting import wait_until
from vibes.accounts.models import PasswordResetToken
from vibes.db import Database, utcnow
from vibes.platform.runtime import app_runtime

ME = "/api/v1/users/me"
CHANGE = "/api/v1/auth/password"
RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
LOGIN = "/api/v1/auth/login"
THIRD_PASSWORD = "marble orchids under thunder"


async def test_password_change_revokes_every_other_session(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    phone = await sign_in(client, account.email, account.password, "phone")
    assert (await client.get(ME, headers=bearer(phone))).status_code == 200

    response = await client.post(
        CHANGE,
        json={"current_password": account.password, "new_password": OTHER_STRONG_PASSWORD},
        headers=account.headers,
    )
    assert response.status_code == 204
    assert (await client.get(ME, headers=account.headers)).status_code == 200
    assert (await client.get(ME, headers=bearer(phone))).status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert refresh.status_code == 401
    old = await client.post(LOGIN, json={"email": account.email, "password": account.password})
    assert old.status_code == 401
    await sign_in(client, account.email, OTHER_STRONG_PASSWORD)


async def test_password_change_with_wrong_current_password_is_403(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    response = await client.post(
        CHANGE,
        json={"current_password": "not my password", "new_password": OTHER_STRONG_PASSWORD},
        headers=account.headers,
    )
    assert response.status_code == 403
    await sign_in(client, account.email, account.password)


async def test_password_change_refuses_weak_new_password(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    response = await client.post(
        CHANGE,
        json={"current_password": account.password, "new_password": "password1234"},
        headers=account.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "new_password"]
    await sign_in(client, account.email, account.password)


async def test_password_change_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CHANGE, json={"current_password": "whatever it is", "new_password": OTHER_STRONG_PASSWORD}
    )
    assert response.status_code == 401


async def test_password_change_is_audited(client: httpx.AsyncClient, database: Database) -> None:
    account = await sign_up(client)
    await sign_in(client, account.email, account.password)
    await client.post(
        CHANGE,
        json={"current_password": account.password, "new_password": OTHER_STRONG_PASSWORD},
        headers=account.headers,
    )
    [row] = await audit_rows(database, "auth.password.changed")
    assert row.user_id == account.user_id
    assert row.details == {"revoked_sessions": 1}


def _token_from(message_body: str) -> str:
    match = re.search(r"/reset-password#token=([A-Za-z0-9_\-]+)", message_body)
    assert match, message_body
    return match.group(1)


async def _wait_for_mail(smtp: SmtpServer, count: int) -> None:
    await wait_until(
        lambda: len(smtp.messages) >= count,
        timeout=4,
        message=f"expected {count} mail(s), got {len(smtp.messages)}",
    )


async def test_reset_mail_arrives_and_its_link_works_once(
    make_app: MakeApp, make_client: MakeClient, smtp_server: SmtpServer
) -> None:
    async with (
        make_app(
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_starttls=False,
            public_url="https://vibes.example",
        ) as app,
        make_client(app) as client,
    ):
        account = await sign_up(client)
        laptop = await sign_in(client, account.email, account.password, "laptop")
        assert (await client.get(ME, headers=bearer(laptop))).status_code == 200

        response = await client.post(RESET, json={"email": account.email.upper()})
        assert response.status_code == 202
        await _wait_for_mail(smtp_server, 1)
        [mail] = smtp_server.messages
        assert mail["To"] == account.email
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        text = body.decode()
        assert "https://vibes.example/reset-password#token=" in text
        token = _token_from(text)
        assert len(token) >= 22  # >= 128 bits in URL-safe base64

        # Stored hashed only.
        async with app_runtime(app).database.session_scope() as s:
            stored = list(await s.scalars(select(PasswordResetToken.token_hash)))
        assert len(stored) == 1
        assert token.encode() not in stored[0]

        confirm = await client.post(
            CONFIRM, json={"token": token, "new_password": OTHER_STRONG_PASSWORD}
        )
        assert confirm.status_code == 204
        # Every session is signed out, including the one that asked.
        assert (await client.get(ME, headers=bearer(laptop))).status_code == 401
        assert (await client.get(ME, headers=account.headers)).status_code == 401
        await sign_in(client, account.email, OTHER_STRONG_PASSWORD)

        again = await client.post(CONFIRM, json={"token": token, "new_password": THIRD_PASSWORD})
        assert again.status_code == 400
        assert again.headers["content-type"].startswith("application/problem+json")
        await sign_in(client, account.email, OTHER_STRONG_PASSWORD)

        actions = [row.action for row in await audit_rows(app_runtime(app).database)]
        assert "auth.password.reset_requested" in actions
        assert "auth.password.reset" in actions


async def test_reset_for_unknown_address_is_202_and_mails_nothing(
    make_app: MakeApp, make_client: MakeClient, smtp_server: SmtpServer
) -> None:
    async with (
        make_app(
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_starttls=False,
        ) as app,
        make_client(app) as client,
    ):
        account = await sign_up(client)
        unknown = await client.post(RESET, json={"email": "nobody@example.com"})
        known = await client.post(RESET, json={"email": account.email})
        assert unknown.status_code == known.status_code == 202
        assert unknown.json() == known.json()
        await _wait_for_mail(smtp_server, 1)
        # No grace period for a second mail: the transport returns only once the app call
        # has ended, its background task (lookup, token, mail) included, for both requests.
        assert [m["To"] for m in smtp_server.messages] == [account.email]


async def test_only_the_newest_reset_link_works(
    make_app: MakeApp, make_client: MakeClient, smtp_server: SmtpServer
) -> None:
    async with (
        make_app(
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_starttls=False,
        ) as app,
        make_client(app) as client,
    ):
        account = await sign_up(client)
        await client.post(RESET, json={"email": account.email})
        await client.post(RESET, json={"email": account.email})
        await _wait_for_mail(smtp_server, 2)
        first, second = (
            _token_from(bytes(m.get_payload(decode=True)).decode())  # type: ignore[arg-type]
            for m in smtp_server.messages
        )
        old = await client.post(CONFIRM, json={"token": first, "new_password": THIRD_PASSWORD})
        assert old.status_code == 400
        new = await client.post(CONFIRM, json={"token": second, "new_password": THIRD_PASSWORD})
        assert new.status_code == 204


async def test_weak_password_does_not_spend_the_reset_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    token = await _reset_token_without_mail(client, database, account.email)
    weak = await client.post(CONFIRM, json={"token": token, "new_password": "password1234"})
    assert weak.status_code == 422
    ok = await client.post(CONFIRM, json={"token": token, "new_password": THIRD_PASSWORD})
    assert ok.status_code == 204


async def test_expired_reset_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    token = await _reset_token_without_mail(client, database, account.email)
    async with database.session_scope() as s:
        await s.execute(
            update(PasswordResetToken).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    response = await client.post(CONFIRM, json={"token": token, "new_password": THIRD_PASSWORD})
    assert response.status_code == 400
    await sign_in(client, account.email, account.password)


async def test_without_smtp_a_clear_log_line_and_never_the_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    with structlog.testing.capture_logs() as logs:
        response = await client.post(RESET, json={"email": account.email})
    assert response.status_code == 202
    lines = [entry for entry in logs if "SMTP is not configured" in str(entry.get("event"))]
    assert lines, logs
    async with database.session_scope() as s:
        assert await s.scalar(select(PasswordResetToken.id)) is not None
    assert "token=" not in repr(logs)


async def _reset_token_without_mail(
    client: httpx.AsyncClient, database: Database, email: str
) -> str:
    """Ask for a reset, then swap the stored hash for one of a token the test knows."""
    import hashlib
    import secrets

    assert (await client.post(RESET, json={"email": email})).status_code == 202
    token = secrets.token_urlsafe(32)
    async with database.session_scope() as s:
        await s.execute(
            update(PasswordResetToken).values(token_hash=hashlib.sha256(token.encode()).digest())
        )
    return token


async def test_password_change_to_the_same_password_is_422(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    response = await client.post(
        CHANGE,
        json={"current_password": account.password, "new_password": account.password},
        headers=account.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "new_password"]
    await sign_in(client, account.email, account.password)
