"""`GET /export?format=json` and `POST /import?format=vibes`: the round trip loses
nothing, the same file twice creates nothing, a malformed file writes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.factories import AuthedUser, make_authed_user
from tests.portability.conftest import (
    API,
    document,
    export_bytes,
    import_file,
    without_ids,
)
from vibes.db import Database
from vibes.journals.models import Journal
from vibes.portability import vibes_format
from vibes.portability.records import CHUNK
from vibes.portability.schemas import VibesDocument
from vibes.recording.models import OutboxEvent

BIG = ("Ünïcödé 🌍 " * 95_000)[: 1024 * 1024 // 2] + "x"


async def _fill(client: httpx.AsyncClient, user: AuthedUser) -> None:
    entries: list[dict[str, Any]] = [
        {
            "title": "Première entrée 🌅",
            "content": "# Morgen\n\nKaffee ☕ und *Sonne*.\n\n- eins\n- zwei\n",
            "entry_date": "2026-03-29T01:30:00+01:00",
            "tags": ["Reise", "café"],
            "mood_rating": 8,
        },
        {"title": "Same day", "content": "Second one.", "entry_date": "2026-03-29", "tags": []},
        {"title": "Big one", "content": BIG, "tags": ["long"], "mood_rating": 1},
        {"title": "日本語のタイトル", "content": "本文。\n\n改行あり。", "tags": ["Reise"]},
    ]
    ids = []
    for body in entries:
        response = await client.post(f"{API}/journals", json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    tags = (await client.get(f"{API}/tags", headers=user.headers)).json()
    reise = next(t for t in tags if t["name"] == "Reise")
    response = await client.patch(
        f"{API}/tags/{reise['id']}", json={"color": "#aa3300"}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    for body in (
        {
            "title": "Evening review",
            "remind_at": "2030-01-01T21:00:00+01:00",
            "recurrence": "FREQ=WEEKLY;BYDAY=MO,WE",
            "timezone": "Europe/Berlin",
            "journal_id": ids[0],
            "notes": "Write ✍️",
            "priority": 4,
        },
        {"title": "Once", "remind_at": "2031-06-01T08:00:00Z"},
        {"title": "Daily", "remind_at": "2030-02-01T07:00:00Z", "recurrence": "daily"},
    ):
        response = await client.post(f"{API}/reminders", json=body, headers=user.headers)
        assert response.status_code == 201, response.text


async def test_round_trip_into_a_fresh_account_gives_the_same_document(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _fill(client, alice)
    exported = await export_bytes(client, alice.headers)
    VibesDocument.model_validate_json(exported)  # the document meets its own schema
    response = await import_file(client, bob.headers, "vibes", exported, "alice.json")
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"journals": 4, "tags": 3, "reminders": 3}
    again = await export_bytes(client, bob.headers)
    assert without_ids(document(again)) == without_ids(document(exported))
    first = document(exported)
    assert first["journals"][-1]["content"] == BIG or any(
        j["content"] == BIG for j in first["journals"]
    )


async def test_the_same_file_twice_creates_nothing_new(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _fill(client, alice)
    exported = await export_bytes(client, alice.headers)
    assert (await import_file(client, bob.headers, "vibes", exported)).status_code == 200
    before = await export_bytes(client, bob.headers)
    response = await import_file(client, bob.headers, "vibes", exported)
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"journals": 0, "tags": 0, "reminders": 0}
    assert response.json()["skipped"]["journals"] == 4
    assert (
        document(await export_bytes(client, bob.headers))["journals"]
        == document(before)["journals"]
    )
    # Its own export into the account it came from: nothing new either.
    response = await import_file(client, alice.headers, "vibes", exported)
    assert response.json()["imported"] == {"journals": 0, "tags": 0, "reminders": 0}


async def test_an_import_makes_one_summary_event(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _fill(client, alice)
    exported = await export_bytes(client, alice.headers)
    async with database.read_sessionmaker() as session:
        before = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.user_id == bob.id)
        )
    assert (await import_file(client, bob.headers, "vibes", exported)).status_code == 200
    async with database.read_sessionmaker() as session:
        types = list(
            (
                await session.scalars(select(OutboxEvent.type).where(OutboxEvent.user_id == bob.id))
            ).all()
        )
    assert len(types) == (before or 0) + 1
    assert types.count("import.completed") == 1


async def _journals(database: Database, user: AuthedUser) -> int:
    async with database.read_sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Journal).where(Journal.user_id == user.id)
            )
            or 0
        )


async def test_a_malformed_entry_names_itself_and_writes_nothing(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _fill(client, alice)
    doc = document(await export_bytes(client, alice.headers))
    doc["journals"][2]["mood_rating"] = 11
    response = await import_file(client, bob.headers, "vibes", json.dumps(doc).encode())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"] == ["file", "journals", 2, "mood_rating"]
    assert await _journals(database, bob) == 0
    tags = (await client.get(f"{API}/tags", headers=bob.headers)).json()
    assert tags == []


async def test_a_malformed_reminder_after_good_entries_writes_nothing(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _fill(client, alice)
    doc = document(await export_bytes(client, alice.headers))
    doc["reminders"][1]["recurrence"] = "FREQ=SOMETIMES"
    response = await import_file(client, bob.headers, "vibes", json.dumps(doc).encode())
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["file", "reminders", 1, "recurrence"]
    assert await _journals(database, bob) == 0


async def test_files_that_are_not_a_vibes_export_are_refused(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    for content, loc in (
        (b"{not json", ["file"]),
        (b"[1, 2]", ["file"]),
        (b'{"format": "jrnl", "version": 1, "journals": [{}]}', ["file", "format"]),
        (b'{"format": "vibes", "version": 2, "journals": [{}]}', ["file", "version"]),
        (b'{"format": "vibes", "version": 1, "surprise": []}', ["file", "surprise"]),
        (b"", ["file"]),
    ):
        response = await import_file(client, alice.headers, "vibes", content)
        assert response.status_code == 422, (content, response.text)
        assert response.json()["errors"][0]["loc"] == loc, content


async def test_an_upload_over_the_limit_is_refused(make_app: Any, make_client: Any) -> None:
    async with make_app(import_max_bytes=2048) as app, make_client(app) as client:
        user = await make_authed_user(app)
        response = await import_file(client, user.headers, "vibes", b" " * 4096)
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_export_and_import_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/export")).status_code == 401
    response = await client.post(
        f"{API}/import", params={"format": "vibes"}, files={"file": ("a", b"{}")}
    )
    assert response.status_code == 401


async def test_an_unknown_format_is_a_422(
    client: httpx.AsyncClient, alice: AuthedUser, app: FastAPI
) -> None:
    assert (await client.get(f"{API}/export?format=xml", headers=alice.headers)).status_code == 422
    response = await import_file(client, alice.headers, "evernote", b"{}")
    assert response.status_code == 422


@pytest.mark.parametrize("chunk", [CHUNK, 2], ids=["one chunk", "other chunks"])
async def test_an_entry_and_a_reminder_twice_in_one_file_are_written_once(
    client: httpx.AsyncClient,
    alice: AuthedUser,
    bob: AuthedUser,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    # A reminder twice in one file was a 500 (both copies written with one id). In other
    # chunks, an account's first import finds the copy among its own claims.
    monkeypatch.setattr(vibes_format, "CHUNK", chunk)
    await _fill(client, alice)
    doc = document(await export_bytes(client, alice.headers))
    doc["journals"].append(doc["journals"][0])
    doc["reminders"].append(doc["reminders"][0])
    response = await import_file(client, bob.headers, "vibes", json.dumps(doc).encode())
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"journals": 4, "tags": 3, "reminders": 3}
    assert response.json()["skipped"]["journals"] == 1
    assert response.json()["skipped"]["reminders"] == 1


async def test_a_later_export_imports_only_what_is_new_and_links_to_what_was(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    # The second file's old entries are found by their identity (an earlier import's),
    # its new ones written, and a new reminder of an old entry linked to the copy the
    # first import made.
    await _fill(client, alice)
    first = await export_bytes(client, alice.headers)
    assert (await import_file(client, bob.headers, "vibes", first)).status_code == 200
    old = document(first)["journals"][0]
    response = await client.post(
        f"{API}/journals", json={"title": "Later", "content": "New."}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    response = await client.post(
        f"{API}/reminders",
        json={"title": "About the old one", "remind_at": "2032-01-01T08:00:00Z",
              "journal_id": old["id"]},
        headers=alice.headers,
    )  # fmt: skip
    assert response.status_code == 201, response.text

    response = await import_file(
        client, bob.headers, "vibes", await export_bytes(client, alice.headers)
    )
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"journals": 1, "tags": 0, "reminders": 1}
    assert response.json()["skipped"]["journals"] == 4
    assert response.json()["skipped"]["reminders"] == 3
    mine = document(await export_bytes(client, bob.headers))
    assert sorted(j["title"] for j in mine["journals"]) == sorted(
        [*(j["title"] for j in document(first)["journals"]), "Later"]
    )
    copy = next(j for j in mine["journals"] if j["title"] == old["title"])
    linked = next(r for r in mine["reminders"] if r["title"] == "About the old one")
    assert linked["journal_id"] == copy["id"] != old["id"]
