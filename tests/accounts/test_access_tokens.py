"""Personal access tokens: scopes on every write route, what a token may never do,
revocation and expiry, coalesced `last_used_at`, the rate limit, the audit trail."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select, update

from tests.accounts.conftest import audit_rows, sign_up
from tests.conftest import MakeApp, MakeClient, asgi_client
from vibes.accounts.models import AuthSession, PersonalAccessToken
from vibes.db import SAFE_METHODS, Database, utcnow
from vibes.platform.runtime import app_runtime

API = "/api/v1"
TOKENS = f"{API}/auth/tokens"
ME = f"{API}/users/me"


async def make_token(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(TOKENS, json={"name": "script", **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def pat(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['token']}"}


def _write_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every write route of the API, read from the app (a new one is covered at once)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if not isinstance(route, APIRoute) or not path.startswith(API):
            continue
        for method in sorted((context.methods or set()) - SAFE_METHODS):
            found.append((method, path))
    return found


async def test_a_token_is_shown_once_listed_without_it_and_stored_as_a_hash(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    created = await make_token(client, account.headers, scopes=["read"], expires_in_days=30)
    assert created["token"].startswith("vibes_pat_")
    assert len(created["token"]) >= len("vibes_pat_") + 43  # 256 bits, base64url
    assert created["scopes"] == ["read"]
    assert created["expires_at"] is not None
    assert created["last_used_at"] is None
    listed = (await client.get(TOKENS, headers=account.headers)).json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "token" not in listed[0]
    async with database.session_scope() as s:
        row = await s.get(PersonalAccessToken, uuid.UUID(created["id"]))
        assert row is not None
        assert created["token"].encode() not in row.token_hash
    # A session of kind `token`, absent from the device list.
    sessions = (await client.get(f"{API}/auth/sessions", headers=account.headers)).json()
    assert created["id"] not in {item["id"] for item in sessions}
    # Default scopes: both.
    both = await make_token(client, account.headers)
    assert both["scopes"] == ["read", "write"]
    assert both["expires_at"] is None


async def test_a_token_reads_and_writes_like_a_session_hot_paths_included(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    token = pat(await make_token(client, account.headers))
    me = await client.get(ME, headers=token)
    assert me.status_code == 200
    assert me.json()["id"] == account.user["id"]
    entry = await client.post(
        f"{API}/journals", json={"title": "From a script", "content": "body"}, headers=token
    )
    assert entry.status_code == 201, entry.text
    entry_id = entry.json()["id"]
    # The fast paths hand a PAT over to the documented routes.
    one = await client.get(f"{API}/journals/{entry_id}", headers=token)
    assert one.status_code == 200
    page = await client.get(f"{API}/journals?limit=5", headers=token)
    assert [item["id"] for item in page.json()["items"]] == [entry_id]
    found = await client.get(f"{API}/search?q=script", headers=token)
    assert found.status_code == 200
    assert [item["id"] for item in found.json()["items"]] == [entry_id]


async def test_a_read_token_gets_403_on_every_write_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await sign_up(client)
    read_only = pat(await make_token(client, account.headers, scopes=["read"]))
    routes = _write_routes(app)
    assert len(routes) > 30
    public = {f"{API}/auth/{name}" for name in ("register", "login", "token", "refresh")}
    public |= {f"{API}/auth/password-reset", f"{API}/auth/password-reset/confirm"}
    public |= {f"{API}/auth/2fa/verify", f"{API}/auth/web/2fa/verify"}
    public |= {f"{API}/auth/web/login", f"{API}/auth/web/refresh"}
    checked = 0
    for method, path in routes:
        if path in public:
            continue
        url = path
        while "{" in url:
            start, end = url.index("{"), url.index("}")
            url = url[:start] + str(uuid.uuid4()) + url[end + 1 :]
        headers = {**read_only, "X-Vibes-CSRF": "1"}
        response = await client.request(method, url, json={}, headers=headers)
        assert response.status_code == 403, (method, path, response.status_code, response.text)
        checked += 1
    assert checked > 30
    # Reads work, and nothing was written.
    assert (await client.get(f"{API}/journals", headers=read_only)).json()["items"] == []
    journal = await client.post(
        f"{API}/journals", json={"title": "t", "content": "c"}, headers=read_only
    )
    assert journal.json()["type"].endswith("/insufficient-scope")


async def test_a_token_never_manages_tokens_sessions_2fa_or_the_account(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    created = await make_token(client, account.headers)
    token = pat(created)
    session_id = str(uuid.uuid4())
    for method, path, body in [
        ("GET", TOKENS, None),
        ("POST", TOKENS, {"name": "child"}),
        ("DELETE", f"{TOKENS}/{created['id']}", None),
        ("GET", f"{API}/auth/sessions", None),
        ("DELETE", f"{API}/auth/sessions/{session_id}", None),
        ("POST", f"{API}/auth/logout", {"refresh_token": account.tokens["refresh_token"]}),
        (
            "POST",
            f"{API}/auth/password",
            {"current_password": account.password, "new_password": "a brand new passphrase"},
        ),
        ("GET", f"{API}/auth/2fa", None),
        ("POST", f"{API}/auth/2fa/setup", None),
        ("POST", f"{API}/auth/2fa/confirm", {"code": "123456"}),
        ("POST", f"{API}/auth/2fa/disable", {"password": account.password, "code": "123456"}),
        ("PATCH", ME, {"display_name": "Mallory"}),
        ("DELETE", ME, {"password": account.password}),
    ]:
        response = await client.request(method, path, json=body, headers=token)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["type"].endswith("/session-required"), (method, path)
    # Nothing happened: the token lives, the session lives, the account is unchanged.
    assert (await client.get(ME, headers=token)).json()["display_name"] is None
    assert (await client.get(ME, headers=account.headers)).status_code == 200
    assert len((await client.get(TOKENS, headers=account.headers)).json()) == 1


async def test_revocation_bites_at_once_and_is_audited(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    created = await make_token(client, account.headers)
    token = pat(created)
    assert (await client.get(ME, headers=token)).status_code == 200
    assert (await client.get(f"{API}/journals", headers=token)).status_code == 200
    revoked = await client.delete(f"{TOKENS}/{created['id']}", headers=account.headers)
    assert revoked.status_code == 204
    for path in (ME, f"{API}/journals", f"{API}/tags"):
        assert (await client.get(path, headers=token)).status_code == 401, path
    assert (await client.get(TOKENS, headers=account.headers)).json() == []
    again = await client.delete(f"{TOKENS}/{created['id']}", headers=account.headers)
    assert again.status_code == 404
    # Another user's token is a 404 too, and stays alive.
    other = await sign_up(client)
    theirs = await make_token(client, other.headers)
    stranger = await client.delete(f"{TOKENS}/{theirs['id']}", headers=account.headers)
    assert stranger.status_code == 404
    assert (await client.get(ME, headers=pat(theirs))).status_code == 200
    # A token id is no session id: the device list cannot revoke it either.
    session_route = await client.delete(
        f"{API}/auth/sessions/{theirs['id']}", headers=other.headers
    )
    assert session_route.status_code == 404
    [made] = [
        r for r in await audit_rows(database, "auth.pat.created") if r.user_id == account.user_id
    ]
    assert made.details == {"pat_id": created["id"], "scopes": "read,write"}
    [gone] = await audit_rows(database, "auth.pat.revoked")
    assert gone.details == {"pat_id": created["id"]}


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, database: Database) -> None:
    account = await sign_up(client)
    created = await make_token(client, account.headers, expires_in_days=1)
    past = utcnow() - dt.timedelta(minutes=1)
    token_id = uuid.UUID(created["id"])
    async with database.session_scope() as s:
        await s.execute(
            update(PersonalAccessToken)
            .where(PersonalAccessToken.id == token_id)
            .values(expires_at=past)
        )
        await s.execute(
            update(AuthSession).where(AuthSession.id == token_id).values(expires_at=past)
        )
    assert (await client.get(ME, headers=pat(created))).status_code == 401
    assert (await client.get(TOKENS, headers=account.headers)).json() == []
    bad = await client.post(
        TOKENS, json={"name": "x", "expires_in_days": 0}, headers=account.headers
    )
    assert bad.status_code == 422


async def test_last_used_at_is_written_once_per_interval_across_processes(
    make_app: MakeApp, app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    account = await sign_up(client)
    created = await make_token(client, account.headers)
    token_id = uuid.UUID(created["id"])

    async def last_used() -> dt.datetime | None:
        async with database.session_scope() as s:
            found: dt.datetime | None = await s.scalar(
                select(PersonalAccessToken.last_used_at).where(PersonalAccessToken.id == token_id)
            )
            return found

    for _ in range(3):
        assert (await client.get(ME, headers=pat(created))).status_code == 200
    first = await last_used()
    assert first is not None
    for _ in range(3):
        assert (await client.get(f"{API}/journals", headers=pat(created))).status_code == 200
    assert await last_used() == first
    # A second process over the same database: its own first use does not write either.
    settings = app_runtime(app).settings
    async with make_app(settings) as other, asgi_client(other) as other_client:
        assert (await other_client.get(ME, headers=pat(created))).status_code == 200
    assert await last_used() == first
    listed = (await client.get(TOKENS, headers=account.headers)).json()
    assert listed[0]["last_used_at"] is not None


async def test_a_token_spends_its_users_rate_limit_budget(make_client: MakeClient) -> None:
    async with make_client(rate_limit_default="100/minute") as client:
        account = await sign_up(client)
        token = pat(await make_token(client, account.headers))
        await client.get(ME, headers=token)  # resolved: from now on keyed by its user
        by_session = await client.get(ME, headers=account.headers)
        by_token = await client.get(ME, headers=token)
        remaining = int(by_session.headers["x-ratelimit-remaining"])
        assert int(by_token.headers["x-ratelimit-remaining"]) == remaining - 1
        # A made-up token spends the address's budget, not the user's.
        forged = await client.get(ME, headers={"Authorization": "Bearer vibes_pat_" + "x" * 43})
        assert forged.status_code == 401
        after = await client.get(ME, headers=account.headers)
        assert int(after.headers["x-ratelimit-remaining"]) == remaining - 2


async def test_a_password_change_revokes_the_tokens_too(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    created = await make_token(client, account.headers)
    assert (await client.get(ME, headers=pat(created))).status_code == 200
    changed = await client.post(
        f"{API}/auth/password",
        json={"current_password": account.password, "new_password": "a brand new passphrase"},
        headers=account.headers,
    )
    assert changed.status_code == 204
    assert (await client.get(ME, headers=pat(created))).status_code == 401
    assert (await client.get(ME, headers=account.headers)).status_code == 200
