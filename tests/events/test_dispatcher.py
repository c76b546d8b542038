"""The dispatcher's guarantees: on time in local time, one event per occurrence, leases."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.events.helpers import dispatcher_for, due_reminder, iso
from tests.factories import make_authed_user, make_user
from vibes.db import Database, utcnow
from vibes.events.delivery import backoff_seconds
from vibes.events.dispatcher import Dispatcher
from vibes.events.models import Delivery
from vibes.platform.runtime import app_runtime
from vibes.recording.models import OutboxEvent
from vibes.reminders.models import Reminder

BERLIN = ZoneInfo("Europe/Berlin")


async def _due_events(database: Database) -> list[OutboxEvent]:
    async with database.read_sessionmaker() as s:
        stmt = (
            select(OutboxEvent).where(OutboxEvent.type == "reminder.due").order_by(OutboxEvent.id)
        )
        return list((await s.scalars(stmt)).all())


async def _next_fire(database: Database, reminder_id: str) -> dt.datetime | None:
    async with database.read_sessionmaker() as s:
        return await s.scalar(
            select(Reminder.next_fire_at).where(Reminder.id == uuid.UUID(reminder_id))
        )


async def test_a_daily_21h_berlin_reminder_fires_at_21h_local_every_day_across_dst(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    year = utcnow().year + 1
    for month in (3, 10):
        last_sunday = max(
            dt.date(year, month, d) for d in range(25, 32) if dt.date(year, month, d).weekday() == 6
        )
        start = dt.datetime.combine(last_sunday - dt.timedelta(days=3), dt.time(21), tzinfo=BERLIN)
        r = await client.post(
            "/api/v1/reminders",
            json={
                "title": "Journal",
                "remind_at": start.isoformat(),
                "timezone": "Europe/Berlin",
                "recurrence": "daily",
            },
            headers=user.headers,
        )
        rid = r.json()["id"]
        fired_at: list[dt.datetime] = []
        for _ in range(7):
            due = await _next_fire(database, rid)
            assert due is not None
            # The dispatcher wakes exactly at the due instant (a clock it is given).
            dispatcher = dispatcher_for(app, clock=lambda due=due: due)
            assert await dispatcher.fire_due_reminders() == 1
            assert await dispatcher.fire_due_reminders() == 0  # nothing twice
            fired_at.append(due)
        events = [e for e in await _due_events(database) if e.data["reminder_id"] == rid]
        assert len(events) == 7
        local = [
            dt.datetime.fromisoformat(e.data["occurrence_at"]).astimezone(BERLIN) for e in events
        ]
        assert all((t.hour, t.minute) == (21, 0) for t in local), local
        assert [t.date() for t in local] == [start.date() + dt.timedelta(days=i) for i in range(7)]
        assert len({t.utcoffset() for t in local}) == 2
        assert len({e.dedupe_key for e in events}) == 7
        await client.delete(f"/api/v1/reminders/{rid}", headers=user.headers)


async def test_a_stale_claim_cannot_make_a_second_event_for_one_occurrence(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    rid = await due_reminder(client, user)
    async with database.read_sessionmaker() as s:
        before = await s.scalar(select(Reminder.next_fire_at).where(Reminder.id == uuid.UUID(rid)))
    dispatcher = dispatcher_for(app)
    assert await dispatcher.fire_due_reminders() == 1
    # As if a second worker had read the reminder before the first moved it on.
    async with database.session_scope() as s:
        await s.execute(
            update(Reminder)
            .where(Reminder.id == uuid.UUID(rid))
            .values(next_fire_at=before, last_fired_at=None)
        )
    assert await dispatcher.fire_due_reminders() == 1
    assert len(await _due_events(database)) == 1


async def test_concurrent_dispatchers_make_exactly_one_event_per_due_reminder(
    app: FastAPI,
) -> None:
    database: Database = app_runtime(app).database
    user = await make_user(database)
    now = utcnow()
    async with database.session_scope() as s:
        for i in range(300):
            at = now - dt.timedelta(seconds=1)
            s.add(
                Reminder(
                    user_id=user.id,
                    title=f"r{i}",
                    priority=2,
                    remind_at=at,
                    timezone="UTC",
                    occurrence_at=at,
                    next_fire_at=at,
                    is_completed=False,
                )
            )
    settings = app_runtime(app).settings.model_copy(update={"dispatcher_batch_size": 50})
    dispatchers = [Dispatcher(database, settings, app_runtime(app).broker) for _ in range(4)]

    async def drain(d: Dispatcher) -> int:
        total = 0
        while fired := await d.fire_due_reminders():
            total += fired
        return total

    counts = await asyncio.gather(*(drain(d) for d in dispatchers))
    assert sum(counts) == 300
    events = await _due_events(database)
    assert len(events) == 300
    assert len({e.data["reminder_id"] for e in events}) == 300


async def test_a_leased_event_waits_for_its_lease_then_another_worker_takes_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    await due_reminder(client, user, seconds=3600)  # one reminder.created event
    lease = app_runtime(app).settings.dispatcher_lease_seconds
    # A worker claimed it and died: lease_until is in the future, dispatched_at unset.
    async with database.session_scope() as s:
        await s.execute(
            update(OutboxEvent).values(lease_until=utcnow() + dt.timedelta(seconds=lease))
        )
    assert await dispatcher_for(app).dispatch_events() == 0
    later = dispatcher_for(app, clock=lambda: utcnow() + dt.timedelta(seconds=lease + 1))
    assert await later.dispatch_events() == 1
    async with database.read_sessionmaker() as s:
        event = await s.scalar(select(OutboxEvent))
    assert event is not None
    assert event.dispatched_at is not None
    assert event.attempts == 1


async def test_a_leased_delivery_is_retaken_once_its_lease_runs_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from tests.events.servers import Receiver, serving

    hook = Receiver()
    async with serving(hook) as port:
        hook.port = port
        user = await make_authed_user(app)
        r = await client.post(
            "/api/v1/webhooks",
            json={"url": hook.url(), "events": ["reminder.created"]},
            headers=user.headers,
        )
        assert r.status_code == 201
        await due_reminder(client, user, seconds=3600)
        database: Database = app_runtime(app).database
        first = dispatcher_for(app)
        await first.dispatch_events()
        jobs = await first._claim_deliveries()  # claimed... and the worker dies here
        assert len(jobs) == 1
        assert await dispatcher_for(app).deliver_due() == 0
        lease = app_runtime(app).settings.dispatcher_lease_seconds
        later = dispatcher_for(app, clock=lambda: utcnow() + dt.timedelta(seconds=lease + 1))
        assert await later.deliver_due() == 1
        assert len(hook.requests) == 1
        async with database.read_sessionmaker() as s:
            status = await s.scalar(select(Delivery.status))
        assert status == "succeeded"


async def test_snoozing_a_fired_one_off_fires_it_again_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    rid = await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    await dispatcher.fire_due_reminders()
    assert await _next_fire(database, rid) is None
    r = await client.post(
        f"/api/v1/reminders/{rid}/snooze", json={"minutes": 5}, headers=user.headers
    )
    assert r.status_code == 200
    later = dispatcher_for(app, clock=lambda: utcnow() + dt.timedelta(minutes=6))
    assert await later.fire_due_reminders() == 1
    assert await later.fire_due_reminders() == 0
    events = await _due_events(database)
    assert [e.data["snoozed"] for e in events] == [False, True]
    assert len({e.dedupe_key for e in events}) == 2
    assert await _next_fire(database, rid) is None


async def test_snoozing_after_a_recurring_fire_keeps_the_next_occurrence(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    start = utcnow().replace(microsecond=0) - dt.timedelta(seconds=5)
    r = await client.post(
        "/api/v1/reminders",
        json={
            "title": "x",
            "remind_at": iso(start),
            "recurrence": "FREQ=HOURLY",
            "timezone": "UTC",
        },
        headers=user.headers,
    )
    rid = r.json()["id"]
    # A recurring reminder created in the past starts at its next occurrence from now.
    first = await _next_fire(database, rid)
    assert first == start + dt.timedelta(hours=1)
    at_first = dispatcher_for(app, clock=lambda: first)
    await at_first.fire_due_reminders()
    second = first + dt.timedelta(hours=1)
    assert await _next_fire(database, rid) == second
    async with database.session_scope() as s:
        reminder = await s.get(Reminder, uuid.UUID(rid))
        assert reminder is not None
        from vibes.reminders import service

        await service.snooze_reminder(s, reminder, minutes=10, now=first)
    snoozed = dispatcher_for(app, clock=lambda: first + dt.timedelta(minutes=10))
    assert await snoozed.fire_due_reminders() == 1
    assert await _next_fire(database, rid) == second  # the rule's time is untouched
    r = await client.get(f"/api/v1/reminders/{rid}", headers=user.headers)
    assert r.json()["snoozed_until"] is None


async def test_backoff_grows_exponentially_with_jitter_and_is_capped(app: FastAPI) -> None:
    settings = app_runtime(app).settings.model_copy(
        update={"delivery_retry_base_seconds": 10.0, "delivery_retry_max_seconds": 100.0}
    )
    for attempt, nominal in ((1, 10.0), (2, 20.0), (3, 40.0), (8, 100.0)):
        delays = {backoff_seconds(settings, attempt) for _ in range(20)}
        assert all(nominal * 0.5 <= d <= nominal * 1.5 for d in delays)
        assert len(delays) > 1  # jittered


async def test_queue_depth_and_delivery_metrics_are_exposed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    depth = await dispatcher.measure_queue_depth()
    assert depth == {"reminders": 1, "events": 1, "deliveries": 0}
    await dispatcher.run_once()
    assert await dispatcher.measure_queue_depth() == {"reminders": 0, "events": 0, "deliveries": 0}
    text = (await client.get("/metrics")).text
    assert 'vibes_dispatch_queue_depth{queue="reminders"} 0.0' in text
    assert "vibes_dispatch_lag_seconds_bucket" in text
    assert "vibes_deliveries_total" in text
    async with app_runtime(app).database.read_sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 2


async def test_dispatched_events_past_retention_are_purged_undispatched_kept(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    await due_reminder(client, user, seconds=3600)
    await dispatcher_for(app).dispatch_events()  # reminder.created: dispatched
    await due_reminder(client, user, seconds=3600)  # its event: not yet dispatched
    days = app_runtime(app).settings.events_retention_days
    future = dispatcher_for(app, clock=lambda: utcnow() + dt.timedelta(days=days, hours=1))
    assert await future.purge_old_events() == 1
    async with database.read_sessionmaker() as s:
        left = (await s.scalars(select(OutboxEvent))).all()
    assert [e.dispatched_at for e in left] == [None]


async def test_the_dispatcher_runs_in_process_on_the_embedded_default(tmp_path: Path) -> None:
    from vibes.app import create_app
    from vibes.config import Settings

    embedded = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    assert embedded.is_sqlite
    assert embedded.dispatcher_in_process
    pg = Settings(_env_file=None, database_url="postgresql+asyncpg://h/db")  # type: ignore[call-arg]
    assert not pg.dispatcher_in_process  # clusters run `vibes worker`s
    from vibes import migrations

    embedded.data_dir.mkdir()
    await migrations.upgrade(embedded.resolved_database_url)
    app = create_app(embedded)
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.dispatcher, Dispatcher)


async def test_firing_bumps_the_version_and_logs_the_change_for_sync(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # The reminders move on in one statement, outside the unit of work: their version
    # must still go up by one, and the change log carry that version for devices.
    from vibes.recording.models import Change

    user = await make_authed_user(app)
    database: Database = app_runtime(app).database
    ids = [await due_reminder(client, user, title=f"r{n}") for n in range(3)]
    before = {
        i: (await client.get(f"/api/v1/reminders/{i}", headers=user.headers)).json()["version"]
        for i in ids
    }
    assert await dispatcher_for(app).fire_due_reminders() == 3
    for i in ids:
        got = (await client.get(f"/api/v1/reminders/{i}", headers=user.headers)).json()
        assert got["version"] == before[i] + 1
    async with database.read_sessionmaker() as s:
        logged = {
            str(c.entity_id): c.version
            for c in await s.scalars(
                select(Change).where(Change.kind == "reminder").order_by(Change.position)
            )
        }
        fired = await s.scalars(
            select(Reminder).where(Reminder.id.in_([uuid.UUID(i) for i in ids]))
        )
        assert all(r.last_fired_at is not None and r.next_fire_at is None for r in fired)
    assert logged == {i: before[i] + 1 for i in ids}
