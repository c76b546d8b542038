"""Batch create (all or nothing) and Idempotency-Key on the journal POSTs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import AuthedUser
from tests.journals.conftest import API, count_journals, is_problem
from vibes.db import Database
from vibes.journals.schemas import JournalCreate
from vibes.journals.visibility import Viewer
from vibes.journals.writes import create_batch
from vibes.platform.portable import new_ids, uuid_text
from vibes.recording.models import Change, OutboxEvent


def _items(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"title": f"entry {i}", "content": f"words {i}", **extra} for i in range(n)]


async def test_batch_creates_every_item_with_tags_events_and_changes(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    items = _items(30, tags=["Batch"])
    items[0]["tags"] = ["batch", "first"]
    response = await client.post(
        f"{API}/journals/batch", json={"items": items}, headers=alice.headers
    )
    assert response.status_code == 201
    ids = response.json()["ids"]
    assert len(ids) == 30
    first = (await client.get(f"{API}/journals/{ids[0]}", headers=alice.headers)).json()
    assert first["title"] == "entry 0"
    # The first spelling seen creates the tag.
    assert first["tags"] == ["batch", "first"]
    assert first["word_count"] == 2
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    assert {t["name"]: t["journal_count"] for t in tags} == {"batch": 30, "first": 1}
    async with database.read_sessionmaker() as session:
        created = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.user_id == alice.id, OutboxEvent.type == "journal.created")
        )
        changes = await session.scalar(
            select(func.count())
            .select_from(Change)
            .where(Change.user_id == alice.id, Change.kind == "journal")
        )
    assert created == changes == 30


async def test_a_large_batch_writes_the_rows_a_single_create_writes(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    """From `COPY_FROM` rows PostgreSQL takes each table's rows in one statement with the
    shared values (owner, instants, version) sent once: every column is as a single
    create writes it, and the change and event rows are numbered and shaped alike."""
    single = await client.post(
        f"{API}/journals",
        json={"title": "one", "content": "a b", "tags": ["Alpha", "beta"], "mood_rating": 3},
        headers=alice.headers,
    )
    items = _items(100, tags=["alpha", "Beta"], mood_rating=7)
    items[5] = {"title": "dated", "content": "don't stop-me", "entry_date": "2026-01-02"}
    response = await client.post(
        f"{API}/journals/batch", json={"items": items}, headers=alice.headers
    )
    assert response.status_code == 201
    ids = response.json()["ids"]
    assert ids == sorted(ids)
    assert len(set(ids)) == 100
    one = single.json()
    for index in (0, 5, 99):
        entry = (await client.get(f"{API}/journals/{ids[index]}", headers=alice.headers)).json()
        assert entry["version"] == 1
        assert entry["created_at"] == entry["updated_at"]
        if index == 5:
            assert (entry["tags"], entry["word_count"]) == ([], 2)
            assert (entry["entry_date"], entry["mood_rating"]) == ("2026-01-02T00:00:00Z", None)
        else:
            # The tags' first spellings are the single create's.
            assert entry["tags"] == one["tags"] == ["Alpha", "beta"]
            assert (entry["title"], entry["mood_rating"]) == (f"entry {index}", 7)
            assert entry["entry_date"] == entry["created_at"]
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    assert {t["name"]: t["journal_count"] for t in tags} == {"Alpha": 100, "beta": 100}
    async with database.read_sessionmaker() as session:
        events = (
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.type == "journal.created")
                .order_by(OutboxEvent.id)
            )
        ).all()
        changes = (await session.scalars(select(Change).order_by(Change.position))).all()
    assert [e.data for e in events] == [
        {"id": one["id"], "version": 1},
        *({"id": i, "version": 1} for i in ids),
    ]
    assert {(e.user_id, e.attempts, e.dispatched_at) for e in events} == {(alice.id, 0, None)}
    assert [c.position for c in changes] == list(range(1, len(changes) + 1))
    batch = [c for c in changes if c.kind == "journal"][1:]
    assert [str(c.entity_id) for c in batch] == ids
    assert {(c.user_id, c.op, c.version, c.secret_tag_id) for c in batch} == {
        (alice.id, "upsert", 1, None)
    }
    assert len({c.created_at for c in batch}) == 1


async def test_bodies_orjson_refuses_read_as_before(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    """The journal routes parse JSON with orjson; what it refuses (a lone surrogate
    escape, NaN) is read by `json.loads` as before: the same 422, naming the item."""
    headers = {**alice.headers, "Content-Type": "application/json"}
    surrogate = b'{"items": [{"title": "a", "content": "b"}, {"title": "c", "content": "\\ud800"}]}'
    response = await client.post(f"{API}/journals/batch", content=surrogate, headers=headers)
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["body", "items", "1", "content"]
    nan = b'{"items": [{"title": "a", "content": "b", "mood_rating": NaN}]}'
    response = await client.post(f"{API}/journals/batch", content=nan, headers=headers)
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["body", "items", "0", "mood_rating"]
    assert await count_journals(database) == 0


async def test_batch_of_1000_is_accepted_and_1001_refused(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    too_many = await client.post(
        f"{API}/journals/batch", json={"items": _items(1001)}, headers=alice.headers
    )
    assert is_problem(too_many, 422)
    assert await count_journals(database) == 0
    ok = await client.post(
        f"{API}/journals/batch", json={"items": _items(1000, tags=["x"])}, headers=alice.headers
    )
    assert ok.status_code == 201
    assert await count_journals(database) == 1000


async def test_failed_batch_writes_nothing(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    invalid = _items(10, tags=["new-tag"])
    invalid[7]["mood_rating"] = 42
    response = await client.post(
        f"{API}/journals/batch", json={"items": invalid}, headers=alice.headers
    )
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"][:3] == ["body", "items", "7"]

    secret = _items(5, tags=["new-tag"])
    secret[3]["secret_tag_id"] = str(uuid.uuid4())
    response = await client.post(
        f"{API}/journals/batch", json={"items": secret}, headers=alice.headers
    )
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["body", "items", 3, "secret_tag_id"]

    big = _items(3, tags=["new-tag"])
    big[2]["content"] = "é" * (600 * 1024)
    response = await client.post(
        f"{API}/journals/batch", json={"items": big}, headers=alice.headers
    )
    assert is_problem(response, 413)

    empty = await client.post(f"{API}/journals/batch", json={"items": []}, headers=alice.headers)
    assert is_problem(empty, 422)

    assert await count_journals(database) == 0
    assert (await client.get(f"{API}/tags", headers=alice.headers)).json() == []
    async with database.read_sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


async def test_create_with_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "create-1"}
    body = {"title": "once", "content": "only once", "tags": ["t"]}
    first = await client.post(f"{API}/journals", json=body, headers=headers)
    second = await client.post(f"{API}/journals", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert await count_journals(database) == 1
    other = await client.post(f"{API}/journals", json={**body, "title": "twice"}, headers=headers)
    assert is_problem(other, 422)
    assert await count_journals(database) == 1


async def test_ten_concurrent_identical_creates_make_one_entry(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    headers = {**alice.headers, "Idempotency-Key": str(uuid.uuid4())}
    body = {"title": "burst", "content": "c", "tags": ["burst-tag"]}
    answers = await asyncio.gather(
        *(client.post(f"{API}/journals", json=body, headers=headers) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [201] * 10
    assert len({a.json()["id"] for a in answers}) == 1
    assert await count_journals(database) == 1


async def test_ten_concurrent_creates_of_one_new_tag_name_all_succeed(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    answers = await asyncio.gather(
        *(
            client.post(
                f"{API}/journals",
                json={"title": f"t{i}", "content": "c", "tags": ["Fresh" if i % 2 else "fresh"]},
                headers=alice.headers,
            )
            for i in range(10)
        )
    )
    assert [a.status_code for a in answers] == [201] * 10
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    assert len(tags) == 1
    assert tags[0]["journal_count"] == 10
    assert {tuple(a.json()["tags"]) for a in answers} == {(tags[0]["name"],)}


async def test_batch_with_idempotency_key_replays(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "batch-1"}
    first = await client.post(f"{API}/journals/batch", json={"items": _items(3)}, headers=headers)
    second = await client.post(f"{API}/journals/batch", json={"items": _items(3)}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert await count_journals(database) == 3


def test_bulk_ids_are_ascending_unique_uuid7() -> None:
    ids = new_ids(5000)
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}


def test_uuid_text_is_str_of_every_uuid() -> None:
    from asyncpg.pgproto.pgproto import UUID as DriverUUID

    for value in [*new_ids(3), uuid.uuid4(), uuid.UUID(int=0), DriverUUID(uuid.uuid4().bytes)]:
        assert uuid_text(value) == str(value)


async def test_bulk_writes_roll_back_with_their_transaction(
    alice: AuthedUser, database: Database
) -> None:
    items = [JournalCreate(title=f"t{i}", content="c", tags=["x"]) for i in range(20)]

    class Boom(Exception):
        pass

    async def write_then_fail() -> None:
        async with database.session_scope() as session:
            ids = await create_batch(session, Viewer(user_id=alice.id), items)
            assert len(ids) == 20
            raise Boom()

    with pytest.raises(Boom):
        await write_then_fail()
    assert await count_journals(database) == 0
    async with database.read_sessionmaker() as session:
        for model in (OutboxEvent, Change):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
