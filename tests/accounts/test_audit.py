"""The audit log records who, when and from where; never a password, token or hash."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.accounts.conftest import (
    OTHER_STRONG_PASSWORD,
    age_spent_refresh_tokens,
    audit_rows,
    sign_in,
    sign_up,
)
from vibes.accounts.models import User
from vibes.db import Database
from vibes.platform.audit import record_audit


async def test_audit_refuses_secret_looking_details(database: Database) -> None:
    async with database.session_scope() as s:
        for name in ("password", "refresh_token", "password_hash", "api_key", "secret"):
            with pytest.raises(ValueError, match="secrets"):
                record_audit(
                    s,
                    action="x",
                    user_id=None,
                    ip_address=None,
                    user_agent=None,
                    details={name: "x"},
                )


async def test_a_whole_account_story_leaves_no_secret_in_the_audit_log(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    secrets = [account.password, OTHER_STRONG_PASSWORD]
    phone = await sign_in(client, account.email, account.password, "phone")
    secrets += [phone["refresh_token"], phone["access_token"], account.tokens["refresh_token"]]
    await client.post("/api/v1/auth/login", json={"email": account.email, "password": "oops1"})
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    secrets.append(rotated.json()["refresh_token"])
    await age_spent_refresh_tokens(database)
    await client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    await client.post(
        "/api/v1/auth/password",
        json={"current_password": account.password, "new_password": OTHER_STRONG_PASSWORD},
        headers=account.headers,
    )
    await client.post("/api/v1/auth/password-reset", json={"email": account.email})
    async with database.session_scope() as s:
        stored_hash = await s.scalar(select(User.password_hash))
    assert stored_hash is not None
    secrets += [stored_hash, stored_hash.split("$")[-1]]

    rows = await audit_rows(database)
    actions = {row.action for row in rows}
    assert {
        "account.registered",
        "auth.login.succeeded",
        "auth.login.failed",
        "auth.refresh.reused",
        "auth.password.changed",
        "auth.password.reset_requested",
    } <= actions
    for row in rows:
        assert row.created_at is not None
        assert row.ip_address
        text = repr((row.action, row.details, row.user_agent, row.ip_address))
        for secret in secrets:
            assert secret not in text
        assert "oops1" not in text
