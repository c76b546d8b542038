"""Scores depend on the searcher's own entries only."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import make_authed_user

API = "/api/v1"


async def test_another_users_entries_do_not_change_my_scores(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Regression: SQLite ranked with bm25, whose statistics span every user's entries, so
    # a user's scores revealed how often others used a word.
    me = await make_authed_user(app)
    other = await make_authed_user(app)
    body = {"title": "Walk", "content": "saw an aardwolf near the river today"}
    assert (await client.post(f"{API}/journals", json=body, headers=me.headers)).status_code == 201

    async def my_scores() -> list[float]:
        answer = await client.get(f"{API}/search?q=aardwolf&type=journals", headers=me.headers)
        assert answer.status_code == 200
        return [item["score"] for item in answer.json()["items"]]

    before = await my_scores()
    for n in range(15):
        noise = {"title": f"aardwolf {n}", "content": "aardwolf aardwolf aardwolf"}
        posted = await client.post(f"{API}/journals", json=noise, headers=other.headers)
        assert posted.status_code == 201
    assert await my_scores() == before
