"""Every recurrence expansion is bounded: bad rules are refused, stored ones cannot wedge
the dispatcher, and old starts do not make expansions walk decades of occurrences."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import httpx
import pytest
from dateutil.rrule import rrulestr
from fastapi import FastAPI
from sqlalchemy import select

from tests.events.helpers import dispatcher_for, due_reminder
from tests.factories import make_authed_user
from vibes.db import Database
from vibes.recording.models import OutboxEvent
from vibes.reminders.models import Reminder
from vibes.reminders.recurrence import RecurrenceError, Schedule, normalize_rule

BASE = "/api/v1/reminders"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=DAILY;INTERVAL=1001",
        "FREQ=DAILY;INTERVAL=x",
        "FREQ=HOURLY;COUNT=100000000",
        "FREQ=HOURLY;COUNT=0",
        "FREQ=DAILY;COUNT=3;UNTIL=20300101T000000Z",
        "FREQ=DAILY;UNTIL=99991231T230000Z",
        "FREQ=DAILY;UNTIL=00010101T000000Z",
        "FREQ=HOURLY;BYMINUTE=" + ",".join(str(m) for m in range(60)),
        "FREQ=HOURLY;BYSECOND=1,2",
    ],
)
def test_unbounded_rules_are_refused(rule: str) -> None:
    with pytest.raises(RecurrenceError):
        normalize_rule(rule)


RULES = [
    "daily",
    "weekly",
    "monthly",
    "weekdays",
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=HOURLY;BYHOUR=8,20",
    "FREQ=DAILY;INTERVAL=3;BYHOUR=7,19",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
    "FREQ=MONTHLY;INTERVAL=5",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=YEARLY",
    "FREQ=YEARLY;INTERVAL=3;BYMONTH=3,9;BYMONTHDAY=15",
]
STARTS = [
    dt.datetime(1972, 1, 31, 21, 30),  # a 31st: monthly rules skip short months
    dt.datetime(1980, 2, 29, 6, 15),  # a leap day: yearly rules only hit leap years
    dt.datetime(2001, 3, 25, 2, 30),  # inside a Berlin spring-forward gap
]


@pytest.mark.parametrize("rule", RULES)
def test_a_far_start_gives_the_same_occurrences_as_a_full_walk(rule: str) -> None:
    zone = ZoneInfo("Europe/Berlin")
    text = normalize_rule(rule)
    full_text = {"daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY", "monthly": "FREQ=MONTHLY"}
    full_text["weekdays"] = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    for local_start in STARTS:
        remind_at = local_start.replace(tzinfo=zone).astimezone(dt.UTC)
        schedule = Schedule(remind_at, "Europe/Berlin", text)
        after = dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC)
        got = []
        for occurrence in schedule.occurrences_after(after):
            got.append(occurrence)
            if len(got) == 5:
                break
        dtstart = remind_at.astimezone(zone).replace(tzinfo=None)
        reference = rrulestr(full_text.get(text, text), dtstart=dtstart, cache=False)
        local_after = after.astimezone(zone).replace(tzinfo=None) - dt.timedelta(hours=3)
        expected = []
        for local in reference.xafter(local_after, inc=True):
            instant = local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
            if instant > after:
                expected.append(instant)
            if len(expected) == 5:
                break
        # Expansions look ten years ahead at most (a rule silent that long counts as done).
        horizon = after + dt.timedelta(days=365 * 9)
        assert [g for g in got if g < horizon] == [e for e in expected if e < horizon], (
            rule,
            local_start,
        )
        assert got


async def test_bad_intervals_and_counts_are_422_not_a_hang(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    for rule, remind_at in (
        ("FREQ=DAILY;INTERVAL=0", "2030-01-01T09:00:00Z"),
        ("FREQ=DAILY;INTERVAL=-1", "2030-01-01T09:00:00Z"),
        ("FREQ=HOURLY;COUNT=100000000", "1971-01-01T00:00:00Z"),
        ("FREQ=HOURLY;COUNT=10", "0001-01-01T00:00:00Z"),
    ):
        body = {"title": "x", "remind_at": remind_at, "recurrence": rule}
        r = await client.post(BASE, json=body, headers=user.headers)
        assert r.status_code == 422, (rule, r.text)


async def test_an_hourly_rule_started_in_1970_expands_to_the_next_hour(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    body = {"title": "x", "remind_at": "1970-01-01T00:30:00Z", "recurrence": "FREQ=HOURLY"}
    r = await client.post(BASE, json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    next_fire = dt.datetime.fromisoformat(r.json()["next_fire_at"])
    now = dt.datetime.now(dt.UTC)
    assert now <= next_fire <= now + dt.timedelta(hours=1)
    assert next_fire.minute == 30
    r = await client.post(f"{BASE}/{r.json()['id']}/complete", headers=user.headers)
    assert r.status_code == 200, r.text
    assert dt.datetime.fromisoformat(r.json()["next_fire_at"]) == next_fire + dt.timedelta(hours=1)
    # A COUNT rule from 1970 is long over: no occurrence at or after now.
    body["recurrence"] = "FREQ=HOURLY;COUNT=1000"
    r = await client.post(BASE, json=body, headers=user.headers)
    assert r.status_code == 422, r.text


async def _poison(database: Database, user_id: uuid.UUID, rule: str) -> uuid.UUID:
    """A reminder row with a rule the API would refuse, as if stored before the bounds."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    reminder = Reminder(
        user_id=user_id,
        title="poisoned",
        priority=2,
        remind_at=past,
        timezone="UTC",
        recurrence=rule,
        occurrence_at=past,
        next_fire_at=past,
        is_completed=False,
    )
    async with database.session_scope() as session:
        session.add(reminder)
    return reminder.id


@pytest.mark.parametrize("rule", ["FREQ=DAILY;INTERVAL=-1", "FREQ=DAILY;INTERVAL=0"])
async def test_a_poisoned_row_does_not_stop_other_reminders_from_firing(
    app: FastAPI, client: httpx.AsyncClient, database: Database, rule: str
) -> None:
    user = await make_authed_user(app)
    poisoned = await _poison(database, user.id, rule)
    good = await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    await dispatcher.run_once()
    await dispatcher.run_once()
    async with database.read_sessionmaker() as s:
        events = (await s.scalars(select(OutboxEvent))).all()
        fired = {e.data["reminder_id"] for e in events if e.type == "reminder.due"}
        assert fired == {good, str(poisoned)}
        row = await s.get(Reminder, poisoned)
        assert row is not None
        assert row.next_fire_at is None  # stops recurring instead of spinning or re-failing


async def test_completing_a_poisoned_reminder_ends_it(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(app)
    poisoned = await _poison(database, user.id, "FREQ=DAILY;INTERVAL=0")
    r = await client.post(f"{BASE}/{poisoned}/complete", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_completed"] is True
    assert r.json()["next_fire_at"] is None
