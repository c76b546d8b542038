"""GET /sync: one focused test per rule (commit order, pages, folding, rendering,
tombstones, the vault rule, retention, isolation) and the periodic job claims."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.conftest import Backend
from tests.factories import AuthedUser
from tests.sync.conftest import API, Device, make_vault, pull, server_state
from vibes.db import Database, utcnow
from vibes.events.housekeeping import run_purges
from vibes.journals.models import Journal
from vibes.platform.jobs import claim_round
from vibes.platform.runtime import app_runtime
from vibes.recording.models import Change, SyncCounter
from vibes.recording.record import record_change
from vibes.sync import service


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> Any:
    body: dict[str, Any] = {"title": "An entry", "content": "Some words."}
    body.update(fields)
    response = await client.post(f"{API}/journals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _patch(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **fields: Any
) -> Any:
    response = await client.patch(f"{API}/{path}", json=fields, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _changes(body: dict[str, Any], kind: str | None = None) -> list[tuple[str, str, str]]:
    return [
        (c["kind"], c["id"], c["op"]) for c in body["changes"] if kind is None or c["kind"] == kind
    ]


async def _converged(device: Device, headers: dict[str, str] | None = None) -> None:
    await device.sync(limit=3)
    assert device.replica == await server_state(device.client, headers or device.headers)


def _database(app: FastAPI) -> Database:
    return app_runtime(app).database


async def test_a_change_committed_after_a_later_one_is_not_skipped(
    app: FastAPI, client: httpx.AsyncClient, alice: AuthedUser, backend: Backend
) -> None:
    """The first transaction starts (and on PostgreSQL writes its row) before the second,
    but commits after it: its change still comes on the next pull. On SQLite a writer
    holds the database's one write lock, so the first one only records before the second
    commits; the order of commits is what numbers changes on both."""
    first = await _create(client, alice.headers, title="first")
    second = await _create(client, alice.headers, title="second")
    device = Device(client, alice.headers)
    await device.sync()
    database = _database(app)

    held = database.sessionmaker()
    try:
        if backend.is_postgres:
            await held.execute(
                update(Journal)
                .where(Journal.id == uuid.UUID(first["id"]))
                .values(title="first, late", version=Journal.version + 1)
                .execution_options(synchronize_session=False)
            )
        record_change(
            held,
            user_id=alice.id,
            kind="journal",
            entity_id=uuid.UUID(first["id"]),
            op="upsert",
            version=2,
        )
        await _patch(client, alice.headers, f"journals/{second['id']}", title="second, early")
        body = await device.pull_page()
        assert _changes(body) == [("journal", second["id"], "upsert")]
        await held.commit()
    finally:
        await held.close()
    body = await device.pull_page()
    assert ("journal", first["id"], "upsert") in _changes(body)
    if backend.is_postgres:
        assert device.replica[("journal", first["id"])]["title"] == "first, late"


async def test_concurrent_writers_get_distinct_positions_in_commit_order(
    app: FastAPI, client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await asyncio.gather(*(_create(client, alice.headers, title=f"e{i}") for i in range(8)))
    async with _database(app).read_sessionmaker() as session:
        positions = list(
            await session.scalars(
                select(Change.position).where(Change.user_id == alice.id).order_by(Change.position)
            )
        )
        counter = await session.scalar(
            select(SyncCounter.position).where(SyncCounter.user_id == alice.id)
        )
    assert positions == list(range(1, len(positions) + 1))
    assert counter == positions[-1]


async def test_pages_of_limit_changes_until_has_more_is_false(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    for i in range(5):
        await _create(client, alice.headers, title=f"entry {i}")
    device = Device(client, alice.headers)
    first = await device.pull_page(limit=2)
    assert len(first["changes"]) == 2
    assert first["has_more"] is True
    await device.sync(limit=2)
    assert device.pages == 3
    assert device.replica == await server_state(client, alice.headers)
    last = await device.pull_page(limit=2)
    assert last == {"changes": [], "cursor": last["cursor"], "has_more": False}


async def test_several_changes_to_one_object_fold_into_its_latest_state(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    device = Device(client, alice.headers)
    await device.sync()
    entry = await _create(client, alice.headers, title="v1")
    for n in (2, 3, 4):
        await _patch(client, alice.headers, f"journals/{entry['id']}", title=f"v{n}")
    body = await device.pull_page()
    assert _changes(body, "journal") == [("journal", entry["id"], "upsert")]
    [change] = [c for c in body["changes"] if c["kind"] == "journal"]
    assert change["version"] == 4
    assert change["data"]["title"] == "v4"


async def test_data_is_what_each_objects_own_get_answers(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await _create(client, alice.headers, tags=["Work", "home"], mood_rating=7)
    response = await client.post(
        f"{API}/reminders",
        json={"title": "Call", "remind_at": "2030-01-01T09:00:00Z", "journal_id": entry["id"]},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    reminder = response.json()
    device = Device(client, alice.headers)
    body = await device.pull_page()
    by_key = {(c["kind"], c["id"]): c["data"] for c in body["changes"]}
    journal_get = await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)
    # The entry is rendered by the same function and serializer as its GET: same bytes.
    sync_bytes = await pull(client, alice.headers)
    assert journal_get.content in sync_bytes.content
    assert by_key[("journal", entry["id"])] == journal_get.json()
    reminder_get = await client.get(f"{API}/reminders/{reminder['id']}", headers=alice.headers)
    assert by_key[("reminder", reminder["id"])] == reminder_get.json()
    tags = (await client.get(f"{API}/tags", headers=alice.headers)).json()
    assert len(tags) == 2
    for tag in tags:
        tag_get = await client.get(f"{API}/tags/{tag['id']}", headers=alice.headers)
        assert by_key[("tag", tag["id"])] == tag_get.json() == tag


async def test_deleting_an_entry_leaves_a_tombstone_and_updates_its_tags_and_reminders(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await _create(client, alice.headers, tags=["work"])
    response = await client.post(
        f"{API}/reminders",
        json={"title": "r", "remind_at": "2030-01-01T09:00:00Z", "journal_id": entry["id"]},
        headers=alice.headers,
    )
    reminder = response.json()
    device = Device(client, alice.headers)
    await device.sync()
    response = await client.delete(f"{API}/journals/{entry['id']}", headers=alice.headers)
    assert response.status_code == 204
    body = await device.pull_page()
    tombstone = next(c for c in body["changes"] if c["id"] == entry["id"])
    assert tombstone == {
        "kind": "journal",
        "id": entry["id"],
        "op": "delete",
        "version": entry["version"] + 1,
        "data": None,
    }
    assert device.replica[("reminder", reminder["id"])]["journal_id"] is None
    assert device.replica[("reminder", reminder["id"])]["version"] == reminder["version"] + 1
    [tag] = [v for (kind, _), v in device.replica.items() if kind == "tag"]
    assert tag["journal_count"] == 0
    assert device.replica == await server_state(client, alice.headers)


async def test_deleting_and_merging_tags_leave_tombstones_and_retag_entries(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    one = await _create(client, alice.headers, tags=["a"])
    two = await _create(client, alice.headers, tags=["b"])
    three = await _create(client, alice.headers, tags=["c"])
    device = Device(client, alice.headers)
    await device.sync()
    tags = {t["name"]: t for t in (await client.get(f"{API}/tags", headers=alice.headers)).json()}
    # Renaming "b" onto "a" merges "a" into "b"; "c" is deleted.
    await _patch(client, alice.headers, f"tags/{tags['b']['id']}", name="a")
    response = await client.delete(f"{API}/tags/{tags['c']['id']}", headers=alice.headers)
    assert response.status_code == 204
    body = await device.pull_page()
    ops = {(kind, ident): op for kind, ident, op in _changes(body)}
    assert ops[("tag", tags["a"]["id"])] == "delete"
    assert ops[("tag", tags["c"]["id"])] == "delete"
    assert ops[("tag", tags["b"]["id"])] == "upsert"
    for entry in (one, two, three):
        assert ops[("journal", entry["id"])] == "upsert"
    assert device.replica[("journal", three["id"])]["tags"] == []
    assert device.replica[("journal", one["id"])]["tags"] == ["a"]
    assert device.replica == await server_state(client, alice.headers)


async def test_a_locked_device_sees_an_entry_moved_into_the_vault_deleted_and_back_created(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser
) -> None:
    vault = await make_vault(client, app, user=alice)
    entry = await _create(client, alice.headers, title="private soon", tags=["t"])
    locked = Device(client, alice.headers)
    unlocked = Device(client, vault.headers)
    await locked.sync()
    await unlocked.sync()

    await _patch(client, vault.headers, f"journals/{entry['id']}", secret_tag_id=vault.tag_id)
    body = await locked.pull_page()
    assert ("journal", entry["id"], "delete") in _changes(body)
    assert "private soon" not in json.dumps(body)
    body = await unlocked.pull_page()
    [change] = [c for c in body["changes"] if c["kind"] == "journal"]
    assert change["op"] == "upsert"
    assert change["data"]["title"] == "private soon"
    assert change["data"]["secret_tag"]["id"] == vault.tag_id
    await _converged(locked)
    await _converged(unlocked)

    # An edit inside the vault is none of the locked device's business.
    await _patch(client, vault.headers, f"journals/{entry['id']}", title="still private")
    assert _changes(await locked.pull_page(), "journal") == []
    await _patch(client, vault.headers, f"journals/{entry['id']}", secret_tag_id=None)
    body = await locked.pull_page()
    assert ("journal", entry["id"], "upsert") in _changes(body)
    assert locked.replica[("journal", entry["id"])]["title"] == "still private"
    await _converged(locked)
    await _converged(unlocked)


async def test_a_locked_device_never_learns_a_secret_entry_exists(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser
) -> None:
    await _create(client, alice.headers, tags=["shared"])
    vault = await make_vault(client, app, user=alice)
    secret = await _create(
        client, vault.headers, title="hidden", tags=["shared"], secret_tag_id=vault.tag_id
    )
    locked = Device(client, alice.headers)
    await locked.sync()
    await _patch(client, vault.headers, f"journals/{secret['id']}", content="more")
    response = await client.delete(f"{API}/journals/{secret['id']}", headers=vault.headers)
    assert response.status_code == 204
    body = await locked.pull_page()
    everything = json.dumps(body) + json.dumps(list(locked.replica.values()))
    assert secret["id"] not in everything
    assert body["changes"] == []
    await _converged(locked)
    # With the vault unlocked, the shared tag counted the secret entry while it lived.
    fresh = Device(client, vault.headers)
    await _converged(fresh)


async def test_destroying_a_vault_leaves_tombstones_for_its_entries(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser
) -> None:
    vault = await make_vault(client, app, user=alice)
    secrets = [
        await _create(client, vault.headers, title=f"s{i}", secret_tag_id=vault.tag_id)
        for i in range(3)
    ]
    response = await client.post(
        f"{API}/reminders",
        json={"title": "r", "remind_at": "2030-01-01T09:00:00Z", "journal_id": secrets[0]["id"]},
        headers=vault.headers,
    )
    assert response.status_code == 201, response.text
    unlocked = Device(client, vault.headers)
    await unlocked.sync()
    assert sum(kind == "journal" for kind, _ in unlocked.replica) == 3
    response = await client.request(
        "DELETE",
        f"{API}/secret-tags/{vault.tag_id}",
        json={"password": alice.password},
        headers=alice.headers,
    )
    assert response.status_code == 204, response.text
    body = await unlocked.pull_page()
    deleted = {ident for kind, ident, op in _changes(body, "journal") if op == "delete"}
    assert deleted == {s["id"] for s in secrets}
    assert [r["journal_id"] for (k, _), r in unlocked.replica.items() if k == "reminder"] == [None]
    await _converged(unlocked, alice.headers)


async def test_without_a_cursor_the_feed_is_the_current_state_without_tombstones(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    kept = await _create(client, alice.headers, title="kept")
    for i in range(3):
        gone = await _create(client, alice.headers, title=f"gone {i}")
        assert (
            await client.delete(f"{API}/journals/{gone['id']}", headers=alice.headers)
        ).status_code == 204
    device = Device(client, alice.headers)
    body = await device.pull_page()
    assert all(c["op"] == "upsert" for c in body["changes"])
    assert ("journal", kept["id"], "upsert") in _changes(body)
    assert device.replica == await server_state(client, alice.headers)


async def test_a_cursor_from_before_the_compaction_horizon_answers_410(
    app: FastAPI, client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await _create(client, alice.headers, title="old")
    stale = Device(client, alice.headers)
    await stale.sync()
    await _patch(client, alice.headers, f"journals/{entry['id']}", title="newer")
    gone = await _create(client, alice.headers, title="short-lived")
    await client.delete(f"{API}/journals/{gone['id']}", headers=alice.headers)
    current = Device(client, alice.headers)
    await current.sync()
    database = _database(app)
    async with database.read_sessionmaker() as session:
        before = await session.scalar(select(func.count()).select_from(Change))
    # Within the retention nothing is compacted.
    async with database.session_scope() as session:
        assert await service.compact(session, utcnow(), 180) == 0
    later = utcnow() + dt.timedelta(days=181)
    async with database.session_scope() as session:
        removed = await service.compact(session, later, 180)
    async with database.read_sessionmaker() as session:
        after = await session.scalar(select(func.count()).select_from(Change))
    assert removed > 0
    assert after == (before or 0) - removed

    response = await pull(client, alice.headers, stale.cursor)
    assert response.status_code == 410
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("resync-required")
    # A device that was up to date keeps going; a new one starts from the current state.
    await _converged(current)
    fresh = Device(client, alice.headers)
    await _converged(fresh)
    assert gone["id"] not in json.dumps(list(fresh.replica))


async def test_another_users_changes_and_cursors_never_cross(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _create(client, alice.headers, title="alice's", tags=["mine"])
    bob_device = Device(client, bob.headers)
    await bob_device.sync()
    assert bob_device.replica == {}
    alice_device = Device(client, alice.headers)
    await alice_device.sync()
    response = await pull(client, bob.headers, alice_device.cursor)
    assert response.status_code == 422
    assert "alice" not in response.text


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"cursor": "nonsense"}, {"cursor": "v1." + "A" * 40}],
)
async def test_bad_parameters_are_422_problems(
    client: httpx.AsyncClient, alice: AuthedUser, params: dict[str, Any]
) -> None:
    response = await client.get(f"{API}/sync", params=params, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_sync_needs_a_bearer_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/sync")).status_code == 401


async def test_one_worker_claims_each_round_of_a_periodic_job(app: FastAPI) -> None:
    database = _database(app)
    now = utcnow()
    every = dt.timedelta(minutes=10)
    claims = await asyncio.gather(
        *(claim_round(database, "test.job", every, now) for _ in range(4))
    )
    assert sorted(claims) == [False, False, False, True]
    assert not await claim_round(database, "test.job", every, now + dt.timedelta(minutes=5))
    assert await claim_round(database, "test.job", every, now + every)


async def test_the_purges_run_once_per_round(
    app: FastAPI, client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await _create(client, alice.headers)
    await client.delete(f"{API}/journals/{entry['id']}", headers=alice.headers)
    runtime = app_runtime(app)
    later = utcnow() + dt.timedelta(days=400)
    done = await run_purges(runtime.database, runtime.settings, later)
    assert set(done) == {"events", "sync", "sessions", "idempotency"}
    assert done["sync"] >= 2
    assert await run_purges(runtime.database, runtime.settings, later) == {}


async def test_a_device_that_locks_or_unlocks_its_vault_is_sent_the_difference(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser
) -> None:
    """The cursor remembers the vaults it was read with: pulled locked after unlocked,
    the vault's entries come as deletions; unlocked again, as they are."""
    vault = await make_vault(client, app, user=alice)
    secret = await _create(
        client, vault.headers, title="mine", tags=["x"], secret_tag_id=vault.tag_id
    )
    await _patch(client, vault.headers, f"journals/{secret['id']}", title="mine, v2")
    device = Device(client, vault.headers)
    await _converged(device)
    assert device.replica[("journal", secret["id"])]["title"] == "mine, v2"

    device.headers = alice.headers  # the unlock is over
    body = await device.pull_page()
    [tombstone] = [c for c in body["changes"] if c["id"] == secret["id"]]
    assert tombstone == {
        "kind": "journal",
        "id": secret["id"],
        "op": "delete",
        "version": 2,
        "data": None,
    }
    await _converged(device)

    device.headers = vault.headers
    body = await device.pull_page()
    assert ("journal", secret["id"], "upsert") in _changes(body)
    await _converged(device)
