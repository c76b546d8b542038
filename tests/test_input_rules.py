"""Input rules shared by every domain: a required single line that is blank is a 422
(never stored as ""), and tag names refuse invisible and text-direction characters."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.factories import make_authed_user
from vibes.accounts.models import User
from vibes.db import Database
from vibes.journals.models import Journal, Tag
from vibes.reminders.models import Reminder

API = "/api/v1"
BLANKS = ["   ", "\t", "\u3000", "\u200b", " \u200b\u200e "]


def _is_422(response: httpx.Response) -> bool:
    return response.status_code == 422 and response.headers["content-type"].startswith(
        "application/problem+json"
    )


def _future() -> str:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    return at.isoformat().replace("+00:00", "Z")


async def _count(database: Database, model: type) -> int:
    async with database.read_sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("blank", BLANKS)
async def test_blank_journal_title_is_422_on_create_patch_and_batch(
    app: FastAPI, client: httpx.AsyncClient, database: Database, blank: str
) -> None:
    user = await make_authed_user(app)
    url = f"{API}/journals"
    assert _is_422(
        await client.post(url, json={"title": blank, "content": "x"}, headers=user.headers)
    )
    batch = {"items": [{"title": "fine", "content": "x"}, {"title": blank, "content": "x"}]}
    assert _is_422(await client.post(f"{url}/batch", json=batch, headers=user.headers))
    assert await _count(database, Journal) == 0
    made = await client.post(url, json={"title": " kept ", "content": "x"}, headers=user.headers)
    assert made.json()["title"] == "kept"
    entry = f"{url}/{made.json()['id']}"
    assert _is_422(await client.patch(entry, json={"title": blank}, headers=user.headers))
    after = (await client.get(entry, headers=user.headers)).json()
    assert (after["title"], after["version"]) == ("kept", 1)


@pytest.mark.parametrize("blank", BLANKS)
async def test_blank_reminder_title_is_422_on_create_and_patch(
    app: FastAPI, client: httpx.AsyncClient, database: Database, blank: str
) -> None:
    user = await make_authed_user(app)
    url = f"{API}/reminders"
    body = {"title": blank, "remind_at": _future()}
    assert _is_422(await client.post(url, json=body, headers=user.headers))
    assert await _count(database, Reminder) == 0
    made = await client.post(url, json={**body, "title": "Call"}, headers=user.headers)
    assert made.status_code == 201
    one = f"{url}/{made.json()['id']}"
    assert _is_422(await client.patch(one, json={"title": blank}, headers=user.headers))
    assert (await client.get(one, headers=user.headers)).json()["title"] == "Call"


@pytest.mark.parametrize("blank", BLANKS)
async def test_blank_display_name_is_422_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, database: Database, blank: str
) -> None:
    user = await make_authed_user(app, display_name="Ada")
    response = await client.patch(
        f"{API}/users/me", json={"display_name": blank}, headers=user.headers
    )
    assert _is_422(response)
    async with database.read_sessionmaker() as s:
        stored = await s.get(User, user.id)
    assert stored is not None
    assert (stored.display_name, stored.version) == ("Ada", 1)


async def test_blank_display_name_at_registration_is_422(client: httpx.AsyncClient) -> None:
    body = {
        "email": "blank@example.com",
        "password": "violet kettle drums at noon",
        "display_name": "   ",
    }
    assert _is_422(await client.post(f"{API}/auth/register", json=body))


@pytest.mark.parametrize(
    "name", ["a\u200bb", "\u202eevil", "a\u200eb", "\u2066x\u2069", "soft\u00adhyphen", "\ufeffbom"]
)
async def test_tag_names_with_invisible_or_bidi_characters_are_422(
    app: FastAPI, client: httpx.AsyncClient, database: Database, name: str
) -> None:
    user = await make_authed_user(app)
    body = {"title": "t", "content": "c", "tags": [name]}
    assert _is_422(await client.post(f"{API}/journals", json=body, headers=user.headers))
    made = await client.post(f"{API}/journals", json={**body, "tags": ["ab"]}, headers=user.headers)
    entry = f"{API}/journals/{made.json()['id']}"
    assert _is_422(await client.patch(entry, json={"tags": ["ab", name]}, headers=user.headers))
    [tag] = (await client.get(f"{API}/tags", headers=user.headers)).json()
    rename = await client.patch(
        f"{API}/tags/{tag['id']}", json={"name": name}, headers=user.headers
    )
    assert _is_422(rename)
    async with database.read_sessionmaker() as s:
        assert list(await s.scalars(select(Tag.name))) == ["ab"]


async def test_emoji_joined_by_zero_width_joiner_stay_valid_tag_names(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    names = ["\U0001f469\u200d\U0001f4bb", "\U0001f3f3\ufe0f\u200d\U0001f308"]
    body = {"title": "t", "content": "c", "tags": names}
    made = await client.post(f"{API}/journals", json=body, headers=user.headers)
    assert made.status_code == 201
    assert sorted(made.json()["tags"]) == sorted(names)
