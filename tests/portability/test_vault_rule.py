"""The vault rule in exports: secret entries only while unlocked, marked with their
secret tag's name; locked, the export is byte for byte the one from before the vault."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

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
