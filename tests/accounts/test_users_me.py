"""GET/PATCH/DELETE /users/me: the profile, its events and versions, and erasure."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.accounts.conftest import audit_rows, bearer, sign_in, sign_up
from tests.test_cascade import _fill_every_table, _rows_per_table
from vibes.db import Database
from vibes.recording.models import OutboxEvent

ME = "/api/v1/users/me"


async def test_get_me_answers_the_profile_with_an_etag(client: httpx.AsyncClient) -> None:
    account = await sign_up(client, display_name="Ada", timezone="Asia/Tokyo")
    response = await client.get(ME, headers=account.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == account.user["id"]
    assert body["display_name"] == "Ada"
    assert body["timezone"] == "Asia/Tokyo"
    assert response.headers["etag"] == f'"{body["version"]}"'
    unchanged = await client.get(
        ME, headers={**account.headers, "If-None-Match": response.headers["etag"]}
    )
    assert unchanged.status_code == 304


async def test_patch_me_updates_and_emits_user_updated(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    response = await client.patch(
        ME, json={"display_name": "Grace", "timezone": "America/New_York"}, headers=account.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["display_name"] == "Grace"
    assert body["timezone"] == "America/New_York"
    assert body["version"] == account.user["version"] + 1
    assert response.headers["etag"] == f'"{body["version"]}"'
    async with database.session_scope() as s:
        events = list(await s.scalars(select(OutboxEvent)))
    assert [event.type for event in events] == ["user.updated"]
    assert events[0].user_id == account.user_id
    assert events[0].data["fields"] == ["display_name", "timezone"]
    assert "Grace" not in repr(events[0].data)


async def test_patch_me_with_no_change_keeps_the_version(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client, timezone="UTC")
    response = await client.patch(ME, json={"timezone": "UTC"}, headers=account.headers)
    assert response.json()["version"] == account.user["version"]
    async with database.session_scope() as s:
        assert await s.scalar(select(OutboxEvent.id)) is None


async def test_patch_me_with_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    first = await client.patch(
        ME, json={"display_name": "One"}, headers={**account.headers, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    stale = await client.patch(
        ME, json={"display_name": "Two"}, headers={**account.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (await client.get(ME, headers=account.headers)).json()["display_name"] == "One"


async def test_patch_me_refuses_bad_input(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    for body in (
        {"timezone": "Not/AZone"},
        {"timezone": None},
        {"email": "new@example.com"},
        {"display_name": "x" * 101},
    ):
        response = await client.patch(ME, json=body, headers=account.headers)
        assert response.status_code == 422, body


async def test_account_deletion_erases_every_row_and_every_token(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    doomed = await sign_up(client)
    phone = await sign_in(client, doomed.email, doomed.password, "phone")
    survivor = await sign_up(client)
    await _fill_every_table(database, doomed.user_id)
    await _fill_every_table(database, survivor.user_id)
    before = await _rows_per_table(database, doomed.user_id)
    assert all(count > 0 for count in before.values()), before
    survivor_before = await _rows_per_table(database, survivor.user_id)
    assert (await client.get(ME, headers=bearer(phone))).status_code == 200

    response = await client.request(
        "DELETE", ME, json={"password": doomed.password}, headers=doomed.headers
    )
    assert response.status_code == 204

    after = await _rows_per_table(database, doomed.user_id)
    assert all(count == 0 for count in after.values()), after
    assert await _rows_per_table(database, survivor.user_id) == survivor_before
    for tokens in (doomed.tokens, phone):
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 401
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refresh.status_code == 401
    login = await client.post(
        "/api/v1/auth/login", json={"email": doomed.email, "password": doomed.password}
    )
    assert login.status_code == 401
    # The deletion is on record, naming nobody.
    [row] = await audit_rows(database, "account.deleted")
    assert row.user_id is None
    assert doomed.email not in repr((row.details, row.user_agent))


async def test_account_deletion_needs_the_password(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    wrong = await client.request(
        "DELETE", ME, json={"password": "not the password"}, headers=account.headers
    )
    assert wrong.status_code == 403
    missing = await client.request("DELETE", ME, json={}, headers=account.headers)
    assert missing.status_code == 422
    assert (await client.get(ME, headers=account.headers)).status_code == 200
