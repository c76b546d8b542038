"""A PATCH that changes nothing keeps the version and updated_at (no spurious sync)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import make_authed_user

API = "/api/v1"


async def _same_after_patch(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, body: dict[str, object]
) -> None:
    before = (await client.get(url, headers=headers)).json()
    r = await client.patch(url, json=body, headers=headers)
    assert r.status_code == 200, r.text
    after = (await client.get(url, headers=headers)).json()
    assert after["version"] == before["version"], url
    assert after["updated_at"] == before["updated_at"], url


async def test_noop_patches_keep_version_and_updated_at(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    h = user.headers
    body = {
        "title": "Walk",
        "content": "Up the hill.",
        "tags": ["Hills", "walks"],
        "mood_rating": 7,
        "entry_date": "2026-11-01T08:00:00Z",
    }
    r = await client.post(f"{API}/journals", json=body, headers=h)
    assert r.status_code == 201, r.text
    journal = f"{API}/journals/{r.json()['id']}"
    same = {**body, "tags": ["walks", "hills"], "entry_date": "2026-11-01T09:00:00+01:00"}
    await _same_after_patch(client, h, journal, same)
    r = await client.patch(journal, json={"mood_rating": 8}, headers=h)
    assert r.json()["version"] == 2  # a real change still bumps it

    r = await client.post(
        f"{API}/reminders",
        json={"title": "Call", "remind_at": "2030-01-01T09:00:00Z", "priority": 3},
        headers=h,
    )
    assert r.status_code == 201, r.text
    reminder = f"{API}/reminders/{r.json()['id']}"
    await _same_after_patch(
        client,
        h,
        reminder,
        {"title": "Call", "priority": 3, "remind_at": "2030-01-01T10:00:00+01:00"},
    )

    tags = (await client.get(f"{API}/tags", headers=h)).json()
    tag = next(t for t in tags if t["name"] == "Hills")
    await _same_after_patch(client, h, f"{API}/tags/{tag['id']}", {"name": "Hills", "color": None})
