"""Secret entries through the journal, tag and search endpoints, on every backend."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.conftest import Backend
from tests.factories import journal_read, make_authed_user
from tests.vault.conftest import API, Vault, dump_database, make_vault, unlock
from vibes.config import Settings
from vibes.journals.models import Journal
from vibes.platform.runtime import app_runtime
from vibes.recording.models import Change, OutboxEvent


async def post_entry(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    body.setdefault("title", "a title")
    body.setdefault("content", "some content")
    response = await client.post(f"{API}/journals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return journal_read(response.json())


async def secret_entry(client: httpx.AsyncClient, vault: Vault, **body: Any) -> dict[str, Any]:
    return await post_entry(client, vault.headers, secret_tag_id=vault.tag_id, **body)


async def test_secret_entry_reads_back_only_with_the_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app, name="therapy")
    created = await secret_entry(
        client, vault, title="Session 4", content="We talked about calm.", tags=["health"]
    )
    assert created["title"] == "Session 4"
    assert created["content"] == "We talked about calm."
    assert created["tags"] == ["health"]
    assert created["secret_tag"] == {"id": vault.tag_id, "name": "therapy"}
    assert created["word_count"] == 4

    url = f"{API}/journals/{created['id']}"
    unlocked = await client.get(url, headers=vault.headers)
    assert unlocked.status_code == 200
    assert unlocked.json() == created

    locked = await client.get(url, headers=vault.user.headers)
    missing = await client.get(f"{API}/journals/{uuid.uuid4()}", headers=vault.user.headers)
    assert locked.status_code == missing.status_code == 404
    assert locked.json() == missing.json()

    listed = await client.get(f"{API}/journals", headers=vault.headers)
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert listed.json()["items"][0]["title"] == "Session 4"
    assert (await client.get(f"{API}/journals", headers=vault.user.headers)).json()["items"] == []


async def test_writing_into_a_locked_secret_tag_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    response = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "secret_tag_id": vault.tag_id},
        headers=vault.user.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "secret_tag_id"]


async def test_canaries_of_a_secret_entry_appear_nowhere_in_the_database(
    client: httpx.AsyncClient, app: FastAPI, backend: Backend, settings: Settings
) -> None:
    vault = await make_vault(client, app, name="CANARY-tagname-a1b2")
    entry = await secret_entry(
        client,
        vault,
        title="CANARY-title-c3d4",
        content="Body with CANARY-content-e5f6 inside.",
        tags=["CANARY-link-0a9b"],
    )
    await client.patch(
        f"{API}/journals/{entry['id']}",
        json={"title": "CANARY-edited-77aa", "mood_rating": 6},
        headers=vault.headers,
    )
    public = await post_entry(client, vault.user.headers, title="plain-public-title")
    dump = await dump_database(backend, settings)
    assert b"plain-public-title" in dump, "the dump must hold the public entry"
    for canary in (
        "CANARY-tagname-a1b2",
        "CANARY-title-c3d4",
        "CANARY-content-e5f6",
        "CANARY-link-0a9b",
        "CANARY-edited-77aa",
    ):
        assert canary.encode() not in dump, canary
        assert canary.lower().encode() not in dump, canary
        assert canary.encode("utf-16-le") not in dump, canary
    assert public["id"]


async def test_a_public_entry_moved_into_the_vault_leaves_no_plaintext(
    client: httpx.AsyncClient, app: FastAPI, backend: Backend, settings: Settings
) -> None:
    """Its old row versions, full-text tokens (FTS5 keeps deleted ones in its segments until
    a merge) and write-ahead-log frames are all gone once the move is answered."""
    vault = await make_vault(client, app)
    canary = "zqxcanary4711"
    public = await post_entry(
        client, vault.user.headers, title=f"moved {canary}", content=f"body {canary} here"
    )
    moved = await client.patch(
        f"{API}/journals/{public['id']}",
        json={"secret_tag_id": vault.tag_id},
        headers=vault.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["secret_tag"]["id"] == vault.tag_id
    dump = await dump_database(backend, settings)
    assert canary.encode() not in dump
    assert canary.encode("utf-16-le") not in dump
    read = await client.get(f"{API}/journals/{public['id']}", headers=vault.headers)
    assert read.json()["content"] == f"body {canary} here"


async def test_swapped_ciphertexts_fail_loudly(client: httpx.AsyncClient, app: FastAPI) -> None:
    vault = await make_vault(client, app)
    first = await secret_entry(client, vault, title="first")
    second = await secret_entry(client, vault, title="second")
    ids = [uuid.UUID(first["id"]), uuid.UUID(second["id"])]
    async with app_runtime(app).database.session_scope() as session:
        rows = {
            row.id: (row.ciphertext, row.nonce)
            for row in (
                await session.execute(
                    select(Journal.id, Journal.ciphertext, Journal.nonce).where(Journal.id.in_(ids))
                )
            )
        }
        for this, other in (ids, ids[::-1]):
            await session.execute(
                update(Journal)
                .where(Journal.id == this)
                .values(ciphertext=rows[other][0], nonce=rows[other][1])
                .execution_options(synchronize_session=False)
            )
    for journal_id in ids:
        response = await client.get(f"{API}/journals/{journal_id}", headers=vault.headers)
        assert response.status_code == 500
        body = response.json()
        assert body["type"].endswith("/vault-integrity")
        assert "first" not in response.text
        assert "second" not in response.text


async def test_another_user_with_their_own_token_sees_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice = await make_vault(client, app, phrase="alice phrase here")
    entry = await secret_entry(client, alice, title="alice secret", content="calm words")
    bob = await make_vault(client, app, phrase="bob phrase here")
    await secret_entry(client, bob, title="bob secret", content="other words")

    listed = await client.get(f"{API}/journals", headers=bob.headers)
    assert [item["title"] for item in listed.json()["items"]] == ["bob secret"]
    got = await client.get(f"{API}/journals/{entry['id']}", headers=bob.headers)
    assert got.status_code == 404
    mixed = {**bob.headers, "X-Vibes-Unlock": f"{bob.token}, {alice.token}"}
    searched = await client.get(f"{API}/journals", params={"q": "calm"}, headers=mixed)
    assert searched.json()["items"] == []
    assert (await client.get(f"{API}/search", params={"q": "calm"}, headers=mixed)).json()[
        "items"
    ] == []


async def test_unlocked_full_text_and_tag_filters_find_secret_entries(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    hidden = await secret_entry(
        client, vault, title="Lake", content="the water was calm today", tags=["Nature"]
    )
    shown = await post_entry(
        client, vault.user.headers, title="Calm morning", content="coffee", tags=["nature"]
    )
    await post_entry(client, vault.user.headers, title="Other", content="nothing here")

    def ids(response: httpx.Response) -> set[str]:
        return {item["id"] for item in response.json()["items"]}

    for params in ({"q": "calm"}, {"tag": "nature"}, {"q": "calm", "tag": "NATURE"}):
        unlocked = await client.get(f"{API}/journals", params=params, headers=vault.headers)
        assert ids(unlocked) == {hidden["id"], shown["id"]}, params
        locked = await client.get(f"{API}/journals", params=params, headers=vault.user.headers)
        assert ids(locked) == {shown["id"]}, params

    found = await client.get(f"{API}/search", params={"q": "calm"}, headers=vault.headers)
    hits = {item["id"]: item for item in found.json()["items"]}
    assert set(hits) >= {hidden["id"], shown["id"]}
    assert hits[hidden["id"]]["title"] == "Lake"
    assert "calm" in hits[hidden["id"]]["snippet"]
    locked_search = await client.get(
        f"{API}/search", params={"q": "calm"}, headers=vault.user.headers
    )
    assert hidden["id"] not in {item["id"] for item in locked_search.json()["items"]}


async def test_locked_answers_are_those_of_an_account_without_a_vault(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app)
    await post_entry(client, user.headers, title="Calm day", content="walk", tags=["walks"])
    await post_entry(client, user.headers, title="Busy", content="calm later", mood_rating=4)
    paths = [
        ("/journals", {}),
        ("/journals", {"q": "calm"}),
        ("/journals", {"tag": "walks"}),
        ("/journals", {"mood_min": 1}),
        ("/tags", {}),
        ("/search", {"q": "calm"}),
        ("/search", {"q": "walks", "type": "tags"}),
        ("/secret-tags", {}),
    ]

    async def snapshot() -> list[Any]:
        answers = []
        for path, params in paths:
            response = await client.get(f"{API}{path}", params=params, headers=user.headers)
            answers.append((response.status_code, response.json()))
        return answers

    before = await snapshot()
    vault = await make_vault(client, app, user=user)
    secret = await secret_entry(
        client, vault, title="Calm secret", content="calm walks", tags=["walks", "hidden tag"]
    )
    await secret_entry(client, vault, title="another", content="x", mood_rating=9)
    assert await snapshot() == before
    locked = await client.get(f"{API}/journals/{secret['id']}", headers=user.headers)
    missing = await client.get(f"{API}/journals/{uuid.uuid4()}", headers=user.headers)
    assert (locked.status_code, locked.json()) == (missing.status_code, missing.json())
    for method in ("PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"title": "x"}} if method == "PATCH" else {}
        a = await client.request(
            method, f"{API}/journals/{secret['id']}", headers=user.headers, **kwargs
        )
        b = await client.request(
            method, f"{API}/journals/{uuid.uuid4()}", headers=user.headers, **kwargs
        )
        assert (a.status_code, a.json()) == (b.status_code, b.json())


async def test_edit_and_move_between_secret_tags_and_out(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = await make_vault(client, app, name="one", phrase="first phrase here")
    second = await make_vault(client, app, user=first.user, name="two", phrase="second phrase here")
    both = {**first.user.headers, "X-Vibes-Unlock": f"{first.token},{second.token}"}
    entry = await secret_entry(client, first, title="moving", content="calm", tags=["t1"])
    url = f"{API}/journals/{entry['id']}"

    mood = await client.patch(url, json={"mood_rating": 7}, headers=first.headers)
    assert mood.status_code == 200
    assert (mood.json()["title"], mood.json()["mood_rating"]) == ("moving", 7)
    assert (await client.get(url, headers=first.headers)).json()["version"] == 2

    # Moving needs both tags unlocked.
    refused = await client.patch(url, json={"secret_tag_id": second.tag_id}, headers=first.headers)
    assert refused.status_code == 422
    moved = await client.patch(url, json={"secret_tag_id": second.tag_id}, headers=both)
    assert moved.status_code == 200
    assert moved.json()["secret_tag"] == {"id": second.tag_id, "name": "two"}
    assert (await client.get(url, headers=first.headers)).status_code == 404
    assert (await client.get(url, headers=second.headers)).json()["title"] == "moving"

    out = await client.patch(url, json={"secret_tag_id": None}, headers=second.headers)
    assert out.status_code == 200
    assert out.json()["secret_tag"] is None
    public = await client.get(url, headers=first.user.headers)
    assert public.status_code == 200
    assert (public.json()["title"], public.json()["tags"]) == ("moving", ["t1"])
    tags = await client.get(f"{API}/tags", headers=first.user.headers)
    assert [(t["name"], t["journal_count"]) for t in tags.json()] == [("t1", 1)]
    found = await client.get(f"{API}/journals", params={"q": "moving"}, headers=first.user.headers)
    assert [item["id"] for item in found.json()["items"]] == [entry["id"]]

    back = await client.patch(
        url, json={"secret_tag_id": first.tag_id, "title": "hidden again"}, headers=first.headers
    )
    assert back.status_code == 200
    assert back.json()["tags"] == ["t1"]
    assert (await client.get(url, headers=first.user.headers)).status_code == 404
    tags = await client.get(f"{API}/tags", headers=first.user.headers)
    assert [(t["name"], t["journal_count"]) for t in tags.json()] == [("t1", 0)]
    for q in ("moving", "hidden"):
        found = await client.get(f"{API}/journals", params={"q": q}, headers=first.user.headers)
        assert found.json()["items"] == []
    found = await client.get(f"{API}/journals", params={"q": "hidden"}, headers=first.headers)
    assert [item["id"] for item in found.json()["items"]] == [entry["id"]]


async def test_phrase_change_keeps_every_entry_readable(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entries = [await secret_entry(client, vault, title=f"entry {n}") for n in range(3)]
    response = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": "the new phrase"},
        headers=vault.headers,
    )
    assert response.status_code == 204
    await client.post(f"{API}/secret-tags/lock", headers=vault.headers)
    assert (await unlock(client, vault.user, vault.phrase)).status_code == 401
    token = (await unlock(client, vault.user, "the new phrase")).json()["unlock_token"]
    headers = {**vault.user.headers, "X-Vibes-Unlock": token}
    for entry in entries:
        got = await client.get(f"{API}/journals/{entry['id']}", headers=headers)
        assert got.json()["title"] == entry["title"]


async def test_secret_entries_emit_no_event_and_log_their_tag(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entry = await secret_entry(client, vault, title="quiet")
    url = f"{API}/journals/{entry['id']}"
    await client.patch(url, json={"content": "still quiet"}, headers=vault.headers)
    assert (await client.delete(url, headers=vault.headers)).status_code == 204
    async with app_runtime(app).database.session_scope() as session:
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.user_id == vault.user.id))
        ).all()
        changes = (
            await session.scalars(select(Change).where(Change.entity_id == uuid.UUID(entry["id"])))
        ).all()
    assert [e for e in events if e.type.startswith("journal.")] == []
    assert [(c.op, str(c.secret_tag_id)) for c in changes] == [
        ("upsert", vault.tag_id),
        ("upsert", vault.tag_id),
        ("delete", vault.tag_id),
    ]


async def test_destroying_the_tag_erases_its_entries(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entry = await secret_entry(client, vault, title="to be erased")
    response = await client.request(
        "DELETE",
        f"{API}/secret-tags/{vault.tag_id}",
        json={"password": vault.user.password},
        headers=vault.user.headers,
    )
    assert response.status_code == 204
    async with app_runtime(app).database.session_scope() as session:
        assert await session.get(Journal, uuid.UUID(entry["id"])) is None


async def test_batch_creates_secret_entries_with_the_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    response = await client.post(
        f"{API}/journals/batch",
        json={
            "items": [
                {"title": "public one", "content": "a"},
                {"title": "secret one", "content": "b", "secret_tag_id": vault.tag_id},
            ]
        },
        headers=vault.headers,
    )
    assert response.status_code == 201, response.text
    public_id, secret_id = response.json()["ids"]
    got = await client.get(f"{API}/journals/{secret_id}", headers=vault.headers)
    assert got.json()["title"] == "secret one"
    assert (
        await client.get(f"{API}/journals/{secret_id}", headers=vault.user.headers)
    ).status_code == 404
    assert (
        await client.get(f"{API}/journals/{public_id}", headers=vault.user.headers)
    ).status_code == 200


async def test_idempotent_secret_create_replays_without_storing_plaintext(
    client: httpx.AsyncClient, app: FastAPI, backend: Backend, settings: Settings
) -> None:
    vault = await make_vault(client, app)
    body = {"title": "CANARY-idem-5e5e", "content": "x", "secret_tag_id": vault.tag_id}
    headers = {**vault.headers, "Idempotency-Key": "key-1"}
    first = await client.post(f"{API}/journals", json=body, headers=headers)
    again = await client.post(f"{API}/journals", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other_body = await client.post(
        f"{API}/journals", json={**body, "title": "changed"}, headers=headers
    )
    assert other_body.status_code == 422
    batch = await client.post(
        f"{API}/journals/batch",
        json={"items": [{**body, "title": "CANARY-batch-6f6f"}]},
        headers={**vault.headers, "Idempotency-Key": "key-2"},
    )
    assert batch.status_code == 201
    dump = await dump_database(backend, settings)
    assert b"CANARY-idem-5e5e" not in dump
    assert b"CANARY-batch-6f6f" not in dump
    listed = await client.get(f"{API}/journals", headers=vault.headers)
    assert len(listed.json()["items"]) == 2


async def test_merged_pages_of_secret_and_public_matches_are_complete(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    expected = set()
    for n in range(3):
        expected.add((await secret_entry(client, vault, title=f"calm secret {n}"))["id"])
        expected.add((await post_entry(client, vault.user.headers, title=f"calm public {n}"))["id"])
    await post_entry(client, vault.user.headers, title="unrelated")

    for path in ("/journals", "/search"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"q": "calm", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(f"{API}{path}", params=params, headers=vault.headers)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(expected), path


async def test_moving_in_and_out_of_the_vault_looks_like_delete_and_create(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entry = await post_entry(client, vault.user.headers, title="travelling")
    url = f"{API}/journals/{entry['id']}"
    await client.patch(url, json={"secret_tag_id": vault.tag_id}, headers=vault.headers)
    await client.patch(url, json={"title": "inside"}, headers=vault.headers)
    await client.patch(url, json={"secret_tag_id": None}, headers=vault.headers)
    async with app_runtime(app).database.session_scope() as session:
        events = (
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.user_id == vault.user.id)
                .order_by(OutboxEvent.id)
            )
        ).all()
    journal_events = [(e.type, e.data) for e in events if e.type.startswith("journal.")]
    assert [t for t, _ in journal_events] == [
        "journal.created",
        "journal.deleted",
        "journal.created",
    ]
    assert all(set(data) == {"id", "version"} for _, data in journal_events)


async def test_reminders_cannot_link_or_reveal_a_locked_secret_entry(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entry = await secret_entry(client, vault, title="linked")
    body = {"title": "call", "remind_at": "2030-01-01T09:00:00Z", "journal_id": entry["id"]}

    locked = await client.post(f"{API}/reminders", json=body, headers=vault.user.headers)
    random_id = await client.post(
        f"{API}/reminders",
        json={**body, "journal_id": str(uuid.uuid4())},
        headers=vault.user.headers,
    )
    assert locked.status_code == random_id.status_code == 422
    assert locked.json() == random_id.json()

    linked = await client.post(f"{API}/reminders", json=body, headers=vault.headers)
    assert linked.status_code == 201, linked.text
    assert linked.json()["journal_id"] == entry["id"]
    url = f"{API}/reminders/{linked.json()['id']}"
    assert (await client.get(url, headers=vault.headers)).json()["journal_id"] == entry["id"]
    assert (await client.get(url, headers=vault.user.headers)).json()["journal_id"] is None
    listed = await client.get(f"{API}/reminders", headers=vault.user.headers)
    assert [item["journal_id"] for item in listed.json()["items"]] == [None]
    patched = await client.patch(url, json={"title": "call back"}, headers=vault.user.headers)
    assert patched.json()["journal_id"] is None
    unlocked = await client.get(url, headers=vault.headers)
    assert unlocked.json()["journal_id"] == entry["id"]  # a locked edit kept the link


async def test_each_move_into_or_out_of_the_vault_is_one_version(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entry = await post_entry(client, vault.user.headers, title="travelling", tags=["road"])
    url = f"{API}/journals/{entry['id']}"
    moved_in = await client.patch(url, json={"secret_tag_id": vault.tag_id}, headers=vault.headers)
    assert moved_in.status_code == 200
    assert moved_in.json()["version"] == 2
    assert moved_in.headers["etag"] == '"2"'
    assert (await client.get(url, headers=vault.headers)).json()["version"] == 2
    moved_out = await client.patch(url, json={"secret_tag_id": None}, headers=vault.headers)
    assert moved_out.json()["version"] == 3
    async with app_runtime(app).database.session_scope() as session:
        versions = list(
            await session.scalars(
                select(Change.version).where(Change.entity_id == uuid.UUID(entry["id"]))
            )
        )
    assert sorted(versions) == [1, 2, 3]


async def test_an_idempotent_replay_without_the_unlock_hides_the_secret_link(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    entry = await secret_entry(client, vault, title="linked")
    body = {"title": "call", "remind_at": "2030-01-01T09:00:00Z", "journal_id": entry["id"]}
    key = {"Idempotency-Key": "reminder-with-secret-link"}
    first = await client.post(f"{API}/reminders", json=body, headers={**vault.headers, **key})
    assert first.status_code == 201
    assert first.json()["journal_id"] == entry["id"]
    replay = await client.post(f"{API}/reminders", json=body, headers={**vault.user.headers, **key})
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["journal_id"] is None
    assert replay.json()["id"] == first.json()["id"]
    unlocked = await client.post(f"{API}/reminders", json=body, headers={**vault.headers, **key})
    assert unlocked.json()["journal_id"] == entry["id"]
    url = f"{API}/reminders/{first.json()['id']}/complete"
    done_key = {"Idempotency-Key": "complete-with-secret-link"}
    await client.post(url, headers={**vault.headers, **done_key})
    again = await client.post(url, headers={**vault.user.headers, **done_key})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["journal_id"] is None


async def test_tag_counts_include_unlocked_secret_entries_as_the_tag_filter_does(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    await secret_entry(client, vault, title="Lake", tags=["Nature", "calm"])
    await post_entry(client, vault.user.headers, title="Walk", tags=["nature"])

    def counts(response: httpx.Response) -> dict[str, int]:
        return {t["name"]: t["journal_count"] for t in response.json()}

    unlocked = await client.get(f"{API}/tags", headers=vault.headers)
    locked = await client.get(f"{API}/tags", headers=vault.user.headers)
    assert counts(unlocked) == {"nature": 2}
    assert counts(locked) == {"nature": 1}
    listed = await client.get(f"{API}/journals", params={"tag": "nature"}, headers=vault.headers)
    assert len(listed.json()["items"]) == counts(unlocked)["nature"]
    [tag] = unlocked.json()
    one = await client.get(f"{API}/tags/{tag['id']}", headers=vault.headers)
    assert one.json()["journal_count"] == 2
    assert (await client.get(f"{API}/tags/{tag['id']}", headers=vault.user.headers)).json()[
        "journal_count"
    ] == 1
