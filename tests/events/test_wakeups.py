"""The dispatcher is woken by a notification when a write queues an event, instead of
waiting for its poll: here the poll is 30 s and every wait is bounded well below that."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Backend
from tests.events.helpers import add_webhook, dispatcher_for, due_reminder
from tests.events.servers import Receiver
from tests.factories import make_authed_user
from vibes.config import Settings
from vibes.events.dispatcher import Dispatcher
from vibes.platform.redis import make_redis
from vibes.platform.runtime import app_runtime
from vibes.platform.wakeups import PostgresWakeups, RedisWakeups, SharedWakeups, Wakeups

LONG_POLL = 30.0
# Far below the poll: a delivery within this came from a notification.
WAIT = 10.0


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        # Listening, and its first step done (nothing due): from here on it sleeps.
        await asyncio.wait_for(dispatcher.ready.wait(), WAIT)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


def poll_every(app: FastAPI, seconds: float) -> None:
    runtime = app_runtime(app)
    runtime.settings = runtime.settings.model_copy(update={"dispatcher_poll_seconds": seconds})


@pytest.mark.parametrize(
    "due_in",
    [
        # Due already: creating it queues reminder.created, a notification.
        pytest.param(-1, id="due-now-notified"),
        # Due in 2 s: its notice finds nothing due yet, and nothing is written when it
        # falls due; the dispatcher sleeps until the earliest `next_fire_at` instead.
        pytest.param(2, id="due-by-the-clock"),
    ],
)
async def test_a_reminder_is_delivered_without_waiting_for_the_poll(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, due_in: float
) -> None:
    poll_every(app, LONG_POLL)
    user = await make_authed_user(app)
    await add_webhook(client, user, receiver.url("/hook"), events=["reminder.due"])
    async with running(dispatcher_for(app)):
        await due_reminder(client, user, seconds=due_in)
        await asyncio.wait_for(receiver.wait_for(1), WAIT)
    assert receiver.to("/hook")


async def test_a_failing_step_waits_a_whole_poll_though_a_reminder_is_due(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A reminder that fails each time it is fired stays due: the dispatcher must not
    # retry it every batch window (50 ms) but once a poll, as before it woke by the clock.
    poll_every(app, 1.0)
    user = await make_authed_user(app)
    await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("this reminder cannot be fired")

    dispatcher.fire_due_reminders = failing  # type: ignore[method-assign]
    async with running(dispatcher):
        await asyncio.sleep(1.5)
    assert 1 <= attempts <= 3  # every 50 ms it would be about 30


async def test_a_notice_from_one_process_wakes_a_dispatcher_in_another(
    backend: Backend, settings: Settings
) -> None:
    redis = make_redis(settings)
    listener: SharedWakeups
    notifier: SharedWakeups
    # As two processes would have them: the channel is all they share.
    if redis is not None:
        listener, notifier = RedisWakeups(redis, settings), RedisWakeups(redis, settings)
    elif backend.is_postgres:
        listener = PostgresWakeups(backend.database_url)
        notifier = PostgresWakeups(backend.database_url)
    else:
        pytest.skip("in memory on SQLite without Redis: one process, nothing shared")
    woken = asyncio.Event()
    try:
        await listener.subscribe(woken)
        notifier.notify()
        await asyncio.wait_for(woken.wait(), WAIT)
    finally:
        await listener.stop()
        await notifier.stop()
        if redis is not None:
            await redis.aclose()


async def test_postgres_notices_wake_a_listener_on_another_connection(
    backend: Backend,
) -> None:
    if not backend.is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    listener = PostgresWakeups(backend.database_url)
    notifier = PostgresWakeups(backend.database_url)
    woken = asyncio.Event()
    try:
        await listener.subscribe(woken)
        for _ in range(3):  # a burst folds into one notice or two; each one wakes
            notifier.notify()
        await asyncio.wait_for(woken.wait(), WAIT)
    finally:
        await listener.stop()
        await notifier.stop()


async def test_in_memory_wakeups_set_every_subscribed_event() -> None:
    wakeups = Wakeups()
    first, second = asyncio.Event(), asyncio.Event()
    await wakeups.subscribe(first)
    await wakeups.subscribe(second)
    wakeups.notify()
    assert first.is_set()
    assert second.is_set()
