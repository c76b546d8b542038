"""The current-user dependency every authenticated route stands on."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from tests.factories import make_authed_user
from vibes.accounts.dependencies import CurrentPrincipal
from vibes.accounts.models import AuthSession
from vibes.db import utcnow
from vibes.platform.runtime import app_runtime


@pytest.fixture
def whoami_app(app: FastAPI) -> FastAPI:
    @app.get("/_probe/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, str]:
        return {"user_id": str(principal.user_id)}

    return app


async def test_live_session_token_is_accepted(
    whoami_app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(whoami_app)
    response = await client.get("/_probe/whoami", headers=user.headers)
    assert response.status_code == 200
    assert response.json() == {"user_id": str(user.id)}


async def test_missing_token_is_401_problem(whoami_app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get("/_probe/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_token_of_revoked_session_is_401_at_once(
    whoami_app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(whoami_app)
    async with app_runtime(whoami_app).database.session_scope() as s:
        await s.execute(
            update(AuthSession).where(AuthSession.id == user.session_id).values(revoked_at=utcnow())
        )
    response = await client.get("/_probe/whoami", headers=user.headers)
    assert response.status_code == 401
