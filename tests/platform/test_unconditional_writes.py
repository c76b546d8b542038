"""Concurrent writes without `If-Match` wait their turn: no 412 unless a condition fails.

RFC 9110: 412 answers a failed precondition. A PATCH that carries none is unconditional,
so several of them at once on one object must all succeed, one after another (the
write routes lock the object's row), and each must count as one change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import AuthedUser, make_authed_user

API = "/api/v1"
WRITERS = 8


def _future(days: int = 3) -> str:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=days)
    return at.isoformat().replace("+00:00", "Z")


async def _all(
    client: httpx.AsyncClient, user: AuthedUser, method: str, url: str, bodies: list[Any]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(client.request(method, url, json=body, headers=user.headers) for body in bodies)
    )


async def _reminder(client: httpx.AsyncClient, user: AuthedUser, **fields: Any) -> dict[str, Any]:
    body = {"title": "Water the plants", "remind_at": _future(), **fields}
    r = await client.post(f"{API}/reminders", json=body, headers=user.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_concurrent_unconditional_journal_patches_all_succeed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        f"{API}/journals", json={"title": "t", "content": "c"}, headers=user.headers
    )
    url = f"{API}/journals/{r.json()['id']}"
    answers = await _all(
        client, user, "PATCH", url, [{"title": f"title {i}"} for i in range(WRITERS)]
    )
    assert [a.status_code for a in answers] == [200] * WRITERS, [a.text for a in answers]
    final = (await client.get(url, headers=user.headers)).json()
    assert final["version"] == 1 + WRITERS
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 2 + WRITERS))


async def test_concurrent_unconditional_reminder_patches_all_succeed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    url = f"{API}/reminders/{(await _reminder(client, user))['id']}"
    answers = await _all(
        client, user, "PATCH", url, [{"title": f"title {i}"} for i in range(WRITERS)]
    )
    assert [a.status_code for a in answers] == [200] * WRITERS, [a.text for a in answers]
    assert (await client.get(url, headers=user.headers)).json()["version"] == 1 + WRITERS


async def test_concurrent_complete_and_snooze_all_succeed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    daily = await _reminder(client, user, recurrence="daily")
    url = f"{API}/reminders/{daily['id']}"
    completes = await _all(client, user, "POST", f"{url}/complete", [None] * WRITERS)
    assert [a.status_code for a in completes] == [200] * WRITERS, [a.text for a in completes]
    snoozes = await _all(
        client, user, "POST", f"{url}/snooze", [{"minutes": 10 + i} for i in range(WRITERS)]
    )
    assert [a.status_code for a in snoozes] == [200] * WRITERS, [a.text for a in snoozes]


async def test_concurrent_unconditional_profile_patches_all_succeed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    answers = await _all(
        client,
        user,
        "PATCH",
        f"{API}/users/me",
        [{"display_name": f"name {i}"} for i in range(WRITERS)],
    )
    assert [a.status_code for a in answers] == [200] * WRITERS, [a.text for a in answers]


async def test_stale_if_match_still_412_among_concurrent_writers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    url = f"{API}/reminders/{(await _reminder(client, user))['id']}"
    answers = await asyncio.gather(
        *(
            client.patch(url, json={"title": f"t{i}"}, headers={**user.headers, "If-Match": '"1"'})
            for i in range(WRITERS)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] + [412] * (WRITERS - 1)
