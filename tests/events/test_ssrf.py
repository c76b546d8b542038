"""Webhook destinations: refused when not public, at registration and again at delivery."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.conftest import Backend, make_settings
from tests.events.helpers import add_webhook, dispatcher_for, due_reminder, run_until
from tests.events.servers import Receiver
from tests.factories import make_authed_user
from vibes.config import Settings
from vibes.events.channels import send_webhook
from vibes.events.models import Webhook
from vibes.platform.runtime import app_runtime

TARGETS = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://[::1]:8080/hook", "loopback"),
    ("http://10.0.0.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://localhost:9/hook", "loopback"),  # a name that resolves to loopback
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path / "data")  # the default: private refused


@pytest.mark.parametrize(("url", "reason"), TARGETS)
async def test_registration_refuses_non_public_destinations(
    app: FastAPI, client: httpx.AsyncClient, url: str, reason: str
) -> None:
    user = await make_authed_user(app)
    r = await client.post("/api/v1/webhooks", json={"url": url}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    assert r.json()["errors"][0]["loc"] == ["body", "url"]
    async with app_runtime(app).database.read_sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Webhook)) == 0


@pytest.mark.parametrize(("url", "reason"), TARGETS)
async def test_delivery_refuses_non_public_destinations_without_connecting(
    settings: Settings, url: str, reason: str
) -> None:
    async with httpx.AsyncClient() as http:
        outcome = await send_webhook(
            http, settings, url=url, secret="whsec_" + "A" * 44, msg_id="m", body="{}"
        )
    assert not outcome.ok
    assert outcome.status_code is None
    assert outcome.error is not None
    assert reason in outcome.error


async def test_a_hook_registered_while_allowed_is_refused_at_delivery_once_disallowed(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Registration is not the only check: every delivery resolves and vets again."""
    user = await make_authed_user(app)
    strict = app_runtime(app).settings
    app_runtime(app).settings = strict.model_copy(update={"webhooks_allow_private": True})
    hook = await add_webhook(client, user, receiver.url("/private"))
    app_runtime(app).settings = strict
    await due_reminder(client, user, seconds=3600)
    dispatcher = dispatcher_for(app)

    attempts: list[dict[str, object]] = []

    async def check() -> None:
        r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
        items = r.json()["items"]
        attempts[:] = items[0]["attempts"] if items else []

    for _ in range(20):
        await dispatcher.run_once()
        await check()
        if attempts:
            break
    assert attempts
    assert "loopback" in str(attempts[0]["error"])
    assert receiver.requests == []


async def test_allow_private_lets_a_loopback_receiver_through(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    app_runtime(app).settings = app_runtime(app).settings.model_copy(
        update={"webhooks_allow_private": True}
    )
    user = await make_authed_user(app)
    await add_webhook(client, user, receiver.url("/ok"))
    await due_reminder(client, user, seconds=3600)
    await run_until(dispatcher_for(app), lambda: len(receiver.to("/ok")) >= 1)
