"""The per-day rows the triggers keep (`entry_days`) stay exactly what a recomputation from
the entries gives, after a random mix of every kind of write; and writes made outside a
request (the CLI's import) make cached figures stale too."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.analytics.conftest import API, get
from tests.factories import AuthedUser, make_authed_user
from tests.portability.conftest import import_file
from tests.vault.conftest import make_vault
from vibes.journals.days import account_zone, day_summary
from vibes.journals.models import EntryDay, Journal, JournalTag, Tag, TagUse
from vibes.platform.runtime import app_runtime
from vibes.portability.operator import import_from

Row = tuple[Any, ...]


async def _kept_and_recomputed(app: FastAPI, user_id: uuid.UUID) -> tuple[set[Row], set[Row]]:
    async with app_runtime(app).database.read_sessionmaker() as session:
        kept = await session.execute(
            select(
                EntryDay.user_id,
                EntryDay.vault_id,
                EntryDay.local_date,
                EntryDay.entries,
                EntryDay.words,
                EntryDay.mood_sum,
                EntryDay.mood_count,
            ).where(EntryDay.user_id == user_id)
        )
        zone = await account_zone(session, user_id)
        fresh = await session.execute(day_summary(user_id, zone))
        uses = await session.execute(
            select(TagUse.tag_id, TagUse.uses)
            .join(Tag, Tag.id == TagUse.tag_id)
            .where(Tag.user_id == user_id)
        )
        links = await session.execute(
            select(JournalTag.tag_id, func.count())
            .join(Journal, Journal.id == JournalTag.journal_id)
            .where(Journal.user_id == user_id, Journal.secret_tag_id.is_(None))
            .group_by(JournalTag.tag_id)
        )
        return (
            {tuple(r) for r in kept} | {tuple(r) for r in uses},
            {tuple(r) for r in fresh} | {tuple(r) for r in links},
        )


def _instant(rng: random.Random) -> str:
    """Around local midnights, DST changes and a year end, in UTC."""
    base = rng.choice(
        [
            dt.datetime(2026, 3, 28, 22, 0),
            dt.datetime(2026, 10, 24, 21, 0),
            dt.datetime(2026, 12, 31, 9, 0),
            dt.datetime(2026, 6, 1, 22, 0),
        ]
    )
    moment = base + dt.timedelta(minutes=rng.randrange(0, 4 * 24 * 60, 17))
    return moment.replace(tzinfo=dt.UTC).isoformat()


def _item(rng: random.Random, **extra: Any) -> dict[str, Any]:
    words = " ".join(["word"] * rng.randint(0, 6))
    mood = rng.choice([None, None, 1, 5, 10])
    item: dict[str, Any] = {
        "title": "t",
        "content": words,
        "entry_date": _instant(rng),
        "tags": rng.sample(["a", "b", "c", "d"], rng.randint(0, 3)),
    }
    if mood is not None:
        item["mood_rating"] = mood
    return {**item, **extra}


def _jrnl(rng: random.Random, n: int) -> bytes:
    entries = []
    for i in range(n):
        moment = dt.datetime.fromisoformat(_instant(rng))
        entries.append(
            {
                "date": moment.strftime("%Y-%m-%d"),
                "time": moment.strftime("%H:%M"),
                "title": f"imported {rng.random()} {i}",
                "body": "a b c",
                "tags": ["@a", "@z"][: rng.randint(0, 2)],
                "starred": False,
            }
        )
    return json.dumps({"tags": {}, "entries": entries}).encode()


async def test_kept_days_equal_a_recomputation_after_random_writes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    rng = random.Random(15)
    user = await make_authed_user(app, timezone="Europe/Berlin")
    vault = await make_vault(client, app, user=user)
    unlocked = vault.headers
    public: list[str] = []
    secret: list[str] = []

    async def create(item: dict[str, Any], headers: dict[str, str]) -> str:
        response = await client.post(f"{API}/journals", json=item, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def patch(entry: str, body: dict[str, Any]) -> None:
        response = await client.patch(f"{API}/journals/{entry}", json=body, headers=unlocked)
        assert response.status_code == 200, response.text

    for step in range(40):
        kinds = ["create", "secret", "batch", "date", "content", "mood", "delete", "into", "out"]
        kind = {4: "import", 9: "zone"}.get(step % 10) or rng.choice([*kinds, "tags"])
        if step == 30:
            kind = "drop tag"
        entries = public + secret
        if kind == "create" or not entries:
            public.append(await create(_item(rng), user.headers))
        elif kind == "secret":
            secret.append(await create(_item(rng, secret_tag_id=vault.tag_id), unlocked))
        elif kind == "batch":
            items = [_item(rng) for _ in range(3)] + [_item(rng, secret_tag_id=vault.tag_id)]
            response = await client.post(
                f"{API}/journals/batch", json={"items": items}, headers=unlocked
            )
            assert response.status_code == 201, response.text
            ids = response.json()["ids"]
            public.extend(ids[:3])
            secret.append(ids[3])
        elif kind == "date":
            await patch(rng.choice(entries), {"entry_date": _instant(rng)})
        elif kind == "content":
            await patch(rng.choice(entries), {"content": "x " * rng.randint(0, 9)})
        elif kind == "mood":
            await patch(rng.choice(entries), {"mood_rating": rng.choice([None, 2, 9])})
        elif kind == "delete":
            entry = rng.choice(entries)
            response = await client.delete(f"{API}/journals/{entry}", headers=unlocked)
            assert response.status_code == 204, response.text
            (public if entry in public else secret).remove(entry)
        elif kind == "into" and public:
            entry = rng.choice(public)
            await patch(entry, {"secret_tag_id": vault.tag_id})
            public.remove(entry)
            secret.append(entry)
        elif kind == "out" and secret:
            entry = rng.choice(secret)
            await patch(entry, {"secret_tag_id": None})
            secret.remove(entry)
            public.append(entry)
        elif kind == "tags":
            await patch(rng.choice(entries), {"tags": rng.sample(["a", "b", "e"], 2)})
        elif kind == "drop tag":
            listed = (await client.get(f"{API}/tags", headers=user.headers)).json()
            response = await client.delete(f"{API}/tags/{listed[0]['id']}", headers=user.headers)
            assert response.status_code == 204, response.text
        elif kind == "import":
            response = await import_file(client, user.headers, "jrnl", _jrnl(rng, 3), "j.json")
            assert response.status_code == 200, response.text
        elif kind == "zone":
            zone = rng.choice(["Pacific/Kiritimati", "Pacific/Honolulu", "Europe/Berlin"])
            response = await client.patch(
                f"{API}/users/me", json={"timezone": zone}, headers=user.headers
            )
            assert response.status_code == 200, response.text
        kept, fresh = await _kept_and_recomputed(app, user.id)
        assert kept == fresh, (step, kind)
    assert len(kept) > 10

    # Destroying the vault takes its entries' days with it (a cascade).
    response = await client.request(
        "DELETE",
        f"{API}/secret-tags/{vault.tag_id}",
        json={"password": user.password},
        headers=user.headers,
    )
    assert response.status_code == 204, response.text
    kept, fresh = await _kept_and_recomputed(app, user.id)
    assert kept == fresh
    assert all(row[1] == uuid.UUID(int=0) for row in kept if len(row) == 7)


async def test_a_day_one_entry_counts_on_its_own_zones_day(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Written at 22:30 in New York on 1 May: 1 May, though the account is in Berlin
    (2 May there), and it stays on 1 May when the account's zone changes."""
    from tests.portability.test_jrnl_dayone import _dayone_entry, _zip

    user = await make_authed_user(app, timezone="Europe/Berlin")
    archive = _zip(
        {
            "Journal.json": {
                "metadata": {"version": "1.0"},
                "entries": [_dayone_entry(creationDate="2026-05-02T02:30:00Z", tags=[])],
            }
        }
    )
    response = await import_file(client, user.headers, "dayone", archive, "export.zip")
    assert response.status_code == 200, response.text
    calendar = await get(client, "calendar?year=2026", user)
    assert [d["date"] for d in calendar] == ["2026-05-01"]
    response = await client.patch(
        f"{API}/users/me", json={"timezone": "Asia/Tokyo"}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    calendar = await get(client, "calendar?year=2026", user)
    assert [d["date"] for d in calendar] == ["2026-05-01"]


async def test_an_import_from_the_cli_makes_cached_figures_stale(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    user: AuthedUser = await make_authed_user(app, timezone="UTC")
    for _ in range(2):  # the second answer comes from the cache
        board = await get(client, "dashboard?period=week", user)
        assert board["summary"]["total_journals"] == 0
    path = tmp_path / "journal.json"
    path.write_bytes(_jrnl(random.Random(1), 2))
    summary = await import_from(app_runtime(app).settings, user.email, "jrnl", path)
    assert summary.imported.journals == 2
    board = await get(client, "dashboard?period=week", user)
    assert board["summary"]["total_journals"] == 2
