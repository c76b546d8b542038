"""An app under attack: a running app on the test's backend, reached in process through
schemathesis's ASGI client (its own event loop thread, the app's lifespan started on it),
with a signed-up user whose password the tests know."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.conftest import Backend, _clear_redis_namespace, make_settings, run_coroutine
from tests.factories import DEFAULT_PASSWORD, make_session
from vibes.accounts.tokens import issue_access_token
from vibes.app import create_app
from vibes.config import Settings
from vibes.db import Database
from vibes.platform.runtime import app_runtime

BASE = "http://testserver"
API = "/api/v1"
# The fuzzer sends thousands of requests a minute and signs in again before each request
# that may end its session: the general and sign-in limits would answer 429 to most of
# it. The limits have tests of their own; the tight per-account ones stay as they are.
FUZZ_LIMITS: dict[str, Any] = {
    "rate_limit_default": "1000000/minute",
    "rate_limit_login_account": "1000000/minute",
    "rate_limit_login_address": "1000000/minute",
}


@dataclass
class Target:
    app: FastAPI
    settings: Settings
    schema: OpenApiSchema
    client: Any  # schemathesis's in-process `requests` session
    email: str
    password: str = DEFAULT_PASSWORD

    def new_sessions(self, count: int) -> list[dict[str, str]]:
        """Bearer headers of `count` new sessions of the target's user, made in the
        database directly: a sign-in each would spend most of the run on Argon2."""
        user_id = uuid.UUID(
            self.client.get(f"{BASE}{API}/users/me", headers=self.sign_in()).json()["id"]
        )
        keyring = app_runtime(self.app).keyring

        async def mint() -> list[str]:
            database = Database(self.settings)
            try:
                made = [await make_session(database, user_id) for _ in range(count)]
            finally:
                await database.dispose()
            return [
                issue_access_token(keyring, self.settings, user_id=user_id, session_id=s.id)[0]
                for s in made
            ]

        return [{"Authorization": f"Bearer {token}"} for token in run_coroutine(mint())]

    def sign_in(self) -> dict[str, str]:
        """Bearer headers of a new session of the target's user."""
        r = self.client.post(
            f"{BASE}{API}/auth/login", json={"email": self.email, "password": self.password}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def target(backend: Backend, tmp_path: Path) -> Iterator[Target]:
    settings = make_settings(backend, tmp_path / "data", **FUZZ_LIMITS)
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
    assert isinstance(schema, OpenApiSchema)
    try:
        client = asgi.get_client(app)
        email = "fuzz@example.com"
        r = client.post(
            f"{BASE}{API}/auth/register", json={"email": email, "password": DEFAULT_PASSWORD}
        )
        assert r.status_code == 201, r.text
        yield Target(app, settings, schema, client, email)
    finally:
        asgi.shutdown_lifespans()
        if settings.redis_url:
            run_coroutine(_clear_redis_namespace(settings))
