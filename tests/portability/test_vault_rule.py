"""The vault rule in exports: secret entries only while unlocked, marked with their
secret tag's name; locked, the export is byte for byte the one from before the vault."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.factories import AuthedUser
from tests.portability.conftest import (
    API,
    document,
    export_bytes,
    import_file,
    without_ids,
    without_timestamp,
)
from tests.vault.conftest import make_vault
from vibes.db import Database
from vibes.journals.models import Journal
from vibes.journals.writes import count_words
from vibes.platform.portable import COPY_FROM
from vibes.portability import export


async def _public(client: httpx.AsyncClient, user: AuthedUser) -> None:
    for body in (
        {"title": "Public", "content": "Hello", "tags": ["work"], "mood_rating": 5},
        {"title": "Another", "content": "World", "entry_date": "2026-01-02"},
    ):
        response = await client.post(f"{API}/journals", json=body, headers=user.headers)
        assert response.status_code == 201, response.text
    response = await client.post(
        f"{API}/reminders",
        json={"title": "Stretch", "remind_at": "2030-01-01T09:00:00Z", "recurrence": "daily"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text


async def test_a_locked_export_is_byte_identical_to_the_export_before_the_vault(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser
) -> None:
    await _public(client, alice)
    before = await export_bytes(client, alice.headers)
    vault = await make_vault(client, app, user=alice, name="Therapie")
    for body in (
        {"title": "Secret", "content": "Only me", "tags": ["work", "hidden-name"]},
        {"title": "Second secret", "content": "Ünïcödé", "mood_rating": 2},
    ):
        response = await client.post(
            f"{API}/journals", json={**body, "secret_tag_id": vault.tag_id}, headers=vault.headers
        )
        assert response.status_code == 201, response.text
    locked = await export_bytes(client, alice.headers)
    assert without_timestamp(locked) == without_timestamp(before)
    unlocked = document(await export_bytes(client, vault.headers))
    secret = [j for j in unlocked["journals"] if j["secret_tag"] is not None]
    assert {j["title"] for j in secret} == {"Secret", "Second secret"}
    assert {j["secret_tag"] for j in secret} == {"Therapie"}
    assert next(j for j in secret if j["title"] == "Secret")["tags"] == ["hidden-name", "work"]


async def test_secret_entries_import_only_into_an_unlocked_secret_tag_of_their_name(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _public(client, alice)
    vault = await make_vault(client, app, user=alice, name="Therapie")
    response = await client.post(
        f"{API}/journals",
        json={"title": "Secret", "content": "Only me", "secret_tag_id": vault.tag_id},
        headers=vault.headers,
    )
    assert response.status_code == 201, response.text
    exported = await export_bytes(client, vault.headers)
    index = next(i for i, j in enumerate(document(exported)["journals"]) if j["secret_tag"])

    response = await import_file(client, bob.headers, "vibes", exported)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["file", "journals", index, "secret_tag"]
    assert document(await export_bytes(client, bob.headers))["journals"] == []

    bobs = await make_vault(client, app, user=bob, name="therapie", phrase="another long phrase")
    response = await import_file(client, bobs.headers, "vibes", exported)
    assert response.status_code == 200, response.text
    again = document(await export_bytes(client, bobs.headers))
    for journal in again["journals"]:
        if journal["secret_tag"] is not None:
            journal["secret_tag"] = "Therapie"  # bob's tag spells it in lower case
    assert without_ids(again) == without_ids(document(exported))
    # Locked, bob's export shows none of it.
    locked = document(await export_bytes(client, bob.headers))
    assert len(locked["journals"]) == 2
    assert all(j["secret_tag"] is None for j in locked["journals"])


async def test_an_export_over_many_pages_has_every_entry_once_in_order(
    client: httpx.AsyncClient, alice: AuthedUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAGE", 2)
    for i in range(7):
        day = "2026-01-01" if i < 5 else f"2026-01-0{i}"
        response = await client.post(
            f"{API}/journals",
            json={"title": f"Entry {i}", "content": "x", "entry_date": day, "tags": [f"t{i}"]},
            headers=alice.headers,
        )
        assert response.status_code == 201
    journals = document(await export_bytes(client, alice.headers))["journals"]
    assert [j["title"] for j in journals] == [f"Entry {i}" for i in range(7)]
    assert [j["tags"] for j in journals] == [[f"t{i}"] for i in range(7)]


async def test_an_import_over_the_copy_threshold_keeps_every_field(
    client: httpx.AsyncClient, app: FastAPI, database: Database, alice: AuthedUser
) -> None:
    """More entries than `COPY_FROM` (PostgreSQL writes them by COPY, from tuples in the
    columns' order): public and secret ones mixed in one chunk, each field where it
    belongs, the word counts those of the content."""
    vault = await make_vault(client, app, user=alice, name="Therapie")
    journals = [
        {
            "id": str(uuid.uuid4()),
            "title": f"Entry {i}",
            "content": f"Word {i} and don't-stop x{'-y' * (i % 3)} é{i}" if i % 4 else "one",
            "entry_date": f"2026-01-{1 + i % 28:02d}T0{i % 10}:30:00+02:00",
            "tags": [f"tag {i % 5}", "Shared"] if i % 3 else [],
            "mood_rating": None if i % 6 == 0 else 1 + i % 10,
            "secret_tag": "therapie" if i % 7 == 0 else None,
            "created_at": "2025-12-31T23:00:00Z",
            "updated_at": f"2026-02-01T10:{i % 60:02d}:00Z",
        }
        for i in range(2 * COPY_FROM + 5)
    ]
    content = orjson.dumps(
        {
            "format": "vibes",
            "version": 1,
            "exported_at": "2026-03-01T00:00:00Z",
            "tags": [],
            "journals": journals,
            "reminders": [],
            "webhooks": [],
        }
    )
    response = await import_file(client, vault.headers, "vibes", content)
    assert response.status_code == 200, response.text
    assert response.json()["imported"]["journals"] == len(journals)
    exported = document(await export_bytes(client, vault.headers))["journals"]
    fields = ("title", "content", "entry_date", "tags", "mood_rating", "created_at", "updated_at")

    def as_stored(j: dict[str, Any]) -> tuple[Any, ...]:
        instant = dt.datetime.fromisoformat(j["entry_date"]).astimezone(dt.UTC)
        return (
            *(j[f] for f in fields if f != "entry_date"),
            instant,
            j["secret_tag"] and "Therapie",  # stored under the vault's own spelling
        )

    def as_read(j: dict[str, Any]) -> tuple[Any, ...]:
        instant = dt.datetime.fromisoformat(j["entry_date"])
        return (*(j[f] for f in fields if f != "entry_date"), instant, j["secret_tag"])

    def tags_sorted(j: dict[str, Any]) -> dict[str, Any]:
        return {**j, "tags": sorted(j["tags"], key=str.casefold)}

    assert sorted(map(as_read, exported), key=str) == sorted(
        (as_stored(tags_sorted(j)) for j in journals), key=str
    )
    async with database.read_sessionmaker() as session:
        rows = await session.execute(
            select(Journal.title, Journal.word_count).where(Journal.secret_tag_id.is_(None))
        )
        stored = {str(row[0]): int(row[1]) for row in rows}
    public = [j for j in journals if j["secret_tag"] is None]
    assert {j["title"]: count_words(j["content"]) for j in public} == stored
