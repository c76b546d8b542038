"""Security headers on every answer; CORS only for exactly the configured origins."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Backend, MakeClient, make_settings
from tests.factories import make_authed_user
from vibes.app import create_app


def _assert_basics(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_every_answer_has_the_security_headers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    for response in (
        await client.get("/healthz"),
        await client.get("/api/v1/nowhere"),
        await client.get("/api/v1/users/me"),
        await client.get("/api/v1/users/me", headers=user.headers),
        await client.post("/api/v1/auth/login", json={}),
    ):
        _assert_basics(response)
        assert "strict-transport-security" not in response.headers


async def test_authenticated_and_api_answers_are_not_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    me = await client.get("/api/v1/users/me", headers=user.headers)
    login = await client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
    health_with_token = await client.get("/healthz", headers=user.headers)
    assert me.headers["cache-control"] == "no-store"
    assert login.headers["cache-control"] == "no-store"
    assert health_with_token.headers["cache-control"] == "no-store"


async def test_hsts_only_over_https(make_client: MakeClient) -> None:
    async with make_client(base_url="https://vibes.example") as c:
        response = await c.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    _assert_basics(response)


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    preflight = await client.options(
        "/api/v1/users/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allows_exactly_the_listed_origins(make_client: MakeClient) -> None:
    async with make_client(cors_origins=["https://app.example"]) as c:
        allowed = await c.get("/healthz", headers={"Origin": "https://app.example"})
        other = await c.get("/healthz", headers={"Origin": "https://app.example.evil"})
        preflight = await c.options(
            "/api/v1/users/me",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "Authorization, If-Match",
            },
        )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-ratelimit-remaining" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in preflight.headers
    _assert_basics(preflight)


@pytest.mark.parametrize("origin", ["*", "https://*.example", "https://app.example/path"])
def test_cors_refuses_anything_but_exact_origins(
    backend: Backend, tmp_path: Path, origin: str
) -> None:
    with pytest.raises(ValueError, match="exact origins"):
        create_app(make_settings(backend, tmp_path / "sec-data", cors_origins=[origin]))
