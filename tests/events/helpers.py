"""Small helpers shared by the events tests."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from tests.factories import AuthedUser
from tests.waiting import wait_until
from vibes.events.dispatcher import Dispatcher
from vibes.platform.runtime import app_runtime


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# Dispatchers made by `dispatcher_for`, closed after each test (`close_dispatchers`):
# their webhook connections are kept alive, and a socket left to the garbage collector
# is a ResourceWarning in whichever test runs next.
OPEN_DISPATCHERS: list[Dispatcher] = []


def dispatcher_for(app: FastAPI, **kwargs: object) -> Dispatcher:
    runtime = app_runtime(app)
    kwargs.setdefault("keyring", runtime.keyring)
    kwargs.setdefault("wakeups", runtime.wakeups)
    dispatcher = Dispatcher(runtime.database, runtime.settings, runtime.broker, **kwargs)  # type: ignore[arg-type]
    OPEN_DISPATCHERS.append(dispatcher)
    return dispatcher


async def close_open_dispatchers() -> None:
    while OPEN_DISPATCHERS:
        await OPEN_DISPATCHERS.pop().aclose()


async def run_until(
    dispatcher: Dispatcher,
    done: Callable[[], bool | Awaitable[bool]],
    *,
    limit: float = 10.0,
) -> None:
    """Run dispatcher steps until `done()` (sync or async) holds, within `limit` seconds."""

    async def step() -> bool:
        if await _holds(done):
            return True
        await dispatcher.run_once()
        return await _holds(done)

    await wait_until(step, timeout=limit, message="the dispatcher did not get there")


async def _holds(condition: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = condition()
    return bool(await result if inspect.isawaitable(result) else result)


async def due_reminder(
    client: httpx.AsyncClient, user: AuthedUser, *, title: str = "Stretch", seconds: float = -1
) -> str:
    """A one-off reminder due `seconds` from now (past by default); returns its id."""
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    r = await client.post(
        "/api/v1/reminders", json={"title": title, "remind_at": iso(at)}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    return rid


async def add_webhook(
    client: httpx.AsyncClient, user: AuthedUser, url: str, events: list[str] | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"url": url}
    if events is not None:
        body["events"] = events
    r = await client.post("/api/v1/webhooks", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    created: dict[str, object] = r.json()
    return created
