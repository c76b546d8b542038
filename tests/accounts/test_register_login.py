"""Registration, password rules, Argon2id storage, and login (JSON and OAuth2 form)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.accounts.conftest import (
    STRONG_PASSWORD,
    audit_rows,
    bearer,
    sign_in,
    sign_up,
)
from tests.conftest import MakeApp, MakeClient
from tests.factories import DEFAULT_PASSWORD, make_user
from vibes.accounts.models import User
from vibes.db import Database
from vibes.platform.runtime import app_runtime

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
UNICODE_64 = "Ünïcødé-ключ-密码-パスワード-🔑-🌊-ελληνικά-עברית-हिन्दी-العربية-xyz12345"


async def _stored_hash(database: Database, email: str) -> str:
    async with database.session_scope() as s:
        value = await s.scalar(select(User.password_hash).where(User.email_key == email.lower()))
    assert value is not None
    return value


async def test_register_answers_201_user_without_secrets(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER,
        json={
            "email": "Ada@Example.com",
            "password": STRONG_PASSWORD,
            "display_name": "Ada",
            "timezone": "Europe/Paris",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "email", "display_name", "timezone", "created_at", "updated_at"}
    assert body["email"] == "Ada@example.com"
    assert body["display_name"] == "Ada"
    assert body["timezone"] == "Europe/Paris"
    assert "password" not in response.text
    assert "argon2" not in response.text
    assert response.headers["etag"] == f'"{body["version"]}"'


async def test_stored_hash_is_argon2id_with_the_required_parameters(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    stored = await _stored_hash(database, account.email)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert account.password not in stored


async def test_duplicate_email_is_409_whatever_the_case(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    response = await client.post(
        REGISTER, json={"email": account.email.upper(), "password": STRONG_PASSWORD}
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_eleven_character_password_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER, json={"email": "a@example.com", "password": "x7#kQ9!mPz2"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "password"]
    assert "x7#kQ9!mPz2" not in response.text


@pytest.mark.parametrize("weak", ["password1234", "aaaaaaaaaaaa", "qwertyuiop12"])
async def test_common_passwords_are_refused_with_advice(
    client: httpx.AsyncClient, database: Database, weak: str
) -> None:
    response = await client.post(REGISTER, json={"email": "b@example.com", "password": weak})
    assert response.status_code == 422
    body = response.json()
    error = body["errors"][0]
    assert error["type"] == "weak_password"
    assert error["loc"] == ["body", "password"]
    assert error["suggestions"]
    assert "stronger password" in body["detail"]
    async with database.session_scope() as s:
        assert await s.scalar(select(User.id)) is None


async def test_password_made_of_the_email_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER, json={"email": "margaretha.vandersloot@example.com", "password": "vandersloot12"}
    )
    assert response.status_code == 422


async def test_64_character_unicode_password_is_accepted_and_works(
    client: httpx.AsyncClient,
) -> None:
    assert len(UNICODE_64) == 64
    account = await sign_up(client, password=UNICODE_64)
    assert (await client.get("/api/v1/users/me", headers=account.headers)).status_code == 200


async def test_password_over_256_characters_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER, json={"email": "c@example.com", "password": "word " * 52}
    )
    assert response.status_code == 422


async def test_register_refuses_unknown_fields_and_zones(client: httpx.AsyncClient) -> None:
    extra = await client.post(
        REGISTER, json={"email": "d@example.com", "password": STRONG_PASSWORD, "admin": True}
    )
    zone = await client.post(
        REGISTER,
        json={"email": "d@example.com", "password": STRONG_PASSWORD, "timezone": "Mars/Base"},
    )
    assert extra.status_code == 422
    assert zone.status_code == 422


async def test_login_answers_a_bearer_token_pair(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    tokens = account.tokens
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    assert tokens["refresh_token"]
    assert tokens["access_token"]
    me = await client.get("/api/v1/users/me", headers=bearer(tokens))
    assert me.json()["email"] == account.email


async def test_login_is_case_insensitive_on_the_email(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    await sign_in(client, account.email.upper(), account.password)


async def test_oauth2_password_form_at_auth_token(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    response = await client.post(
        "/api/v1/auth/token", data={"username": account.email, "password": account.password}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    wrong = await client.post(
        "/api/v1/auth/token", data={"username": account.email, "password": "nope nope nope"}
    )
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    "form",
    [
        {"username": "a\x00b@example.com", "password": "long enough password"},
        {"username": "a@example.com", "password": "nul\x00inside"},
        {"username": "a@example.com", "password": ""},
        {"username": "", "password": "long enough password"},
        {"username": "a@example.com", "password": "x", "grant_type": "client_credentials"},
    ],
)
async def test_the_token_form_refuses_what_the_login_refuses_with_a_422(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    # NUL reached the database (a 500 on PostgreSQL); an empty field, which the schema
    # allowed, was a 422 "field required" (both found by schemathesis).
    response = await client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_email_and_wrong_password_answer_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    wrong_password = await client.post(
        LOGIN, json={"email": account.email, "password": "not the password at all"}
    )
    unknown_email = await client.post(
        LOGIN, json={"email": "nobody@example.com", "password": "not the password at all"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.headers["www-authenticate"] == unknown_email.headers["www-authenticate"]


async def test_login_success_and_failure_are_audited_without_secrets(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    await client.post(
        LOGIN,
        json={"email": account.email, "password": "wrong password here"},
        headers={"User-Agent": "probe/1.0"},
    )
    await client.post(LOGIN, json={"email": "ghost@example.com", "password": "wrong password 2"})
    succeeded = await audit_rows(database, "auth.login.succeeded")
    failed = await audit_rows(database, "auth.login.failed")
    assert [row.user_id for row in succeeded] == [account.user_id]
    assert [row.user_id for row in failed] == [account.user_id, None]
    assert failed[0].user_agent == "probe/1.0"
    assert failed[0].ip_address
    assert [row.details["reason"] for row in failed] == ["bad_password", "unknown_account"]
    for row in await audit_rows(database):
        text = repr((row.details, row.user_agent, row.ip_address))
        assert "wrong password" not in text
        assert "ghost@" not in text
        assert account.tokens["refresh_token"] not in text


async def test_password_hash_is_upgraded_on_login_when_parameters_rise(
    make_app: MakeApp, make_client: MakeClient
) -> None:
    async with make_app(password_hash_time_cost=3) as app:
        database: Database = app_runtime(app).database
        user = await make_user(database)  # hashed with t=2
        async with make_client(app) as c:
            await sign_in(c, user.email, DEFAULT_PASSWORD)
            stored = await _stored_hash(database, user.email)
            assert stored.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
            await sign_in(c, user.email, DEFAULT_PASSWORD)


async def test_argon2_minimums_cannot_be_configured_away(make_app: MakeApp) -> None:
    with pytest.raises(ValueError, match="password_hash_memory_kib"):
        async with make_app(password_hash_memory_kib=8192):
            pass


async def test_factory_users_can_sign_in(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_user(app_runtime(app).database)
    await sign_in(client, user.email, DEFAULT_PASSWORD)
