"""Redis killed under a running cluster of two processes: everything still answers, auth
never fails open, the live stream reads the database, and it all heals by itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.events.servers import serving
from tests.events.test_stream import sse_events
from tests.factories import DEFAULT_PASSWORD, make_authed_user
from tests.faults.redis import PrivateRedis
from tests.waiting import wait_until
from vibes.app import create_app
from vibes.config import Settings

pytestmark = pytest.mark.slow


async def _next_created(events: Any, journal_id: str, within: float) -> dict[str, Any]:
    async with asyncio.timeout(within):
        async for event in events:
            if event["event"] == "journal.created" and event["data"]["data"]["id"] == journal_id:
                return dict(event)
    raise AssertionError("the stream ended")


async def _write(http: httpx.AsyncClient, headers: dict[str, str], title: str) -> str:
    r = await http.post("/api/v1/journals", json={"title": title, "content": "x"}, headers=headers)
    assert r.status_code == 201, r.text
    journal_id: str = r.json()["id"]
    return journal_id


async def test_a_redis_outage_degrades_every_feature_and_heals_by_itself(
    settings: Settings, private_redis: PrivateRedis
) -> None:
    base = settings.model_copy(
        update={
            "redis_url": private_redis.url,
            "dispatcher_poll_seconds": 0.2,
            "events_heartbeat_seconds": 1.0,
            "rate_limit_login_account": "4/15 minutes",
        }
    )
    # A worker-like process (the dispatcher) and an API process, sharing Redis.
    worker_app = create_app(base.model_copy(update={"run_dispatcher": True}))
    api_app = create_app(base)
    pings: list[float] = []
    async with (
        serving(worker_app, lifespan="on"),
        serving(api_app, lifespan="on") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        alice = await make_authed_user(api_app)
        async with http.stream("GET", "/api/v1/events", headers=alice.headers) as stream:
            events = sse_events(stream, pings)
            first = await _write(http, alice.headers, "before")
            await _next_created(events, first, within=10)

            private_redis.kill()
            started = time.monotonic()
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["redis"] == "down"

            # Writes and reads answer, and the stream gets the event from the outbox.
            during = await _write(http, alice.headers, "during")
            assert (
                await http.get(f"/api/v1/journals/{during}", headers=alice.headers)
            ).status_code == 200
            await _next_created(events, during, within=10)

            # Sign-in works; its limits are still enforced (in this process), never open.
            login = {"email": alice.email, "password": DEFAULT_PASSWORD}
            assert (await http.post("/api/v1/auth/login", json=login)).status_code == 200
            wrong = {"email": alice.email, "password": "not the password at all"}
            codes = [
                (await http.post("/api/v1/auth/login", json=wrong)).status_code for _ in range(6)
            ]
            assert codes[0] == 401
            assert codes[-1] == 429
            assert time.monotonic() - started < 20  # failing fast, not waiting on Redis

            private_redis.start()

            async def healed() -> bool:
                body = (await http.get("/readyz")).json()
                return bool(body["status"] == "ok")

            assert await wait_until(healed, timeout=15, interval=0.2)
            after = await _write(http, alice.headers, "after")
            await _next_created(events, after, within=10)
