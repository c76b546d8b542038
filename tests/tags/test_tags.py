"""Tags: listing with counts, rename, recolour, merge on rename, delete."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import AuthedUser, journal_read
from tests.journals.conftest import API, count_journals, create_entry, is_problem
from vibes.db import Database
from vibes.journals.models import JournalTag
from vibes.journals.tagnames import tag_key
from vibes.recording.models import OutboxEvent


async def _tags(client: httpx.AsyncClient, user: AuthedUser) -> dict[str, dict[str, Any]]:
    response = await client.get(f"{API}/tags", headers=user.headers)
    assert response.status_code == 200
    return {t["name"]: t for t in response.json()}


async def test_list_shows_fields_and_journal_counts(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, tags=["Work", "home"])
    await create_entry(client, alice, tags=["work"])
    tags = await _tags(client, alice)
    assert list(tags) == ["home", "Work"]
    work = tags["Work"]
    assert set(work) >= {"id", "name", "color", "journal_count", "created_at", "updated_at"}
    assert work["journal_count"] == 2
    assert work["color"] is None


def test_tag_key_is_case_and_width_insensitive() -> None:
    assert tag_key(" Straße  Plan ") == tag_key("STRASSE plan")


async def test_first_use_creates_the_tag_and_records_tag_created(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    await create_entry(client, alice, tags=["new"])
    await create_entry(client, alice, tags=["NEW"])
    async with database.read_sessionmaker() as session:
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == "tag.created", OutboxEvent.user_id == alice.id)
        )
    assert events == 1


async def test_rename_and_recolour(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    await create_entry(client, alice, tags=["old"])
    tag = (await _tags(client, alice))["old"]
    url = f"{API}/tags/{tag['id']}"
    response = await client.patch(
        url, json={"name": "New Name", "color": "#A0b1C2"}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json()["name"] == "New Name"
    assert response.json()["color"] == "#A0b1C2"
    assert response.json()["journal_count"] == 1
    assert response.headers["etag"] == '"2"'
    entries = (await client.get(f"{API}/journals", headers=alice.headers)).json()["items"]
    assert entries[0]["tags"] == ["New Name"]
    cleared = await client.patch(url, json={"color": None}, headers=alice.headers)
    assert cleared.json()["color"] is None
    assert cleared.json()["name"] == "New Name"
    case_only = await client.patch(url, json={"name": "new name"}, headers=alice.headers)
    assert case_only.status_code == 200
    assert case_only.json()["name"] == "new name"


@pytest.mark.parametrize(
    "bad",
    [
        {"color": "red"},
        {"color": "#12345"},
        {"color": "#GGGGGG"},
        {"name": ""},
        {"name": None},
        {"x": 1},
    ],
)
async def test_bad_tag_update_is_422(
    client: httpx.AsyncClient, alice: AuthedUser, bad: dict[str, Any]
) -> None:
    await create_entry(client, alice, tags=["t"])
    tag = (await _tags(client, alice))["t"]
    response = await client.patch(f"{API}/tags/{tag['id']}", json=bad, headers=alice.headers)
    assert is_problem(response, 422)
    assert (await _tags(client, alice))["t"]["version"] == 1


async def test_renaming_onto_an_existing_name_merges_without_duplicate_links(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    only_a = await create_entry(client, alice, tags=["a"])
    both = await create_entry(client, alice, tags=["a", "B"])
    only_b = await create_entry(client, alice, tags=["B"])
    tags = await _tags(client, alice)
    response = await client.patch(
        f"{API}/tags/{tags['a']['id']}", json={"name": "b"}, headers=alice.headers
    )
    assert response.status_code == 200
    merged = response.json()
    assert merged["id"] == tags["a"]["id"]
    assert merged["name"] == "b"
    assert merged["journal_count"] == 3
    assert list(await _tags(client, alice)) == ["b"]
    for entry in (only_a, both, only_b):
        got = (await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)).json()
        assert got["tags"] == ["b"]
    async with database.read_sessionmaker() as session:
        links = await session.scalar(
            select(func.count()).select_from(JournalTag).where(JournalTag.user_id == alice.id)
        )
    assert links == 3


async def test_delete_removes_the_tag_from_entries_and_keeps_them(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    entry = await create_entry(client, alice, tags=["gone", "kept"])
    tag = (await _tags(client, alice))["gone"]
    response = await client.delete(f"{API}/tags/{tag['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert list(await _tags(client, alice)) == ["kept"]
    got = (await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)).json()
    assert got["tags"] == ["kept"]
    assert await count_journals(database) == 1
    again = await client.delete(f"{API}/tags/{tag['id']}", headers=alice.headers)
    assert is_problem(again, 404)


async def test_tag_if_match_and_if_none_match(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    await create_entry(client, alice, tags=["t"])
    tag = (await _tags(client, alice))["t"]
    url = f"{API}/tags/{tag['id']}"
    got = await client.get(url, headers=alice.headers)
    assert got.headers["etag"] == '"1"'
    assert (
        await client.get(url, headers={**alice.headers, "If-None-Match": '"1"'})
    ).status_code == 304
    ok = await client.patch(
        url, json={"color": "#000000"}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    stale = await client.patch(
        url, json={"color": "#ffffff"}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert is_problem(stale, 412)
    assert is_problem(await client.delete(url, headers={**alice.headers, "If-Match": '"1"'}), 412)


async def _etag(client: httpx.AsyncClient, user: AuthedUser, journal_id: str) -> str:
    response = await client.get(f"{API}/journals/{journal_id}", headers=user.headers)
    assert response.status_code == 200
    journal_read(response.json())
    return response.headers["etag"]


@pytest.mark.parametrize("action", ["rename", "merge", "delete"])
async def test_tag_changes_bump_the_entries_version_and_sync_log(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database, action: str
) -> None:
    from vibes.recording.models import Change

    tagged = await create_entry(client, alice, tags=["trip"])
    other = await create_entry(client, alice, tags=["travel"])
    untouched = await create_entry(client, alice, tags=["home"])
    ids = {e["id"]: await _etag(client, alice, e["id"]) for e in (tagged, other, untouched)}
    tags = await _tags(client, alice)
    trip = tags["trip"]["id"]
    if action == "rename":
        response = await client.patch(
            f"{API}/tags/{trip}", json={"name": "Trips"}, headers=alice.headers
        )
        changed = {tagged["id"]}
    elif action == "merge":
        response = await client.patch(
            f"{API}/tags/{trip}", json={"name": "travel"}, headers=alice.headers
        )
        changed = {tagged["id"], other["id"]}
    else:
        response = await client.delete(f"{API}/tags/{trip}", headers=alice.headers)
        changed = {tagged["id"]}
    assert response.status_code in (200, 204), response.text
    for journal_id, old in ids.items():
        stale = await client.get(
            f"{API}/journals/{journal_id}", headers={**alice.headers, "If-None-Match": old}
        )
        if journal_id in changed:
            assert stale.status_code == 200, action
            assert stale.headers["etag"] != old
        else:
            assert stale.status_code == 304, action
    async with database.read_sessionmaker() as s:
        logged = (
            await s.scalars(
                select(Change.entity_id).where(Change.kind == "journal", Change.version == 2)
            )
        ).all()
    assert {str(i) for i in logged} == changed
