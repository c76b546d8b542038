"""The live stream over real HTTP: uvicorn on loopback, a streaming client, the dispatcher."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.events.helpers import dispatcher_for, iso
from tests.events.servers import serving
from tests.factories import AuthedUser, make_authed_user
from tests.waiting import wait_until
from vibes.accounts import sessions
from vibes.accounts.models import AuthSession
from vibes.app import create_app
from vibes.config import Settings
from vibes.db import Database
from vibes.platform.runtime import app_runtime
from vibes.recording.models import OutboxEvent

# Real servers (uvicorn on loopback) and waits measured in seconds of wall time.
pytestmark = pytest.mark.slow


async def sse_events(response: httpx.Response, pings: list[float]) -> AsyncIterator[dict[str, Any]]:
    """Parse a text/event-stream into {"id", "event", "data"} dicts; count pings."""
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            pings.append(time.monotonic())
        elif not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                yield current
            current = {}
        else:
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")


async def _create(http: httpx.AsyncClient, user: AuthedUser, *, in_seconds: float) -> str:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=in_seconds)
    r = await http.post(
        "/api/v1/reminders", json={"title": "Tea", "remind_at": iso(at)}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def _wait_dispatched(database: Database, reminder_id: str) -> str:
    async def dispatched_id() -> str | None:
        async with database.read_sessionmaker() as s:
            events = (
                await s.scalars(
                    select(OutboxEvent).where(
                        OutboxEvent.type == "reminder.due",
                        OutboxEvent.dispatched_at.is_not(None),
                    )
                )
            ).all()
        for event in events:
            if event.data["reminder_id"] == reminder_id:
                return str(event.id)
        return None

    found = await wait_until(dispatched_id, timeout=10, interval=0.05)
    assert found is not None
    return found


async def test_user_a_gets_their_due_reminder_within_5s_never_bs_and_resumes(
    settings: Settings,
) -> None:
    # Two API processes' worth of apps on one database (and one Redis when configured):
    # the dispatcher runs in `worker_app`; the client connects to `api_app`, which has no
    # dispatcher, so the event reaches it through Redis pub/sub (or, without Redis, the
    # stream's own outbox reading).
    fast = {"dispatcher_poll_seconds": 0.2, "events_heartbeat_seconds": 1.0}
    worker_app = create_app(settings.model_copy(update={**fast, "run_dispatcher": True}))
    api_app = create_app(settings.model_copy(update=fast))
    pings: list[float] = []
    async with (
        serving(worker_app, lifespan="on") as worker_port,
        serving(api_app, lifespan="on") as api_port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker_port}") as writer,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as reader,
    ):
        assert worker_app.state.dispatcher is not None
        assert api_app.state.dispatcher is None
        database: Database = app_runtime(api_app).database
        alice = await make_authed_user(api_app)
        bob = await make_authed_user(api_app)

        received: list[dict[str, Any]] = []
        async with reader.stream("GET", "/api/v1/events", headers=alice.headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            bobs = await _create(writer, bob, in_seconds=1.0)
            mine = await _create(writer, alice, in_seconds=1.0)
            due_at = time.monotonic() + 1.0
            events = sse_events(response, pings)
            # The acceptance bound: within 5 s of its time.
            async with asyncio.timeout(max(0.0, due_at - time.monotonic()) + 5.0):
                async for event in events:
                    received.append(event)
                    if (
                        event["event"] == "reminder.due"
                        and event["data"]["data"]["reminder_id"] == mine
                    ):
                        break
            # Bob's reminder fired too; it must not show up here.
            await _wait_dispatched(database, bobs)
            try:
                async with asyncio.timeout(1.5):
                    async for event in events:
                        received.append(event)
            except TimeoutError:
                pass
        assert all(e["data"]["data"].get("reminder_id") != bobs for e in received)
        first_due = next(e for e in received if e["event"] == "reminder.due")
        assert first_due["id"] == first_due["data"]["id"]
        assert set(first_due["data"]) == {"id", "type", "created_at", "data"}

        # Missed while disconnected: a reminder fires; Last-Event-ID replays it.
        later = await _create(writer, alice, in_seconds=-1)
        await _wait_dispatched(database, later)
        resumed: list[dict[str, Any]] = []
        headers = alice.headers | {"Last-Event-ID": first_due["id"]}
        async with reader.stream("GET", "/api/v1/events", headers=headers) as response:
            async with asyncio.timeout(5):
                async for event in sse_events(response, pings):
                    resumed.append(event)
                    if event["event"] == "reminder.due":
                        break
        assert [e["event"] for e in resumed] == ["reminder.created", "reminder.due"]
        assert resumed[-1]["data"]["data"]["reminder_id"] == later
        assert first_due["id"] not in {e["id"] for e in resumed}

        # A revoked session's stream ends (checked at each heartbeat).
        async with reader.stream("GET", "/api/v1/events", headers=alice.headers) as response:
            async with database.session_scope() as s:
                await sessions.revoke(
                    app_runtime(api_app), s, AuthSession.id == alice.session_id, reason="test"
                )
            async with asyncio.timeout(5):
                async for _ in sse_events(response, pings):
                    pass
        r = await reader.get("/api/v1/events", headers=alice.headers)
        assert r.status_code == 401
    assert pings  # heartbeats were sent


async def test_the_stream_needs_a_token(settings: Settings) -> None:
    app = create_app(settings)
    async with (
        serving(app, lifespan="on") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        r = await http.get("/api/v1/events")
        assert r.status_code == 401
        r = await http.get("/api/v1/events", headers={"Authorization": f"Bearer {uuid.uuid4()}"})
        assert r.status_code == 401


async def test_a_resume_replays_the_whole_backlog_page_by_page(settings: Settings) -> None:
    from tests.events.helpers import dispatcher_for

    app = create_app(settings.model_copy(update={"events_replay_limit": 2}))
    pings: list[float] = []
    async with (
        serving(app, lifespan="on") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        user = await make_authed_user(app)
        created = [await _create(http, user, in_seconds=3600) for _ in range(5)]
        await dispatcher_for(app).dispatch_events()
        headers = user.headers | {"Last-Event-ID": str(uuid.UUID(int=0))}
        got: list[str] = []
        async with http.stream("GET", "/api/v1/events", headers=headers) as response:
            async with asyncio.timeout(5):
                async for event in sse_events(response, pings):
                    got.append(event["data"]["data"]["reminder_id"])
                    if len(got) == len(created):
                        break
        assert got == created


async def _first_event_then(
    app: Any, http: httpx.AsyncClient, user: AuthedUser, response: httpx.Response
) -> AsyncIterator[dict[str, Any]]:
    """The stream's events, once one has arrived (so the stream is surely subscribed)."""
    events = sse_events(response, [])
    await _create(http, user, in_seconds=3600)
    await dispatcher_for(app).dispatch_events()
    async with asyncio.timeout(10):
        await anext(events)
    return events


