"""The reminders API per API.md, on both databases."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.factories import make_authed_user
from vibes.db import Database
from vibes.journals.models import Journal
from vibes.recording.models import Change, OutboxEvent

BERLIN = ZoneInfo("Europe/Berlin")
BASE = "/api/v1/reminders"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _future(days: int = 3, hour: int = 9) -> dt.datetime:
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


async def test_create_answers_201_with_defaults_location_and_etag(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app, timezone="America/New_York")
    remind_at = _future()
    r = await client.post(
        BASE, json={"title": "Call mum", "remind_at": _iso(remind_at)}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["priority"] == 2
    assert body["timezone"] == "America/New_York"  # the user's zone
    assert body["is_completed"] is False
    assert _at(body["next_fire_at"]) == remind_at
    assert body["version"] == 1
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"].endswith(f"/reminders/{body['id']}")


async def test_bad_rrule_is_422_with_a_helpful_message(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        BASE,
        json={"title": "x", "remind_at": _iso(_future()), "recurrence": "FREQ=FORTNIGHTLY"},
        headers=user.headers,
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert errors[0]["loc"][-1] == "recurrence"
    assert "FREQ" in errors[0]["msg"]
    async with database.read_sessionmaker() as s:
        assert (await s.scalars(select(OutboxEvent))).all() == []


async def test_bad_timezone_and_priority_are_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    for extra in ({"timezone": "Mars/Olympus"}, {"priority": 6}, {"remind_at": "tomorrow"}):
        body = {"title": "x", "remind_at": _iso(_future()), **extra}
        r = await client.post(BASE, json=body, headers=user.headers)
        assert r.status_code == 422, extra
    r = await client.post(
        BASE,
        json={"title": "x", "remind_at": _iso(_future()), "timezone": "Mars/Olympus"},
        headers=user.headers,
    )
    assert "IANA" in r.json()["errors"][0]["msg"]


async def test_a_rule_without_occurrences_is_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        BASE,
        json={
            "title": "x",
            "remind_at": _iso(_future()),
            "recurrence": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        },
        headers=user.headers,
    )
    assert r.status_code == 422
    assert "never occurs" in r.json()["errors"][0]["msg"]


async def test_complete_walks_a_daily_21h_berlin_reminder_across_both_dst_changes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    year = dt.datetime.now(dt.UTC).year + 1
    for month in (3, 10):
        # The EU changes clocks on the last Sunday of March and of October.
        last_sunday = max(
            dt.date(year, month, d) for d in range(25, 32) if dt.date(year, month, d).weekday() == 6
        )
        first_day = last_sunday - dt.timedelta(days=3)
        start = dt.datetime.combine(first_day, dt.time(21, 0), tzinfo=BERLIN)
        r = await client.post(
            BASE,
            json={
                "title": "Journal",
                "remind_at": start.isoformat(),
                "timezone": "Europe/Berlin",
                "recurrence": "daily",
            },
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
        reminder = r.json()
        fired = [_at(reminder["next_fire_at"])]
        for _ in range(9):
            r = await client.post(f"{BASE}/{reminder['id']}/complete", headers=user.headers)
            assert r.status_code == 200
            assert r.json()["is_completed"] is False
            fired.append(_at(r.json()["next_fire_at"]))
        local = [f.astimezone(BERLIN) for f in fired]
        assert all((t.hour, t.minute) == (21, 0) for t in local), local
        assert [t.date() for t in local] == [start.date() + dt.timedelta(days=i) for i in range(10)]
        assert len({t.utcoffset() for t in local}) == 2  # the change happened in between


async def test_complete_one_off_marks_it_completed_and_records_the_event(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        BASE, json={"title": "x", "remind_at": _iso(_future())}, headers=user.headers
    )
    rid = r.json()["id"]
    r = await client.post(f"{BASE}/{rid}/complete", headers=user.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["is_completed"] is True
    assert body["completed_at"] is not None
    assert body["next_fire_at"] is None
    async with database.read_sessionmaker() as s:
        types = (await s.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id))).all()
        changes = (
            await s.scalars(select(Change.op).where(Change.entity_id == uuid.UUID(rid)))
        ).all()
    assert types == ["reminder.created", "reminder.completed"]
    assert changes == ["upsert", "upsert"]


async def test_snooze_delays_only_this_occurrence(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    remind_at = _future(days=2, hour=20)
    r = await client.post(
        BASE,
        json={"title": "x", "remind_at": _iso(remind_at), "recurrence": "daily", "timezone": "UTC"},
        headers=user.headers,
    )
    rid = r.json()["id"]
    until = remind_at + dt.timedelta(minutes=45)
    r = await client.post(f"{BASE}/{rid}/snooze", json={"until": _iso(until)}, headers=user.headers)
    assert r.status_code == 200
    assert _at(r.json()["snoozed_until"]) == until
    assert _at(r.json()["next_fire_at"]) == until
    # Completing the snoozed occurrence goes to the next day at the rule's own time.
    r = await client.post(f"{BASE}/{rid}/complete", headers=user.headers)
    assert _at(r.json()["next_fire_at"]) == remind_at + dt.timedelta(days=1)
    assert r.json()["snoozed_until"] is None

    # Minutes count from when it would fire (tomorrow's occurrence), never from now.
    r = await client.post(f"{BASE}/{rid}/snooze", json={"minutes": 10}, headers=user.headers)
    assert r.status_code == 200
    snoozed = _at(r.json()["next_fire_at"])
    assert snoozed == remind_at + dt.timedelta(days=1, minutes=10)
    for bad in (
        {},
        {"minutes": 0},
        {"minutes": 5, "until": _iso(until)},
        {"until": "2000-01-01T00:00:00Z"},
    ):
        r = await client.post(f"{BASE}/{rid}/snooze", json=bad, headers=user.headers)
        assert r.status_code == 422, bad


async def test_list_orders_by_next_fire_at_with_status_window_and_cursor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    ids = []
    for days in (5, 1, 3, 2, 4):
        r = await client.post(
            BASE,
            json={"title": f"in {days}", "remind_at": _iso(_future(days))},
            headers=user.headers,
        )
        ids.append((days, r.json()["id"]))
    done = dict(ids)[4]
    await client.post(f"{BASE}/{done}/complete", headers=user.headers)

    r = await client.get(BASE, headers=user.headers)
    assert [i["title"] for i in r.json()["items"]] == ["in 1", "in 2", "in 3", "in 5"]
    r = await client.get(BASE, params={"status": "completed"}, headers=user.headers)
    assert [i["id"] for i in r.json()["items"]] == [done]
    r = await client.get(BASE, params={"status": "all"}, headers=user.headers)
    assert [i["title"] for i in r.json()["items"]][-1] == "in 4"  # no next_fire_at: last
    window = {"from": _iso(_future(2)), "to": _iso(_future(5))}
    r = await client.get(BASE, params=window, headers=user.headers)
    assert [i["title"] for i in r.json()["items"]] == ["in 2", "in 3"]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", "status": "all"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(BASE, params=params, headers=user.headers)).json()
        seen += [i["title"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["in 1", "in 2", "in 3", "in 5", "in 4"]
    r = await client.get(BASE, params={"status": "later"}, headers=user.headers)
    assert r.status_code == 422


async def test_get_patch_delete_with_etags(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        BASE, json={"title": "x", "remind_at": _iso(_future())}, headers=user.headers
    )
    rid = r.json()["id"]
    url = f"{BASE}/{rid}"
    r = await client.get(url, headers=user.headers | {"If-None-Match": '"1"'})
    assert r.status_code == 304
    new_time = _future(days=6)
    r = await client.patch(
        url,
        json={"title": "y", "remind_at": _iso(new_time), "priority": 5},
        headers=user.headers | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert _at(r.json()["next_fire_at"]) == new_time
    assert r.headers["etag"] == '"2"'
    r = await client.patch(url, json={"title": "z"}, headers=user.headers | {"If-Match": '"1"'})
    assert r.status_code == 412
    r = await client.patch(url, json={"title": None}, headers=user.headers)
    assert r.status_code == 422
    r = await client.patch(url, json={"recurrence": "nope"}, headers=user.headers)
    assert r.status_code == 422
    r = await client.delete(url, headers=user.headers | {"If-Match": '"1"'})
    assert r.status_code == 412
    r = await client.delete(url, headers=user.headers | {"If-Match": '"2"'})
    assert r.status_code == 204
    assert (await client.get(url, headers=user.headers)).status_code == 404


async def test_another_users_reminder_answers_like_a_missing_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await make_authed_user(app)
    bob = await make_authed_user(app)
    r = await client.post(
        BASE, json={"title": "x", "remind_at": _iso(_future())}, headers=alice.headers
    )
    rid = r.json()["id"]
    missing = await client.get(f"{BASE}/{uuid.uuid4()}", headers=bob.headers)
    for method, path, body in (
        ("GET", "", None),
        ("PATCH", "", {"title": "mine"}),
        ("DELETE", "", None),
        ("POST", "/complete", None),
        ("POST", "/snooze", {"minutes": 5}),
    ):
        r = await client.request(method, f"{BASE}/{rid}{path}", json=body, headers=bob.headers)
        assert r.status_code == 404
        assert r.json() == missing.json()
    listed = await client.get(BASE, params={"status": "all"}, headers=bob.headers)
    assert listed.json()["items"] == []


async def test_journal_id_must_be_one_of_the_users_entries(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    alice = await make_authed_user(app)
    bob = await make_authed_user(app)
    entry = Journal(user_id=alice.id, title="t", content="c", entry_date=dt.datetime.now(dt.UTC))
    async with database.session_scope() as s:
        s.add(entry)
    ok = await client.post(
        BASE,
        json={"title": "x", "remind_at": _iso(_future()), "journal_id": str(entry.id)},
        headers=alice.headers,
    )
    assert ok.status_code == 201
    assert ok.json()["journal_id"] == str(entry.id)
    answers = []
    for journal_id in (entry.id, uuid.uuid4()):
        r = await client.post(
            BASE,
            json={"title": "x", "remind_at": _iso(_future()), "journal_id": str(journal_id)},
            headers=bob.headers,
        )
        assert r.status_code == 422
        answers.append(r.json())
    assert answers[0] == answers[1]  # the other user's entry is indistinguishable


async def test_idempotency_key_replays_the_first_create(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    body = {"title": "x", "remind_at": _iso(_future())}
    headers = user.headers | {"Idempotency-Key": "abc-123"}
    first = await client.post(BASE, json=body, headers=headers)
    second = await client.post(BASE, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    other = await client.post(BASE, json=body | {"title": "y"}, headers=headers)
    assert other.status_code == 422
    listed = await client.get(BASE, headers=user.headers)
    assert len(listed.json()["items"]) == 1


async def test_requests_without_a_token_are_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE)).status_code == 401


async def test_snoozing_never_makes_a_reminder_fire_earlier(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    due = dt.datetime(2030, 6, 1, 9, tzinfo=dt.UTC)
    r = await client.post(
        BASE, json={"title": "far", "remind_at": _iso(due), "timezone": "UTC"}, headers=user.headers
    )
    rid = r.json()["id"]
    r = await client.post(f"{BASE}/{rid}/snooze", json={"minutes": 10}, headers=user.headers)
    assert r.status_code == 200
    assert _at(r.json()["next_fire_at"]) == due + dt.timedelta(minutes=10)
    assert r.json()["version"] == 2
    # An `until` before the time it would fire is refused, and changes nothing.
    for until in (_future(days=1), due):
        r = await client.post(
            f"{BASE}/{rid}/snooze", json={"until": _iso(until)}, headers=user.headers
        )
        assert r.status_code == 422, until
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(f"{BASE}/{rid}", headers=user.headers)
    assert _at(r.json()["next_fire_at"]) == due + dt.timedelta(minutes=10)
    assert r.json()["version"] == 2


async def test_a_reminder_on_monday_29_february_is_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        BASE,
        json={
            "title": "leap Monday",
            "remind_at": "2026-12-02T09:00:00Z",
            "recurrence": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            "timezone": "UTC",
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    assert _at(r.json()["next_fire_at"]) == dt.datetime(2044, 2, 29, 9, tzinfo=dt.UTC)
