"""Two users: neither can read, change, delete, tag, search or count the other's entries."""

from __future__ import annotations

import uuid

import httpx

from tests.factories import AuthedUser
from tests.journals.conftest import API, create_entry, is_problem


async def test_another_users_entry_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    entry = await create_entry(client, alice, title="alice's", tags=["private"])
    theirs = f"{API}/journals/{entry['id']}"
    missing = f"{API}/journals/{uuid.uuid4()}"
    for method, body in (("GET", None), ("PATCH", {"title": "bob was here"}), ("DELETE", None)):
        a = await client.request(method, theirs, json=body, headers=bob.headers)
        b = await client.request(method, missing, json=body, headers=bob.headers)
        assert is_problem(a, 404), method
        assert a.content == b.content, method
        assert a.headers["content-type"] == b.headers["content-type"]
    # Conditional headers change nothing either.
    a = await client.get(theirs, headers={**bob.headers, "If-None-Match": '"1"'})
    assert is_problem(a, 404)
    # Alice's entry is untouched.
    mine = await client.get(theirs, headers=alice.headers)
    assert mine.json() == entry


async def test_lists_filters_search_and_counts_see_only_your_own_entries(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    await create_entry(
        client, alice, title="alice zebra", content="zebra stripes", tags=["shared-name"]
    )
    await create_entry(client, bob, title="bob's", content="nothing", tags=["shared-name"])
    for query in ("", "?q=zebra", "?tag=shared-name", "?mood_min=1"):
        items = (await client.get(f"{API}/journals{query}", headers=bob.headers)).json()["items"]
        assert all(i["title"] == "bob's" for i in items), query
    search = (await client.get(f"{API}/search?q=zebra", headers=bob.headers)).json()
    assert search["items"] == []
    tags = (await client.get(f"{API}/tags", headers=bob.headers)).json()
    assert [(t["name"], t["journal_count"]) for t in tags] == [("shared-name", 1)]


async def test_another_users_tag_cannot_be_read_renamed_merged_or_deleted(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    await create_entry(client, alice, tags=["alice-tag"])
    await create_entry(client, bob, tags=["bob-tag"])
    alice_tag = (await client.get(f"{API}/tags", headers=alice.headers)).json()[0]
    theirs = f"{API}/tags/{alice_tag['id']}"
    missing = f"{API}/tags/{uuid.uuid4()}"
    for method, body in (("GET", None), ("PATCH", {"name": "bob-tag"}), ("DELETE", None)):
        a = await client.request(method, theirs, json=body, headers=bob.headers)
        b = await client.request(method, missing, json=body, headers=bob.headers)
        assert is_problem(a, 404), method
        assert a.content == b.content
    # Bob renaming his own tag onto Alice's tag name merges nothing of hers.
    bob_tag = (await client.get(f"{API}/tags", headers=bob.headers)).json()[0]
    renamed = await client.patch(
        f"{API}/tags/{bob_tag['id']}", json={"name": "alice-tag"}, headers=bob.headers
    )
    assert renamed.status_code == 200
    assert renamed.json()["journal_count"] == 1
    still = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    assert [(t["id"], t["journal_count"]) for t in still] == [(alice_tag["id"], 1)]


async def test_tagging_uses_only_your_own_tags(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    await create_entry(client, alice, tags=["Same"])
    entry = await create_entry(client, bob, tags=["same"])
    assert entry["tags"] == ["same"]
    alice_tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    bob_tags = (await client.get(f"{API}/tags", headers=bob.headers)).json()
    assert alice_tags[0]["id"] != bob_tags[0]["id"]
    assert alice_tags[0]["name"] == "Same"
