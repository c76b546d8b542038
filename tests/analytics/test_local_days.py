"""Entries count on the local day they were written on, in the account's zone: across
daylight-saving changes, around midnight and across year ends (hand-computed)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.analytics.conftest import at, get, write
from tests.factories import make_authed_user


def _days(calendar: list[dict[str, object]]) -> dict[object, object]:
    return {day["date"]: day["count"] for day in calendar}


async def test_entries_fall_on_berlin_days_across_both_dst_changes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app, timezone="Europe/Berlin")
    await write(
        client,
        user,
        # Spring forward, 29 March 2026 (02:00 CET -> 03:00 CEST).
        {"entry_date": at("2026-03-28T23:30:00")},  # 00:30 CET, 29 March
        {"entry_date": at("2026-03-29T21:59:00")},  # 23:59 CEST, 29 March
        {"entry_date": at("2026-03-29T22:30:00")},  # 00:30 CEST, 30 March
        # Fall back, 25 October 2026 (03:00 CEST -> 02:00 CET).
        {"entry_date": at("2026-10-24T22:30:00")},  # 00:30 CEST, 25 October
        {"entry_date": at("2026-10-25T22:59:00")},  # 23:59 CET, 25 October
        {"entry_date": at("2026-10-25T23:30:00")},  # 00:30 CET, 26 October
    )
    calendar = await get(client, "calendar?year=2026", user)
    assert _days(calendar) == {
        "2026-03-29": 2,
        "2026-03-30": 1,
        "2026-10-25": 2,
        "2026-10-26": 1,
    }


async def test_2359_and_0001_local_are_two_days(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app, timezone="America/New_York")
    await write(
        client,
        user,
        {"entry_date": at("2026-01-15T04:59:00"), "mood_rating": 4},  # 23:59 EST, 14 Jan
        {"entry_date": at("2026-01-15T05:01:00"), "mood_rating": 8},  # 00:01 EST, 15 Jan
    )
    calendar = await get(client, "calendar?year=2026", user)
    assert calendar == [
        {"date": "2026-01-14", "count": 1, "word_count": 3, "avg_mood": 4.0},
        {"date": "2026-01-15", "count": 1, "word_count": 3, "avg_mood": 8.0},
    ]


async def test_new_years_eve_in_utc_plus_14(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app, timezone="Pacific/Kiritimati")
    await write(
        client,
        user,
        {"entry_date": at("2026-12-31T09:59:00")},  # 23:59, 31 Dec 2026 local
        {"entry_date": at("2026-12-31T10:01:00")},  # 00:01, 1 Jan 2027 local
        {"entry_date": at("2025-12-31T10:30:00")},  # 00:30, 1 Jan 2026 local
    )
    assert _days(await get(client, "calendar?year=2026", user)) == {
        "2026-01-01": 1,
        "2026-12-31": 1,
    }
    assert _days(await get(client, "calendar?year=2027", user)) == {"2027-01-01": 1}


async def test_new_years_eve_in_utc_minus_10(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app, timezone="Pacific/Honolulu")
    await write(
        client,
        user,
        {"entry_date": at("2027-01-01T09:30:00")},  # 23:30, 31 Dec 2026 local
        {"entry_date": at("2027-01-01T10:01:00")},  # 00:01, 1 Jan 2027 local
        {"entry_date": at("2026-01-01T05:00:00")},  # 19:00, 31 Dec 2025 local
    )
    assert _days(await get(client, "calendar?year=2026", user)) == {"2026-12-31": 1}
    assert _days(await get(client, "calendar?year=2027", user)) == {"2027-01-01": 1}
    assert _days(await get(client, "calendar?year=2025", user)) == {"2025-12-31": 1}
    exported = await get(client, "export?format=json", user)
    assert [row["date"] for row in exported] == ["2025-12-31", "2026-12-31", "2027-01-01"]


async def test_a_changed_account_zone_moves_the_days(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app, timezone="UTC")
    await write(client, user, {"entry_date": at("2026-06-01T23:30:00")})
    assert _days(await get(client, "calendar?year=2026", user)) == {"2026-06-01": 1}
    response = await client.patch(
        "/api/v1/users/me", json={"timezone": "Asia/Tokyo"}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert _days(await get(client, "calendar?year=2026", user)) == {"2026-06-02": 1}
