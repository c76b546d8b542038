"""Create, read, update and delete one entry: fields, ETags, conditions, limits, events."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import uuid

import httpx
import pytest
from sqlalchemy import select, update

from tests.factories import AuthedUser
from tests.journals.conftest import API, count_journals, create_entry, is_problem
from vibes.accounts.models import AuthSession
from vibes.db import Database, utcnow
from vibes.journals.writes import count_words
from vibes.recording.models import Change, OutboxEvent


async def test_create_answers_201_with_location_etag_and_computed_fields(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    before = utcnow()
    response = await client.post(
        f"{API}/journals",
        json={
            "title": "First day",
            "content": "# Hello\n\nIt's a *well-known* fact: 3 dogs.",
            "tags": ["Work", "fun", "work", " Fun "],
            "mood_rating": 7,
        },
        headers=alice.headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"{API}/journals/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert uuid.UUID(body["id"]).version == 7
    assert body["title"] == "First day"
    assert body["word_count"] == 7
    assert body["tags"] == ["fun", "Work"]
    assert body["mood_rating"] == 7
    assert body["version"] == 1
    assert body["secret_tag"] is None
    entry_date = dt.datetime.fromisoformat(body["entry_date"])
    assert before <= entry_date <= utcnow()
    assert body["entry_date"].endswith("Z")


def test_word_count_ignores_markup() -> None:
    assert count_words("") == 0
    assert count_words("## Title\n- item one\n- don't stop") == 5
    assert count_words("well-known **bold** `code`") == 3


def test_word_count_counts_what_the_word_pattern_matches() -> None:
    """`count_words` counts word starts; the rule is the pattern below. Random strings of
    word characters, joiners and punctuation count alike both ways."""
    word = re.compile(r"\w+(?:['\u2019\-]\w+)*")
    rng = random.Random(7)
    # ASCII text is counted on its bytes, other text with `str` patterns: both are drawn.
    for alphabet in ("ab1_é'\u2019- .\n*#", "ab1_'- .\n*#\t`"):
        for _ in range(20000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            assert count_words(text) == len(word.findall(text)), repr(text)
    # Every ASCII character, joiners often.
    ascii_alphabet = [chr(c) for c in range(128)] + list("''--  ab")
    for _ in range(20000):
        text = "".join(rng.choice(ascii_alphabet) for _ in range(rng.randint(0, 14)))
        assert count_words(text) == len(word.findall(text)), repr(text)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-11-27T09:30:00+02:00", "2026-11-27T07:30:00Z"),
        ("2026-11-27T09:30:00Z", "2026-11-27T09:30:00Z"),
        ("2026-11-27", "2026-11-27T00:00:00Z"),
    ],
)
async def test_entry_date_accepts_rfc3339_and_bare_dates_stored_in_utc(
    client: httpx.AsyncClient, alice: AuthedUser, given: str, stored: str
) -> None:
    body = await create_entry(client, alice, entry_date=given)
    assert body["entry_date"] == stored


@pytest.mark.parametrize(
    "bad",
    [
        {"title": "t", "content": "c", "entry_date": "2026-11-27T09:30:00"},
        {"title": "t", "content": "c", "mood_rating": 0},
        {"title": "t", "content": "c", "mood_rating": 11},
        {"title": "", "content": "c"},
        {"title": "t"},
        {"title": "t", "content": "c", "unknown": 1},
        {"title": "t", "content": "c", "tags": ["ok", ""]},
        {"title": "t", "content": "c", "tags": ["x" * 65]},
        {"title": "t", "content": "c", "tags": [f"t{i}" for i in range(51)]},
        {"title": "t" * 501, "content": "c"},
    ],
)
async def test_malformed_body_is_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database, bad: dict[str, object]
) -> None:
    response = await client.post(f"{API}/journals", json=bad, headers=alice.headers)
    assert is_problem(response, 422)
    assert response.json()["errors"]
    assert await count_journals(database) == 0


async def test_not_json_at_all_is_422(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    response = await client.post(
        f"{API}/journals",
        content=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert is_problem(response, 422)


async def test_secret_tag_id_is_refused_until_it_can_be_unlocked(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    response = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "secret_tag_id": str(uuid.uuid4())},
        headers=alice.headers,
    )
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["body", "secret_tag_id"]
    assert response.json()["errors"][0]["msg"] == "unknown or locked secret tag"
    assert await count_journals(database) == 0
    entry = await create_entry(client, alice)
    patched = await client.patch(
        f"{API}/journals/{entry['id']}",
        json={"secret_tag_id": str(uuid.uuid4())},
        headers=alice.headers,
    )
    assert is_problem(patched, 422)
    assert patched.json()["errors"][0]["loc"] == ["body", "secret_tag_id"]


async def test_content_of_one_mib_is_accepted_and_more_is_413(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    mib = 1024 * 1024
    ok = await client.post(
        f"{API}/journals", json={"title": "big", "content": "a" * mib}, headers=alice.headers
    )
    assert ok.status_code == 201
    # Multi-byte characters: fewer than 1 Mi characters, more than 1 MiB of UTF-8.
    too_big = await client.post(
        f"{API}/journals",
        json={"title": "big", "content": "é" * (mib // 2 + 1)},
        headers=alice.headers,
    )
    assert is_problem(too_big, 413)
    assert await count_journals(database) == 1


async def test_huge_body_is_413_before_being_read(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    response = await client.post(
        f"{API}/journals",
        content=b'{"title": "x", "content": "' + b"a" * (5 * 1024 * 1024) + b'"}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert is_problem(response, 413)
    assert await count_journals(database) == 0


async def test_get_answers_etag_and_304_when_unchanged(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await create_entry(client, alice, tags=["b", "A"])
    response = await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == entry
    assert response.headers["etag"] == '"1"'
    cached = await client.get(
        f"{API}/journals/{entry['id']}", headers={**alice.headers, "If-None-Match": '"1"'}
    )
    assert cached.status_code == 304
    assert cached.content == b""
    await client.patch(f"{API}/journals/{entry['id']}", json={"title": "x"}, headers=alice.headers)
    changed = await client.get(
        f"{API}/journals/{entry['id']}", headers={**alice.headers, "If-None-Match": '"1"'}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'


async def test_patch_changes_only_given_fields_and_tags_replace_the_set(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await create_entry(client, alice, tags=["one", "two"], mood_rating=3)
    url = f"{API}/journals/{entry['id']}"
    response = await client.patch(
        url, json={"content": "just three words", "tags": ["Two", "three"]}, headers=alice.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == entry["title"]
    assert body["content"] == "just three words"
    assert body["word_count"] == 3
    assert body["tags"] == ["three", "two"]
    assert body["mood_rating"] == 3
    assert body["version"] == 2
    assert response.headers["etag"] == '"2"'
    cleared = await client.patch(url, json={"mood_rating": None}, headers=alice.headers)
    assert cleared.json()["mood_rating"] is None
    tags_only = await client.patch(url, json={"tags": []}, headers=alice.headers)
    assert tags_only.json()["tags"] == []
    assert tags_only.json()["version"] == 4


@pytest.mark.parametrize(
    "bad",
    [{"title": None}, {"content": None}, {"entry_date": None}, {"tags": None}, {"x": 1}],
)
async def test_patch_with_bad_fields_is_422_and_changes_nothing(
    client: httpx.AsyncClient, alice: AuthedUser, bad: dict[str, object]
) -> None:
    entry = await create_entry(client, alice)
    url = f"{API}/journals/{entry['id']}"
    response = await client.patch(url, json=bad, headers=alice.headers)
    assert is_problem(response, 422)
    assert (await client.get(url, headers=alice.headers)).json() == entry


async def test_patch_and_delete_with_stale_if_match_are_412(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await create_entry(client, alice)
    url = f"{API}/journals/{entry['id']}"
    ok = await client.patch(url, json={"title": "v2"}, headers={**alice.headers, "If-Match": '"1"'})
    assert ok.status_code == 200
    stale = await client.patch(
        url, json={"title": "v3"}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert is_problem(stale, 412)
    stale_delete = await client.delete(url, headers={**alice.headers, "If-Match": '"1"'})
    assert is_problem(stale_delete, 412)
    assert (await client.get(url, headers=alice.headers)).json()["title"] == "v2"
    deleted = await client.delete(url, headers={**alice.headers, "If-Match": '"2"'})
    assert deleted.status_code == 204


async def test_concurrent_patches_with_same_if_match_have_exactly_one_winner(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await create_entry(client, alice)
    url = f"{API}/journals/{entry['id']}"
    answers = await asyncio.gather(
        *(
            client.patch(
                url,
                json={"title": f"writer {i}", "tags": [f"w{i}"]},
                headers={**alice.headers, "If-Match": '"1"'},
            )
            for i in range(4)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 412, 412, 412]
    winner = next(a for a in answers if a.status_code == 200).json()
    stored = (await client.get(url, headers=alice.headers)).json()
    assert stored["version"] == 2
    assert stored["title"] == winner["title"]
    assert stored["tags"] == winner["tags"]


async def test_delete_answers_204_then_the_entry_is_gone(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    entry = await create_entry(client, alice, tags=["kept"])
    url = f"{API}/journals/{entry['id']}"
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert is_problem(await client.get(url, headers=alice.headers), 404)
    assert is_problem(await client.delete(url, headers=alice.headers), 404)
    assert await count_journals(database) == 0
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    assert [(t["name"], t["journal_count"]) for t in tags] == [("kept", 0)]


async def test_every_write_records_its_change_and_a_thin_event(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    entry = await create_entry(client, alice, content="secret words", tags=["t"])
    url = f"{API}/journals/{entry['id']}"
    await client.patch(url, json={"content": "other secret words"}, headers=alice.headers)
    await client.delete(url, headers=alice.headers)
    async with database.read_sessionmaker() as session:
        events = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.user_id == alice.id).order_by(OutboxEvent.id)
            )
        ).all()
        changes = (
            await session.scalars(
                select(Change).where(Change.user_id == alice.id).order_by(Change.position)
            )
        ).all()
    assert [e.type for e in events] == [
        "tag.created",
        "journal.created",
        "journal.updated",
        "journal.deleted",
    ]
    for event in events:
        assert "secret" not in str(event.data)
    assert events[1].data == {"id": entry["id"], "version": 1}
    journal_changes = [(c.op, c.version) for c in changes if c.kind == "journal"]
    assert journal_changes == [("upsert", 1), ("upsert", 2), ("delete", 3)]
    # The tag is created with the entry, and its journal_count drops when the entry goes.
    assert [(c.kind, c.op) for c in changes] == [
        ("tag", "upsert"),
        ("journal", "upsert"),
        ("journal", "upsert"),
        ("tag", "upsert"),
        ("journal", "delete"),
    ]


async def test_revoked_session_cannot_read_even_on_the_one_query_path(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    entry = await create_entry(client, alice)
    async with database.session_scope() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == alice.session_id)
            .values(revoked_at=utcnow())
        )
    for url in (f"{API}/journals/{entry['id']}", f"{API}/journals", f"{API}/journals?q=words"):
        response = await client.get(url, headers=alice.headers)
        assert is_problem(response, 401), url
    missing = await client.get(f"{API}/journals/{uuid.uuid4()}", headers=alice.headers)
    assert is_problem(missing, 401)


async def test_expired_session_cannot_read(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    entry = await create_entry(client, alice)
    async with database.session_scope() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == alice.session_id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert is_problem(await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers), 401)
    assert is_problem(await client.get(f"{API}/journals", headers=alice.headers), 401)


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert is_problem(await client.get(f"{API}/journals"), 401)
    assert is_problem(await client.get(f"{API}/journals/{uuid.uuid4()}"), 401)
    assert is_problem(
        await client.post(f"{API}/journals", json={"title": "t", "content": "c"}), 401
    )
