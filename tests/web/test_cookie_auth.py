"""The web app's cookie sign-in: the refresh token never reaches script, CSRF is refused,
rotation and reuse detection are those of the bearer API, which stays bearer-only."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.accounts.conftest import STRONG_PASSWORD, age_spent_refresh_tokens, sign_up
from tests.conftest import MakeClient
from vibes.accounts.cookies import COOKIE_NAME
from vibes.platform.runtime import app_runtime

WEB = "/api/v1/auth/web"
CSRF = {"X-Vibes-CSRF": "1"}


async def web_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        f"{WEB}/login", json={"email": email, "password": STRONG_PASSWORD}, headers=CSRF
    )


def set_cookie_header(response: httpx.Response) -> str:
    values = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert len(values) == 1, values
    return values[0]


async def test_login_sets_an_httponly_strict_cookie_on_the_auth_path_only(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    client.cookies.clear()
    response = await web_login(client, account.email)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    cookie = set_cookie_header(response)
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert f"Path={WEB}" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert response.headers["cache-control"] == "no-store"


async def test_cookie_is_secure_when_served_over_https(
    app: FastAPI, make_client: MakeClient
) -> None:
    async with make_client(app, base_url="https://testserver") as client:
        account = await sign_up(client)
        response = await web_login(client, account.email)
    assert response.status_code == 200
    assert "Secure" in set_cookie_header(response)


async def test_refresh_rotates_the_cookie_and_reuse_revokes_the_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    account = await sign_up(client)
    await web_login(client, account.email)
    first = client.cookies[COOKIE_NAME]
    response = await client.post(f"{WEB}/refresh", headers=CSRF)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    second = client.cookies[COOKIE_NAME]
    assert second != first
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200

    # The spent cookie coming back (a stolen copy), past the grace window in which it
    # counts as a retry, ends the whole session.
    await age_spent_refresh_tokens(app_runtime(app).database)
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, first, path=WEB)
    reused = await client.post(f"{WEB}/refresh", headers=CSRF)
    assert reused.status_code == 401
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, second, path=WEB)
    assert (await client.post(f"{WEB}/refresh", headers=CSRF)).status_code == 401
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


async def test_refresh_without_a_cookie_is_no_content(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{WEB}/refresh", headers=CSRF)
    assert response.status_code == 204


async def test_requests_without_the_csrf_header_or_from_another_origin_are_refused(
    client: httpx.AsyncClient,
) -> None:
    account = await sign_up(client)
    login = await client.post(
        f"{WEB}/login", json={"email": account.email, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 403
    assert "set-cookie" not in login.headers
    await web_login(client, account.email)
    assert (await client.post(f"{WEB}/refresh")).status_code == 403
    foreign = {**CSRF, "Origin": "https://evil.example"}
    assert (await client.post(f"{WEB}/refresh", headers=foreign)).status_code == 403
    same = {**CSRF, "Origin": "http://testserver"}
    assert (await client.post(f"{WEB}/refresh", headers=same)).status_code == 200


async def test_the_cookie_alone_opens_no_other_route(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    await web_login(client, account.email)
    client.cookies.set(COOKIE_NAME, client.cookies[COOKIE_NAME], path="/")
    assert (await client.get("/api/v1/users/me")).status_code == 401
    assert (await client.get("/api/v1/journals")).status_code == 401


async def test_logout_ends_the_session_and_clears_the_cookie(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    token = (await web_login(client, account.email)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    response = await client.post(f"{WEB}/logout", headers={**CSRF, **bearer})
    assert response.status_code == 204
    assert (
        "Max-Age=0" in set_cookie_header(response)
        or "expires=" in set_cookie_header(response).lower()
    )
    assert COOKIE_NAME not in client.cookies
    assert (await client.get("/api/v1/users/me", headers=bearer)).status_code == 401


async def test_wrong_password_answers_401_without_a_cookie(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    response = await client.post(
        f"{WEB}/login", json={"email": account.email, "password": "not the password"}, headers=CSRF
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert COOKIE_NAME not in client.cookies