async def test_the_stream_ends_as_soon_as_its_session_is_revoked(settings: Settings) -> None:
    # A heartbeat of an hour: only the pushed revocation can end the stream in time.
    app = create_app(settings.model_copy(update={"events_heartbeat_seconds": 3600}))
    async with (
        serving(app, lifespan="on") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        user = await make_authed_user(app)
        bystander = await make_authed_user(app)
        async with (
            http.stream("GET", "/api/v1/events", headers=user.headers) as response,
            http.stream("GET", "/api/v1/events", headers=bystander.headers) as other,
        ):
            events = await _first_event_then(app, http, user, response)
            others = await _first_event_then(app, http, bystander, other)
            r = await http.post(
                "/api/v1/auth/logout", json={"refresh_token": "x" * 43}, headers=user.headers
            )
            assert r.status_code == 204
            async with asyncio.timeout(10):
                assert [e async for e in events] == []  # the server ended the stream
            # Another user's stream lives on.
            await _create(http, bystander, in_seconds=3600)
            await dispatcher_for(app).dispatch_events()
            async with asyncio.timeout(10):
                assert (await anext(others))["event"] == "reminder.created"


async def test_the_stream_ends_when_its_access_token_expires(
    settings: Settings, monkeypatch: Any
) -> None:
    app = create_app(settings.model_copy(update={"events_heartbeat_seconds": 3600}))
    async with (
        serving(app, lifespan="on") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        user = await make_authed_user(app)
        from vibes.accounts import tokens

        # A token issued so that it has two seconds left.
        lifetime = dt.timedelta(minutes=app_runtime(app).settings.access_token_minutes)
        issued = dt.datetime.now(dt.UTC) - lifetime + dt.timedelta(seconds=2)
        monkeypatch.setattr(tokens, "utcnow", lambda: issued)
        short, _ = tokens.issue_access_token(
            app_runtime(app).keyring,
            app_runtime(app).settings,
            user_id=user.id,
            session_id=user.session_id,
        )
        monkeypatch.undo()
        headers = {"Authorization": f"Bearer {short}"}
        async with http.stream("GET", "/api/v1/events", headers=headers) as response:
            assert response.status_code == 200
            async with asyncio.timeout(15):
                async for _ in sse_events(response, []):
                    pass  # ends when the server closes the stream at the token's expiry
