"""The dashboard, on-this-day and export, hand-computed: streaks, weekdays, mood, tags,
reminders, empty accounts, and the vault rule (locked = the account without its vault)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI

from tests.analytics.conftest import API, at, get, local_noon, today, write
from tests.factories import AuthedUser, make_authed_user
from tests.vault.conftest import make_vault

ZONE = "Pacific/Kiritimati"  # UTC+14: a UTC "today" would be wrong most of the day


async def _streaks(client: httpx.AsyncClient, user: AuthedUser) -> tuple[int, int]:
    summary = (await get(client, "dashboard", user))["summary"]
    return summary["writing_streak"], summary["longest_streak"]


@pytest.mark.parametrize(
    ("days_ago", "current", "longest"),
    [
        ([0, 1, 2], 3, 3),  # written today: alive
        ([1, 2, 3, 5, 6, 7, 8, 9], 3, 5),  # last day yesterday: still alive
        ([2, 3, 4], 0, 3),  # broken yesterday (nothing since the day before)
        ([0, 2, 3, 4, 5], 1, 4),  # broken the day before yesterday, restarted today
    ],
)
async def test_streaks_in_the_accounts_zone(
    client: httpx.AsyncClient, app: FastAPI, days_ago: list[int], current: int, longest: int
) -> None:
    user = await make_authed_user(app, timezone=ZONE)
    # Two entries on one day count once.
    await write(client, user, *({"entry_date": local_noon(ZONE, n)} for n in [*days_ago, 2]))
    assert await _streaks(client, user) == (current, longest)


async def test_an_empty_account_has_zeros_and_no_rows(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app, timezone=ZONE)
    board = await get(client, "dashboard?period=week", user)
    assert board["summary"] == {
        "total_journals": 0,
        "total_words": 0,
        "avg_mood": None,
        "writing_streak": 0,
        "longest_streak": 0,
        "most_active_weekday": None,
        "total_reminders": 0,
        "completed_reminders": 0,
    }
    last = today(ZONE)
    assert board["charts"]["journal_activity"] == [
        {"date": (last - dt.timedelta(days=n)).isoformat(), "count": 0, "word_count": 0}
        for n in range(6, -1, -1)
    ]
    assert board["charts"]["mood_trend"] == []
    assert board["charts"]["tag_usage"] == []
    assert await get(client, "calendar?year=2026", user) == []
    assert await get(client, "export?format=json", user) == []
    assert (await get(client, "on-this-day?date=2026-12-03", user))["items"] == []
    response = await client.get(f"{API}/analytics/export?format=csv", headers=user.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == "date,entries,words,avg_mood\r\n"


async def test_dashboard_figures(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app, timezone="Europe/Berlin")
    await write(
        client,
        user,
        # Mondays 1 and 8 June 2026, 23:30 Berlin time (21:30 UTC).
        {"entry_date": at("2026-06-01T21:30:00"), "mood_rating": 6, "tags": ["work", "sleep"]},
        {"entry_date": at("2026-06-08T21:30:00"), "mood_rating": 9, "tags": ["work"]},
        {"entry_date": at("2026-06-08T06:00:00"), "content": "a b", "tags": ["Work"]},
        # Tuesday 2 June, 00:30 Berlin (Monday 22:30 UTC).
        {"entry_date": at("2026-06-01T22:30:00"), "mood_rating": 2},
    )
    for title, done in (("a", True), ("b", False), ("c", True)):
        response = await client.post(
            f"{API}/reminders",
            json={"title": title, "remind_at": "2030-01-01T09:00:00Z"},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        if done:
            rid = response.json()["id"]
            response = await client.post(f"{API}/reminders/{rid}/complete", headers=user.headers)
            assert response.status_code == 200, response.text
    board = await get(client, "dashboard?period=year", user)
    assert board["summary"] == {
        "total_journals": 4,
        "total_words": 11,
        "avg_mood": round(17 / 3, 2),
        "writing_streak": 0,
        "longest_streak": 2,  # 1 and 2 June
        "most_active_weekday": "Monday",  # 3 entries, Tuesday 1
        "total_reminders": 3,
        "completed_reminders": 2,
    }
    assert board["charts"]["tag_usage"] == [
        {"tag": "work", "count": 3, "percentage": 75.0},
        {"tag": "sleep", "count": 1, "percentage": 25.0},
    ]
    if today("Europe/Berlin") < dt.date(2027, 6, 1):
        # Per ISO week over a year: the week of 1 June (6, 2) and of 8 June (9).
        assert board["charts"]["mood_trend"] == [
            {"date": "2026-06-01", "avg_mood": 4.0},
            {"date": "2026-06-08", "avg_mood": 9.0},
        ]
    exported = await client.get(f"{API}/analytics/export", headers=user.headers)
    assert exported.text == (
        "date,entries,words,avg_mood\r\n"
        "2026-06-01,1,3,6.0\r\n"
        "2026-06-02,1,3,2.0\r\n"
        "2026-06-08,2,5,9.0\r\n"
    )


async def test_mood_trend_per_day_over_a_week(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app, timezone=ZONE)
    await write(
        client,
        user,
        {"entry_date": local_noon(ZONE, 1), "mood_rating": 3},
        {"entry_date": local_noon(ZONE, 1), "mood_rating": 6},
        {"entry_date": local_noon(ZONE, 0)},
        {"entry_date": local_noon(ZONE, 8), "mood_rating": 1},  # before the week
    )
    board = await get(client, "dashboard?period=week", user)
    yesterday = (today(ZONE) - dt.timedelta(days=1)).isoformat()
    assert board["charts"]["mood_trend"] == [{"date": yesterday, "avg_mood": 4.5}]
    assert [p["count"] for p in board["charts"]["journal_activity"]] == [0, 0, 0, 0, 0, 2, 1]


async def test_on_this_day_finds_earlier_years_by_local_day(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app, timezone="Europe/Berlin")
    ids = await write(
        client,
        user,
        {"entry_date": at("2025-12-03T12:00:00"), "title": "last year"},
        {"entry_date": at("2024-12-02T23:30:00"), "title": "00:30 on 3 Dec, Berlin"},
        {"entry_date": at("2026-12-03T08:00:00"), "title": "this year"},
        {"entry_date": at("2023-12-03T23:30:00"), "title": "00:30 on 4 Dec, Berlin"},
    )
    answer = await get(client, "on-this-day?date=2026-12-03", user)
    assert answer["date"] == "2026-12-03"
    assert [item["id"] for item in answer["items"]] == [ids[0], ids[1]]
    assert answer["items"][0]["title"] == "last year"


@pytest.mark.parametrize(
    "query",
    [
        "dashboard?period=decade",
        "calendar",
        "calendar?year=twenty",
        "calendar?year=99999",
        "on-this-day?date=2026-02-30",
        "export?format=xml",
    ],
)
async def test_bad_input_is_a_422_problem(
    client: httpx.AsyncClient, app: FastAPI, query: str
) -> None:
    user = await make_authed_user(app)
    response = await client.get(f"{API}/analytics/{query}", headers=user.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_analytics_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/analytics/dashboard")
    assert response.status_code == 401


async def test_locked_vault_figures_equal_the_account_without_its_vault(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    public = [
        {"entry_date": local_noon(ZONE, 1), "mood_rating": 5, "tags": ["home"]},
        {"entry_date": local_noon(ZONE, 2), "tags": ["home", "run"]},
        {"entry_date": at("2025-12-03T00:00:00"), "tags": ["run"]},
    ]
    with_vault = await make_authed_user(app, timezone=ZONE)
    without = await make_authed_user(app, timezone=ZONE)
    vault = await make_vault(client, app, user=with_vault)
    await write(client, with_vault, *public)
    await write(client, without, *public)
    secret = [
        {"entry_date": local_noon(ZONE, 0), "mood_rating": 1, "tags": ["home", "hidden"]},
        {"entry_date": local_noon(ZONE, 3), "content": "four more secret words"},
        {"entry_date": at("2024-12-03T00:00:00"), "title": "secret past"},
    ]
    await write(
        client,
        with_vault,
        *({**e, "secret_tag_id": vault.tag_id} for e in secret),
        headers=vault.headers,
    )
    paths = [
        "dashboard?period=week",
        "dashboard?period=year",
        "calendar?year=2025",
        f"calendar?year={today(ZONE).year}",
        "export?format=csv",
        "export?format=json",
    ]
    for path in paths:
        locked = await client.get(f"{API}/analytics/{path}", headers=with_vault.headers)
        plain = await client.get(f"{API}/analytics/{path}", headers=without.headers)
        assert locked.status_code == plain.status_code == 200
        assert locked.content == plain.content, path
    # Entries differ in their ids and times only.
    same = ("title", "content", "entry_date", "tags", "mood_rating", "word_count")
    locked_past, plain_past = [
        [{k: item[k] for k in same} for item in answer["items"]]
        for answer in [
            await get(client, "on-this-day?date=2026-12-03", user) for user in (with_vault, without)
        ]
    ]
    assert locked_past == plain_past
    assert len(locked_past) == 1

    board = await get(client, "dashboard?period=week", with_vault, headers=vault.headers)
    assert board["summary"]["total_journals"] == 6
    assert board["summary"]["total_words"] == 3 * 5 + 4
    assert board["summary"]["avg_mood"] == 3.0
    assert (board["summary"]["writing_streak"], board["summary"]["longest_streak"]) == (4, 4)
    assert board["charts"]["tag_usage"] == [
        {"tag": "home", "count": 3, "percentage": 60.0},
        {"tag": "run", "count": 2, "percentage": 40.0},
    ]
    past = await get(client, "on-this-day?date=2026-12-03", with_vault, headers=vault.headers)
    assert [item["title"] for item in past["items"]] == ["Entry", "secret past"]
    assert past["items"][1]["secret_tag"]["id"] == vault.tag_id


@pytest.mark.parametrize("date", ["-2.1e-290", "0", "1700000000", "2026-1-2", "2026-12-03T00:00"])
async def test_on_this_day_refuses_a_date_that_is_not_a_calendar_day(
    app: FastAPI, client: httpx.AsyncClient, date: str
) -> None:
    # Regression (schemathesis): a number was read as Unix time and answered 1970-01-01.
    user = await make_authed_user(app)
    response = await client.get(
        f"{API}/analytics/on-this-day", params={"date": date}, headers=user.headers
    )
    assert response.status_code == 422, response.text
