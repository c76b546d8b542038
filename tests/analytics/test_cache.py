"""Cached dashboards never go stale: every write that changes a figure, made through one
app, shows at once in what another app over the same database answers (Redis on the
PostgreSQL run, the in-process fallback on SQLite)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import update

from tests.analytics.conftest import API, at, get, local_noon, write
from tests.conftest import MakeApp, MakeClient
from tests.factories import AuthedUser, make_authed_user
from vibes.config import Settings
from vibes.journals.models import Journal
from vibes.platform.runtime import app_runtime

ZONE = "Europe/Berlin"


async def _summary(client: httpx.AsyncClient, user: AuthedUser) -> dict[str, object]:
    summary: dict[str, object] = (await get(client, "dashboard?period=week", user))["summary"]
    return summary


async def test_a_write_through_one_app_is_seen_through_another(
    make_app: MakeApp, make_client: MakeClient, settings: Settings
) -> None:
    # One deployment's settings (its Redis namespace included), two processes' apps.
    async with (
        make_app(settings) as one,
        make_app(settings) as two,
        make_client(one) as writer,
        make_client(two) as reader,
    ):
        user = await make_authed_user(one, timezone=ZONE)

        async def check(**expected: object) -> None:
            # Twice: the second answer comes from the cache.
            for _ in range(2):
                summary = await _summary(reader, user)
                assert {k: summary[k] for k in expected} == expected

        await check(total_journals=0, writing_streak=0)
        [first] = await write(writer, user, {"entry_date": local_noon(ZONE, 0), "tags": ["a"]})
        await check(total_journals=1, writing_streak=1, avg_mood=None)
        response = await writer.patch(
            f"{API}/journals/{first}", json={"mood_rating": 7}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        await check(avg_mood=7.0)
        response = await writer.post(
            f"{API}/journals",
            json={"title": "t", "content": "c", "entry_date": local_noon(ZONE, 1)},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        await check(total_journals=2, writing_streak=2)
        await writer.delete(f"{API}/journals/{response.json()['id']}", headers=user.headers)
        await check(total_journals=1, writing_streak=1)

        tags = (await writer.get(f"{API}/tags", headers=user.headers)).json()
        response = await writer.patch(
            f"{API}/tags/{tags[0]['id']}", json={"name": "b"}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        board = await get(reader, "dashboard?period=week", user)
        assert board["charts"]["tag_usage"] == [{"tag": "b", "count": 1, "percentage": 100.0}]
        await writer.delete(f"{API}/tags/{tags[0]['id']}", headers=user.headers)
        board = await get(reader, "dashboard?period=week", user)
        assert board["charts"]["tag_usage"] == []

        response = await writer.post(
            f"{API}/reminders",
            json={"title": "r", "remind_at": "2030-01-01T09:00:00Z"},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        await check(total_reminders=1, completed_reminders=0)
        reminder = response.json()["id"]
        await writer.post(f"{API}/reminders/{reminder}/complete", headers=user.headers)
        await check(total_reminders=1, completed_reminders=1)
        await writer.delete(f"{API}/reminders/{reminder}", headers=user.headers)
        await check(total_reminders=0, completed_reminders=0)

        # The calendar is cached too, and moves with the account's zone.
        await write(writer, user, {"entry_date": at("2026-06-01T23:30:00")})
        calendar = await get(reader, "calendar?year=2026", user)
        assert {d["date"] for d in calendar} >= {"2026-06-02"}
        response = await writer.patch(
            f"{API}/users/me", json={"timezone": "UTC"}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        calendar = await get(reader, "calendar?year=2026", user)
        assert "2026-06-01" in {d["date"] for d in calendar}
        assert "2026-06-02" not in {d["date"] for d in calendar}


async def test_answers_are_cached_until_a_recorded_write(
    make_app: MakeApp, make_client: MakeClient
) -> None:
    async with make_app() as app, make_client(app) as client:
        user = await make_authed_user(app, timezone=ZONE)
        [entry] = await write(client, user, {"entry_date": local_noon(ZONE, 0)})
        assert (await _summary(client, user))["total_words"] == 3
        # Behind the API's back (no recorded write): the cached answer stands.
        async with app_runtime(app).database.session_scope() as session:
            await session.execute(
                update(Journal).where(Journal.id == uuid.UUID(entry)).values(word_count=99)
            )
        assert (await _summary(client, user))["total_words"] == 3
        await write(client, user, {"entry_date": local_noon(ZONE, 0)})
        assert (await _summary(client, user))["total_words"] == 102
