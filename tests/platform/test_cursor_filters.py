"""A cursor is bound to the filters of the query that made it: other filters → 422."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import make_authed_user

API = "/api/v1"


def _invalid_cursor(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_cursors_refuse_other_filters(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    h = user.headers
    for i in range(3):
        r = await client.post(
            f"{API}/journals",
            json={"title": f"mountain {i}", "content": "mountain other", "tags": ["Hike"]},
            headers=h,
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{API}/reminders",
            json={"title": f"mountain {i}", "remind_at": f"2030-01-0{i + 1}T09:00:00Z"},
            headers=h,
        )
        assert r.status_code == 201, r.text

    cases = [
        ("/journals", {"q": "mountain"}, {"q": "other"}),
        ("/journals", {"tag": "Hike"}, {}),
        ("/search", {"q": "mountain"}, {"q": "other"}),
        ("/search", {"q": "mountain"}, {"q": "mountain", "type": "journals"}),
        ("/reminders", {"status": "pending"}, {"status": "all"}),
    ]
    for path, first, other in cases:
        r = await client.get(f"{API}{path}", params={**first, "limit": 1}, headers=h)
        assert r.status_code == 200, r.text
        cursor = r.json()["next_cursor"]
        assert cursor, path
        # Same filters (a tag in another case is the same tag): the next page.
        same = {**first, "tag": "hike"} if "tag" in first else first
        r = await client.get(
            f"{API}{path}", params={**same, "limit": 1, "cursor": cursor}, headers=h
        )
        assert r.status_code == 200, (path, r.text)
        assert r.json()["items"], path
        r = await client.get(
            f"{API}{path}", params={**other, "limit": 1, "cursor": cursor}, headers=h
        )
        _invalid_cursor(r)
