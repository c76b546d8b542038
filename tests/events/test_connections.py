"""Kept-alive webhook connections: reused for the same site on its vetted address only.

The receivers are real (uvicorn on loopback) and count the connections they are sent on
(the sender's port). Names other than an IP are resolved by a stand-in for DNS that
answers 127.0.0.1 for every name: no real resolver knows the test's names.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from fastapi import FastAPI
from sqlalchemy import select

from tests.events.helpers import add_webhook, dispatcher_for, due_reminder, run_until
from tests.events.servers import Receiver, serving
from tests.factories import make_authed_user
from vibes.events.models import Delivery, DeliveryAttempt
from vibes.events.pools import ConnectionPools, PoolKey
from vibes.platform.runtime import app_runtime


@pytest.fixture
def one_connection_per_site(app: FastAPI) -> None:
    runtime = app_runtime(app)
    runtime.settings = runtime.settings.model_copy(update={"webhook_connections_per_host": 1})


@pytest.fixture
async def every_name_is_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()

    async def loopback(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(loop, "getaddrinfo", loopback)


async def _due_reminders(client: httpx.AsyncClient, user: Any, count: int) -> None:
    for n in range(count):
        await due_reminder(client, user, title=f"r{n}")


@pytest.mark.usefixtures("one_connection_per_site")
async def test_deliveries_to_one_site_share_a_kept_alive_connection(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    await add_webhook(client, user, receiver.url("/hook"), events=["reminder.due"])
    await _due_reminders(client, user, 5)
    dispatcher = dispatcher_for(app)
    await run_until(dispatcher, lambda: len(receiver.to("/hook")) >= 5)
    # A later batch goes out on the same connection too.
    await due_reminder(client, user, title="later")
    await run_until(dispatcher, lambda: len(receiver.to("/hook")) >= 6)

    assert len({r.peer for r in receiver.to("/hook")}) == 1


@pytest.mark.usefixtures("one_connection_per_site", "every_name_is_loopback")
async def test_two_sites_on_one_address_never_share_a_connection(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    for site in ("alpha.test", "beta.test"):
        url = f"http://{site}:{receiver.port}/{site}"
        await add_webhook(client, user, url, events=["reminder.due"])
    await _due_reminders(client, user, 3)
    await run_until(
        dispatcher_for(app),
        lambda: len(receiver.to("/alpha.test")) >= 3 and len(receiver.to("/beta.test")) >= 3,
    )

    alpha, beta = receiver.to("/alpha.test"), receiver.to("/beta.test")
    assert {r.headers["host"] for r in alpha} == {f"alpha.test:{receiver.port}"}
    assert {r.headers["host"] for r in beta} == {f"beta.test:{receiver.port}"}
    # Each site reuses its own connection, and no connection carried both sites.
    assert len({r.peer for r in alpha}) == len({r.peer for r in beta}) == 1
    assert {r.peer for r in alpha}.isdisjoint({r.peer for r in beta})


@pytest.mark.usefixtures("one_connection_per_site")
async def test_a_name_is_looked_up_once_per_delivery_by_the_guard_and_never_again(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the sender connects to the address netguard vetted; a second look-up
    (by the HTTP client) could get another answer."""
    looked_up: list[str] = []
    loop = asyncio.get_running_loop()

    async def loopback(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(loop, "getaddrinfo", loopback)
    user = await make_authed_user(app)
    await add_webhook(
        client, user, f"http://alpha.test:{receiver.port}/alpha", events=["reminder.due"]
    )
    looked_up.clear()  # the look-up at registration
    await _due_reminders(client, user, 3)
    await run_until(dispatcher_for(app), lambda: len(receiver.to("/alpha")) >= 3)

    assert looked_up == ["alpha.test"] * 3
    assert {r.headers["host"] for r in receiver.to("/alpha")} == {f"alpha.test:{receiver.port}"}


@pytest.mark.usefixtures("every_name_is_loopback")
async def test_a_refused_connection_is_reported_without_the_address_or_the_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    hook = await add_webhook(
        client, user, f"http://alpha.test:{port}/hooks/path-secret", events=["reminder.created"]
    )
    await due_reminder(client, user, seconds=3600)
    database = app_runtime(app).database

    async def failed() -> bool:
        async with database.read_sessionmaker() as s:
            return bool(await s.scalar(select(DeliveryAttempt.error)))

    await run_until(dispatcher_for(app), failed)
    r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
    [attempt] = r.json()["items"][0]["attempts"]
    assert attempt["error"].startswith("ClientConnectorError: ")
    assert "127.0.0.1" not in attempt["error"]
    assert "path-secret" not in attempt["error"]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_receiver(ca: trustme.CA, tmp_path: Path) -> AsyncIterator[Receiver]:
    """An HTTPS receiver whose certificate names alpha.test only."""
    cert = ca.issue_cert("alpha.test")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    hook = Receiver()
    async with serving(hook, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as port:
        hook.port = port
        yield hook


@pytest.mark.usefixtures("one_connection_per_site", "every_name_is_loopback")
async def test_https_checks_each_sites_own_name_even_with_a_connection_open(
    app: FastAPI, client: httpx.AsyncClient, tls_receiver: Receiver, ca: trustme.CA
) -> None:
    tls = ssl.create_default_context()
    ca.configure_trust(tls)
    user = await make_authed_user(app)
    good = f"https://alpha.test:{tls_receiver.port}/alpha"
    await add_webhook(client, user, good, events=["reminder.due"])
    dispatcher = dispatcher_for(app, tls=tls)
    await due_reminder(client, user, title="first")
    await run_until(dispatcher, lambda: len(tls_receiver.to("/alpha")) >= 1)

    # Same address and port, another name: the certificate does not name it, and the
    # connection verified for alpha.test (still open) must not carry its request.
    other = f"https://beta.test:{tls_receiver.port}/beta"
    await add_webhook(client, user, other, events=["reminder.due"])
    await due_reminder(client, user, title="second")
    database = app_runtime(app).database

    async def beta_failed() -> bool:
        async with database.read_sessionmaker() as s:
            errors = (
                await s.scalars(
                    select(DeliveryAttempt.error)
                    .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                    .where(Delivery.target != "email", DeliveryAttempt.status_code.is_(None))
                )
            ).all()
        return any(e and "CERTIFICATE_VERIFY_FAILED" in e for e in errors)

    try:
        await run_until(dispatcher, beta_failed)
        await run_until(dispatcher, lambda: len(tls_receiver.to("/alpha")) >= 2)
    finally:
        # Before the receiver stops: uvicorn waits for an open TLS connection to close.
        await dispatcher.aclose()
    assert tls_receiver.to("/beta") == []
    assert len({r.peer for r in tls_receiver.to("/alpha")}) == 1


async def test_a_failed_attempt_is_retried_after_its_backoff_on_a_kept_connection(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    await add_webhook(client, user, receiver.url("/hook"), events=["reminder.due"])
    receiver.scripts["/hook"] = [503, 200]
    await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    database = app_runtime(app).database

    async def first_failed() -> bool:
        async with database.read_sessionmaker() as s:
            return bool(await s.scalar(select(Delivery.attempt_count)) == 1)

    await run_until(dispatcher, first_failed)
    async with database.read_sessionmaker() as s:
        delivery = (await s.scalars(select(Delivery))).one()
        attempt = (await s.scalars(select(DeliveryAttempt))).one()
    assert delivery.status == "pending"
    assert delivery.last_status_code == 503
    # Backoff unchanged: base * 2**0 with jitter 0.5 to 1.5, from the attempt's end.
    base = app_runtime(app).settings.delivery_retry_base_seconds
    wait = delivery.next_attempt_at - attempt.created_at
    assert dt.timedelta(seconds=base * 0.5) <= wait <= dt.timedelta(seconds=base * 1.5)

    await run_until(dispatcher, lambda: len(receiver.to("/hook")) >= 2)
    assert [r.status for r in receiver.to("/hook")] == [503, 200]
    assert len({r.peer for r in receiver.to("/hook")}) == 1


async def test_pools_are_bounded_least_recently_used_first_and_idle_ones_closed(
    receiver: Receiver,
) -> None:
    pools = ConnectionPools(per_host=1, max_pools=2, idle_seconds=0.05)
    keys = [PoolKey("http", "127.0.0.1", receiver.port, f"site{n}.test") for n in range(3)]
    sessions = []
    try:
        for key in keys:
            async with (
                pools.session(key) as session,
                session.post(receiver.url(), headers={"host": key.host}) as r,
            ):
                assert r.status == 200
                sessions.append(session)
        assert len(pools) == 2
        assert sessions[0].closed  # the least recently used went first
        assert not sessions[2].closed
        await asyncio.sleep(0.1)  # past the idle time (what is measured is the closing)
        assert await pools.close_idle() == 2
        assert len(pools) == 0
        assert sessions[2].closed
    finally:
        await pools.aclose()
