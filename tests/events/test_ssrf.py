"""Webhook destinations: refused when not public, at registration and again at delivery."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
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
from vibes.events.models import Webhook
from vibes.events.netguard import REFUSED, is_public
from vibes.events.pools import ConnectionPools
from vibes.events.webhook_http import send_webhook
from vibes.platform.runtime import app_runtime

TARGETS = [
    "http://127.0.0.1/hook",
    "http://[::1]:8080/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:9/hook",  # a name that resolves to loopback
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    # IPv6 forms that lead to an internal IPv4 address
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1::808:808]/",  # local-use NAT64 prefix
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated 127.0.0.1
    "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.1/",
]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path / "data")  # the default: private refused


@pytest.mark.parametrize("url", TARGETS)
async def test_registration_refuses_non_public_destinations(
    app: FastAPI, client: httpx.AsyncClient, url: str
) -> None:
    user = await make_authed_user(app)
    r = await client.post("/api/v1/webhooks", json={"url": url}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == REFUSED
    assert r.json()["errors"][0]["loc"] == ["body", "url"]
    async with app_runtime(app).database.read_sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Webhook)) == 0


@pytest.mark.parametrize("url", TARGETS)
async def test_delivery_refuses_non_public_destinations_without_connecting(
    settings: Settings, url: str
) -> None:
    pools = ConnectionPools(per_host=1, max_pools=1, idle_seconds=1)
    outcome = await send_webhook(
        pools, settings, url=url, secret="whsec_" + "A" * 44, msg_id="m", body="{}"
    )
    assert len(pools) == 0  # no pool, so no connection
    assert not outcome.ok
    assert outcome.status_code is None
    assert outcome.error == REFUSED


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
    assert attempts[0]["error"] == REFUSED
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


async def test_an_unresolvable_name_is_refused_like_an_internal_one(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The answer must not tell whether an internal name resolves (no DNS queried here).
    user = await make_authed_user(app)
    internal = await client.post(
        "/api/v1/webhooks", json={"url": "http://localhost/x"}, headers=user.headers
    )

    async def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    unknown = await client.post(
        "/api/v1/webhooks", json={"url": "http://db.internal.example/x"}, headers=user.headers
    )
    assert internal.status_code == unknown.status_code == 422
    assert internal.json() == unknown.json()
    assert "localhost" not in internal.text


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "2606:4700:4700::1111",
        "64:ff9b::5db8:d70e",  # NAT64 of a public address (DNS64 on an IPv6-only host)
        "2002:5db8:d70e::1",  # 6to4 of a public address
        "::ffff:93.184.215.14",
    ],
)
def test_public_addresses_and_their_ipv6_forms_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",
        "192.0.0.8",
        "198.18.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "::",
        "::ffff:10.1.2.3",
        "64:ff9b::6440:1",
    ],
)
def test_internal_and_special_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
