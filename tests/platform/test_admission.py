"""Admission control: past VIBES_MAX_INFLIGHT requests at once, a process sheds the rest
with a fast 503 + Retry-After, while health checks and metrics still answer."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from tests.conftest import MakeApp, asgi_client
from tests.waiting import wait_until


def _add_gate(app: FastAPI) -> tuple[asyncio.Event, list[None]]:
    """A route that holds its request until the gate opens (a slow database call)."""
    gate = asyncio.Event()
    entered: list[None] = []

    @app.get("/_probe/slow")
    async def slow() -> dict[str, str]:
        entered.append(None)
        await gate.wait()
        return {"status": "done"}

    return gate, entered


async def test_requests_past_the_limit_get_a_fast_503_with_retry_after(
    make_app: MakeApp,
) -> None:
    holder: dict[str, tuple[asyncio.Event, list[None]]] = {}
    async with (
        make_app(max_inflight=2, configure=lambda a: holder.update(g=_add_gate(a))) as app,
        asgi_client(app) as client,
    ):
        gate, entered = holder["g"]
        held = [asyncio.create_task(client.get("/_probe/slow")) for _ in range(2)]
        await wait_until(lambda: len(entered) == 2, message="both held requests entered")

        shed = await client.get("/api/v1/users/me")
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")

        gate.set()
        answers = await asyncio.gather(*held)
        after = await client.get("/_probe/slow")

    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.headers["x-content-type-options"] == "nosniff"  # still a full answer
    assert shed.headers["x-request-id"]
    assert (health.status_code, ready.status_code) == (200, 200)
    assert "vibes_http_requests_shed_total" in metrics.text
    assert [a.status_code for a in answers] == [200, 200]
    assert after.status_code == 200  # the count went down again


async def test_a_failing_request_gives_its_place_back(make_app: MakeApp) -> None:
    def add_boom(app: FastAPI) -> None:
        @app.get("/_probe/boom")
        async def boom() -> None:
            raise RuntimeError("a bug")

    async with (
        make_app(max_inflight=1, configure=add_boom) as app,
        asgi_client(app, raise_app_exceptions=False) as client,
    ):
        statuses = [(await client.get("/_probe/boom")).status_code for _ in range(3)]
        me = await client.get("/api/v1/users/me")
    assert statuses == [500, 500, 500]
    assert me.status_code == 401  # admitted, refused by authentication, not shed


async def test_zero_turns_admission_control_off(make_app: MakeApp) -> None:
    holder: dict[str, tuple[asyncio.Event, list[None]]] = {}
    async with (
        make_app(max_inflight=0, configure=lambda a: holder.update(g=_add_gate(a))) as app,
        asgi_client(app) as client,
    ):
        gate, entered = holder["g"]
        held = [asyncio.create_task(client.get("/_probe/slow")) for _ in range(5)]
        await wait_until(lambda: len(entered) == 5, message="all five entered")
        gate.set()
        answers = await asyncio.gather(*held)
    assert {a.status_code for a in answers} == {200}
