"""Secret tags over HTTP, on every backend: create, unlock, lock, rename, re-phrase, destroy."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import update

from tests.conftest import Backend, MakeApp, MakeClient
from tests.factories import make_authed_user, make_session
from tests.vault.conftest import (
    API,
    FAST_KDF,
    create_secret_tag,
    dump_database,
    make_vault,
    runtime,
    unlock,
)
from vibes.accounts.tokens import issue_access_token
from vibes.config import Settings
from vibes.platform.runtime import app_runtime
from vibes.vault import crypto
from vibes.vault.crypto import DEFAULT_KDF, KdfParams
from vibes.vault.models import SecretTag


async def test_create_then_unlock_lists_the_tag(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app)
    created = await create_secret_tag(client, user, name="health", color="#aa0011")
    assert set(created) >= {"id", "name", "color"}
    assert (created["name"], created["color"]) == ("health", "#aa0011")

    response = await unlock(client, user, "blue whales sing at dawn")
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 15 * 60
    assert body["tags"] == [{"id": created["id"], "name": "health", "color": "#aa0011"}]

    headers = {**user.headers, "X-Vibes-Unlock": body["unlock_token"]}
    listed = await client.get(f"{API}/secret-tags", headers=headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert listed.json()["items"][0]["name"] == "health"


async def test_without_a_token_no_secret_tag_is_listed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    listed = await client.get(f"{API}/secret-tags", headers=vault.user.headers)
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_wrong_phrase_is_401_and_the_same_with_or_without_tags(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    with_tags = await make_vault(client, app)
    without_tags = await make_authed_user(app)
    first = await unlock(client, with_tags.user, "not the phrase at all")
    second = await unlock(client, without_tags, "not the phrase at all")
    assert first.status_code == second.status_code == 401
    assert first.json() == second.json()
    assert first.json()["type"].endswith("/wrong-phrase")
    assert "unlock_token" not in first.text


async def test_phrase_already_used_by_another_tag_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    response = await client.post(
        f"{API}/secret-tags",
        json={"name": "second", "phrase": vault.phrase},
        headers=vault.user.headers,
    )
    assert response.status_code == 409
    assert vault.phrase not in response.text
    # Another user may pick the same phrase: lookup hashes are per user.
    other = await make_authed_user(app)
    await create_secret_tag(client, other, phrase=vault.phrase)


async def test_short_phrase_and_bad_input_are_422(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await make_authed_user(app)
    for body in (
        {"name": "x", "phrase": "short"},
        {"name": "", "phrase": "long enough phrase"},
        {"name": "x", "phrase": "long enough phrase", "color": "red"},
        {"name": "x", "phrase": "long enough phrase", "extra": 1},
    ):
        response = await client.post(f"{API}/secret-tags", json=body, headers=user.headers)
        assert response.status_code == 422, body
        assert "long enough phrase" not in response.text


async def test_tokens_combine_in_one_header(client: httpx.AsyncClient, app: FastAPI) -> None:
    first = await make_vault(client, app, name="one", phrase="first phrase here")
    second = await make_vault(client, app, user=first.user, name="two", phrase="second phrase here")
    headers = {**first.user.headers, "X-Vibes-Unlock": f"{first.token}, {second.token}"}
    listed = await client.get(f"{API}/secret-tags", headers=headers)
    assert {item["name"] for item in listed.json()["items"]} == {"one", "two"}


async def test_token_is_useless_to_another_user(client: httpx.AsyncClient, app: FastAPI) -> None:
    alice = await make_vault(client, app)
    bob = await make_authed_user(app)
    headers = {**bob.headers, "X-Vibes-Unlock": alice.token}
    assert (await client.get(f"{API}/secret-tags", headers=headers)).json()["items"] == []
    patched = await client.patch(
        f"{API}/secret-tags/{alice.tag_id}", json={"name": "mine"}, headers=headers
    )
    random_id = await client.patch(
        f"{API}/secret-tags/{uuid.uuid4()}", json={"name": "mine"}, headers=headers
    )
    assert patched.status_code == random_id.status_code == 404
    assert patched.json() == random_id.json()
    # Bob's lock does not end Alice's unlock.
    await client.post(f"{API}/secret-tags/lock", headers=headers)
    listed = await client.get(f"{API}/secret-tags", headers=alice.headers)
    assert len(listed.json()["items"]) == 1


async def test_token_is_bound_to_the_session_that_unlocked(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    other_session = await make_session(app_runtime(app).database, vault.user.id)
    token, _ = issue_access_token(
        app_runtime(app).keyring,
        app_runtime(app).settings,
        user_id=vault.user.id,
        session_id=other_session.id,
    )
    headers = {"Authorization": f"Bearer {token}", "X-Vibes-Unlock": vault.token}
    assert (await client.get(f"{API}/secret-tags", headers=headers)).json()["items"] == []


async def test_token_expires(client: httpx.AsyncClient, app: FastAPI) -> None:
    vault = await make_vault(client, app)
    store = runtime(app).store
    real_clock = store.clock
    store.clock = lambda: real_clock() + 15 * 60 - 5
    assert len((await client.get(f"{API}/secret-tags", headers=vault.headers)).json()["items"]) == 1
    store.clock = lambda: real_clock() + 15 * 60 + 1
    assert (await client.get(f"{API}/secret-tags", headers=vault.headers)).json()["items"] == []


async def test_unlock_lifetime_follows_the_setting(
    make_app: MakeApp, make_client: MakeClient, settings: Settings
) -> None:
    async with (
        make_app(data_dir=settings.data_dir, unlock_token_minutes=2) as application,
        make_client(application) as c,
    ):
        user = await make_authed_user(application)
        await create_secret_tag(c, user)
        response = await unlock(c, user, "blue whales sing at dawn")
    assert response.json()["expires_in"] == 120


async def test_lock_ends_the_unlock(client: httpx.AsyncClient, app: FastAPI) -> None:
    vault = await make_vault(client, app)
    response = await client.post(f"{API}/secret-tags/lock", headers=vault.headers)
    assert response.status_code == 204
    assert (await client.get(f"{API}/secret-tags", headers=vault.headers)).json()["items"] == []


async def test_rename_and_recolor_need_the_tag_unlocked(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    locked = await client.patch(
        f"{API}/secret-tags/{vault.tag_id}", json={"name": "x"}, headers=vault.user.headers
    )
    random_id = await client.patch(
        f"{API}/secret-tags/{uuid.uuid4()}", json={"name": "x"}, headers=vault.user.headers
    )
    assert locked.status_code == random_id.status_code == 404
    assert locked.json() == random_id.json()

    response = await client.patch(
        f"{API}/secret-tags/{vault.tag_id}",
        json={"name": "renamed", "color": "#00ff00"},
        headers={**vault.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["color"]) == ("renamed", "#00ff00")
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'
    stale = await client.patch(
        f"{API}/secret-tags/{vault.tag_id}",
        json={"color": None},
        headers={**vault.headers, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    relocked = await unlock(client, vault.user, vault.phrase)
    assert relocked.json()["tags"][0]["name"] == "renamed"


async def test_phrase_change_old_fails_new_works_key_kept(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app, name="kept name")
    locked = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": "a brand new phrase"},
        headers=vault.user.headers,
    )
    assert locked.status_code == 404
    before = (await runtime(app).store.lookup([vault.token]))[0].data_key

    response = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": "a brand new phrase"},
        headers=vault.headers,
    )
    assert response.status_code == 204
    assert (await unlock(client, vault.user, vault.phrase)).status_code == 401
    fresh = await unlock(client, vault.user, "a brand new phrase")
    assert fresh.status_code == 200
    assert fresh.json()["tags"][0]["name"] == "kept name"
    after = (await runtime(app).store.lookup([fresh.json()["unlock_token"]]))[0].data_key
    assert after == before


async def test_a_phrase_change_ends_every_earlier_unlock(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Unlocks made under the old phrase, by this session or another one, stop working in
    every endpoint (the grant records the tag's phrase generation; checked on each use)."""
    vault = await make_vault(client, app)
    other_session = await make_session(app_runtime(app).database, vault.user.id)
    token, _ = issue_access_token(
        app_runtime(app).keyring,
        app_runtime(app).settings,
        user_id=vault.user.id,
        session_id=other_session.id,
    )
    other_headers = {"Authorization": f"Bearer {token}"}
    other = await client.post(
        f"{API}/secret-tags/unlock", json={"phrase": vault.phrase}, headers=other_headers
    )
    assert other.status_code == 200
    other_headers["X-Vibes-Unlock"] = other.json()["unlock_token"]
    entry = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "secret_tag_id": vault.tag_id},
        headers=vault.headers,
    )
    assert entry.status_code == 201
    changed = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": "a totally new phrase here"},
        headers=vault.headers,
    )
    assert changed.status_code == 204
    for headers in (vault.headers, other_headers):
        listed = await client.get(f"{API}/secret-tags", headers=headers)
        assert listed.json()["items"] == []
        read = await client.get(f"{API}/journals/{entry.json()['id']}", headers=headers)
        assert read.status_code == 404
        again = await client.post(
            f"{API}/secret-tags/{vault.tag_id}/phrase",
            json={"new_phrase": "yet another phrase here"},
            headers=headers,
        )
        assert again.status_code == 404
    fresh = await unlock(client, vault.user, "a totally new phrase here")
    headers = {**vault.user.headers, "X-Vibes-Unlock": fresh.json()["unlock_token"]}
    read = await client.get(f"{API}/journals/{entry.json()['id']}", headers=headers)
    assert read.status_code == 200


async def test_a_tag_name_moved_to_another_tag_or_version_fails_loudly(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The name is bound to user, tag AND version: re-sealed at every update (rename,
    recolor, phrase change), so neither an old version's name nor another tag's opens."""
    vault = await make_vault(client, app, name="first name")
    tag_id = uuid.UUID(vault.tag_id)

    async def stored() -> tuple[bytes, bytes, int]:
        async with app_runtime(app).database.session_scope() as session:
            tag = await session.get(SecretTag, tag_id)
            assert tag is not None
            return tag.name_ciphertext, tag.name_nonce, tag.version

    v1 = await stored()
    for change in ({"name": "second name"}, {"color": "#112233"}):
        response = await client.patch(
            f"{API}/secret-tags/{vault.tag_id}", json=change, headers=vault.headers
        )
        assert response.status_code == 200, response.text
    changed = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": "a totally new phrase here"},
        headers=vault.headers,
    )
    assert changed.status_code == 204
    current = await stored()
    assert current[2] == v1[2] + 3
    assert current[0] != v1[0]
    fresh = await unlock(client, vault.user, "a totally new phrase here")
    headers = {**vault.user.headers, "X-Vibes-Unlock": fresh.json()["unlock_token"]}
    listed = await client.get(f"{API}/secret-tags", headers=headers)
    assert [t["name"] for t in listed.json()["items"]] == ["second name"]

    async def write_name(ciphertext: bytes, nonce: bytes) -> None:
        async with app_runtime(app).database.session_scope() as session:
            await session.execute(
                update(SecretTag)
                .where(SecretTag.id == tag_id)
                .values(name_ciphertext=ciphertext, name_nonce=nonce)
                .execution_options(synchronize_session=False)
            )

    # An older version's name written back (a rollback of the row's name).
    await write_name(v1[0], v1[1])
    response = await client.get(f"{API}/secret-tags", headers=headers)
    assert response.status_code == 500
    assert response.json()["type"].endswith("/vault-integrity")
    assert "first name" not in response.text
    # The same version's ciphertext opens again once restored: nothing else was touched.
    await write_name(current[0], current[1])
    assert (await client.get(f"{API}/secret-tags", headers=headers)).status_code == 200


async def test_phrase_change_onto_another_tags_phrase_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = await make_vault(client, app, phrase="first phrase here")
    await create_secret_tag(client, first.user, name="two", phrase="second phrase here")
    response = await client.post(
        f"{API}/secret-tags/{first.tag_id}/phrase",
        json={"new_phrase": "second phrase here"},
        headers=first.headers,
    )
    assert response.status_code == 409
    assert (await unlock(client, first.user, "first phrase here")).status_code == 200


async def test_destroy_needs_the_password_and_works_while_locked(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    url = f"{API}/secret-tags/{vault.tag_id}"
    wrong = await client.request(
        "DELETE", url, json={"password": "not my password"}, headers=vault.user.headers
    )
    assert wrong.status_code == 403
    random_id = await client.request(
        "DELETE",
        f"{API}/secret-tags/{uuid.uuid4()}",
        json={"password": vault.user.password},
        headers=vault.user.headers,
    )
    assert random_id.status_code == 404

    other = await make_authed_user(app)
    theirs = await client.request(
        "DELETE", url, json={"password": other.password}, headers=other.headers
    )
    assert theirs.status_code == 404
    assert theirs.json() == random_id.json()

    gone = await client.request(
        "DELETE", url, json={"password": vault.user.password}, headers=vault.user.headers
    )
    assert gone.status_code == 204
    assert (await unlock(client, vault.user, vault.phrase)).status_code == 401
    assert (await client.get(f"{API}/secret-tags", headers=vault.headers)).json()["items"] == []


async def test_unlock_attempts_are_rate_limited_per_account(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app)
    limiter = runtime(app).limiter
    # Spend the account's budget without paying for ten Argon2id runs.
    for _ in range(10):
        await limiter.hit("phrase", user_id=user.id, address="198.51.100.7")
    response = await unlock(client, user, "whatever phrase")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    # The budget is per account: another user is not held back.
    other = await make_authed_user(app)
    assert (await unlock(client, other, "whatever phrase")).status_code == 401


async def test_unlock_attempts_are_rate_limited_per_address(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    limiter = runtime(app).limiter
    for _ in range(30):
        await limiter.hit("phrase", user_id=uuid.uuid4(), address="127.0.0.1")
    user = await make_authed_user(app)
    response = await unlock(client, user, "whatever phrase")
    assert response.status_code == 429


async def test_secret_tag_name_and_phrase_never_reach_the_database(
    client: httpx.AsyncClient, app: FastAPI, backend: Backend, settings: Settings
) -> None:
    name_canary = "CANARY-name-7f3a9c"
    phrase_canary = "CANARY-phrase-51be02"
    vault = await make_vault(client, app, name=name_canary, phrase=phrase_canary)
    renamed = "CANARY-renamed-e81d44"
    await client.patch(
        f"{API}/secret-tags/{vault.tag_id}", json={"name": renamed}, headers=vault.headers
    )
    await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": "CANARY-newphrase-0c9d"},
        headers=vault.headers,
    )
    dump = await dump_database(backend, settings)
    # The dump is real: the tag row is in it (SQLite keeps UUIDs as 32 hex digits).
    tag_id = uuid.UUID(vault.tag_id)
    assert str(tag_id).encode() in dump or tag_id.hex.encode() in dump
    for canary in (name_canary, phrase_canary, renamed, "CANARY-newphrase-0c9d"):
        assert canary.encode() not in dump, canary
        assert canary.encode("utf-16-le") not in dump, canary
    data_key = (await runtime(app).store.lookup([vault.token]))[0].data_key
    assert data_key not in dump
    assert vault.token.encode() not in dump


async def test_unlock_cache_holds_no_usable_key(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    vault = await make_vault(client, app)
    data_key = (await runtime(app).store.lookup([vault.token]))[0].data_key
    if app_runtime(app).redis is None:
        blobs = [blob for _, blob in runtime(app).store._memory.values()]
    else:
        keys = [
            k async for k in app_runtime(app).redis.scan_iter(match=settings.redis_prefix + "*")
        ]
        blobs = [await app_runtime(app).redis.get(k) for k in keys if b"unlock" in k]
        ttls = [await app_runtime(app).redis.ttl(k) for k in keys if b"unlock" in k]
        assert all(0 < ttl <= 15 * 60 for ttl in ttls)
    assert blobs
    for blob in blobs:
        assert blob is not None
        assert data_key not in blob
        assert vault.token.encode() not in blob


@pytest.mark.real_kdf
async def test_unlock_costs_one_kdf_run_whatever_the_number_of_tags(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app)
    for n in range(3):
        await create_secret_tag(client, user, name=f"tag {n}", phrase=f"phrase number {n}")
    vault_runtime = runtime(app)
    real_derive = vault_runtime.derive
    calls: list[bytes] = []

    async def counting_derive(phrase: str, salt: bytes, params: KdfParams = DEFAULT_KDF) -> Any:
        calls.append(salt)
        return await real_derive(phrase, salt, params)

    vault_runtime.derive = counting_derive  # type: ignore[method-assign]
    right = await unlock(client, user, "phrase number 2")
    assert right.status_code == 200
    assert right.json()["tags"][0]["name"] == "tag 2"
    assert len(calls) == 1
    wrong = await unlock(client, user, "phrase number 9")
    assert wrong.status_code == 401
    assert len(calls) == 2  # the wrong phrase paid for exactly one run too
    nobody = await make_authed_user(app)
    assert (await unlock(client, nobody, "phrase number 2")).status_code == 401
    assert len(calls) == 3  # and so does a user without any secret tag
    # Every run used the user's own salt, the same for each of the user's unlocks.
    assert calls[0] == calls[1] == vault_runtime.user_salt(user.id) != calls[2]


@pytest.mark.real_kdf
async def test_the_data_folder_offers_no_fast_phrase_test(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """With the database AND the server key, a phrase guess still costs one Argon2id run:
    the stored lookup hash is a function of the Argon2id output, not of the phrase."""
    phrase = "blue whales sing at dawn"
    vault = await make_vault(client, app, phrase=phrase)
    async with app_runtime(app).database.session_scope() as session:
        tag = await session.get(SecretTag, uuid.UUID(vault.tag_id))
    assert tag is not None
    user_id = vault.user.id
    lookup_key = app_runtime(app).keyring.derive("vault-lookup")
    fast_guess = hmac.new(
        lookup_key, user_id.bytes + crypto.normalize_phrase(phrase), hashlib.sha256
    ).digest()
    assert tag.lookup_hash != fast_guess
    master = crypto.derive_master(phrase, runtime(app).user_salt(user_id), DEFAULT_KDF)
    assert crypto.lookup_hash(lookup_key, user_id, master) == tag.lookup_hash
    wrong = crypto.derive_master("blue whales sing at dusk", runtime(app).user_salt(user_id))
    assert crypto.lookup_hash(lookup_key, user_id, wrong) != tag.lookup_hash


async def test_the_fast_test_cost_is_recorded_on_the_tag_and_used_to_unlock(
    client: httpx.AsyncClient, app: FastAPI, fast_kdf: KdfParams
) -> None:
    """Guards the `fast_kdf` fixture: if the vault stopped taking its cost from where the
    fixture sets it, the vault tests would silently pay the real cost again."""
    assert fast_kdf == FAST_KDF != DEFAULT_KDF
    vault = await make_vault(client, app)  # made and unlocked at the fast cost
    async with app_runtime(app).database.session_scope() as session:
        tag = await session.get(SecretTag, uuid.UUID(vault.tag_id))
    assert tag is not None
    stored = KdfParams(tag.kdf_memory_kib, tag.kdf_iterations, tag.kdf_parallelism)
    assert stored == FAST_KDF


@pytest.mark.real_kdf
async def test_stored_tag_carries_kdf_parameters_and_no_plain_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    async with app_runtime(app).database.session_scope() as session:
        tag = await session.get(SecretTag, uuid.UUID(vault.tag_id))
    assert tag is not None
    assert tag.kdf_memory_kib >= 64 * 1024
    assert tag.kdf_iterations >= 3
    assert tag.kdf_salt != tag.verifier_salt
    data_key = (await runtime(app).store.lookup([vault.token]))[0].data_key
    assert data_key not in tag.wrapped_key
    assert len(tag.wrapped_key) == 32 + 16  # the key plus the GCM tag


async def test_destroy_password_attempts_share_the_password_budget(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    url = f"{API}/secret-tags/{vault.tag_id}"
    answers = [
        (
            await client.request(
                "DELETE", url, json={"password": "wrong password"}, headers=vault.user.headers
            )
        ).status_code
        for _ in range(6)
    ]
    assert answers == [403] * 5 + [429]
    still_there = await client.get(f"{API}/secret-tags", headers=vault.headers)
    assert len(still_there.json()["items"]) == 1


async def test_browsers_may_send_the_unlock_header_cross_origin(
    make_client: MakeClient, settings: Settings
) -> None:
    async with make_client(data_dir=settings.data_dir, cors_origins=["https://app.example"]) as c:
        response = await c.options(
            f"{API}/secret-tags",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, x-vibes-unlock",
            },
        )
    assert response.status_code == 200
    assert "x-vibes-unlock" in response.headers["access-control-allow-headers"].lower()


async def test_parallel_destroy_guesses_stay_within_the_password_budget(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    # Regression: the account budget was only checked before the (slow) password check and
    # counted after it, so parallel guesses all got through.
    import asyncio

    vault = await make_vault(client, app)
    url = f"{API}/secret-tags/{vault.tag_id}"

    async def guess() -> int:
        response = await client.request(
            "DELETE", url, json={"password": "wrong password"}, headers=vault.user.headers
        )
        return response.status_code

    answers = await asyncio.gather(*(guess() for _ in range(20)))
    assert answers.count(403) == 5
    assert answers.count(429) == 15


@pytest.mark.parametrize("weak", ["12345678", "password", "password123", "qwertyuiop"])
async def test_guessable_phrases_are_refused(
    client: httpx.AsyncClient, app: FastAPI, weak: str
) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        f"{API}/secret-tags", json={"name": "diary", "phrase": weak}, headers=user.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "phrase"]
    vault = await make_vault(client, app)
    r = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase", json={"new_phrase": weak}, headers=vault.headers
    )
    assert r.status_code == 422
    assert (await unlock(client, vault.user, vault.phrase)).status_code == 200


async def test_the_account_password_is_refused_as_a_phrase(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    password = "orchid lantern velvet harbour"
    user = await make_authed_user(app, password_hash=PasswordHasher().hash(password))
    r = await client.post(
        f"{API}/secret-tags", json={"name": "diary", "phrase": password}, headers=user.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["type"] == "phrase_is_password"
    vault = await make_vault(client, app, user=user)
    r = await client.post(
        f"{API}/secret-tags/{vault.tag_id}/phrase",
        json={"new_phrase": password},
        headers=vault.headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["type"] == "phrase_is_password"


async def test_correct_unlocks_do_not_spend_the_phrase_budget(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app)
    # The account budget is 10 per 15 minutes: more right answers than that all pass.
    for _ in range(12):
        assert (await unlock(client, vault.user, vault.phrase)).status_code == 200
    answers = [
        (await unlock(client, vault.user, "not the phrase at all")).status_code for _ in range(11)
    ]
    assert answers == [401] * 10 + [429]
    # Spent by failures: now even the right phrase waits.
    assert (await unlock(client, vault.user, vault.phrase)).status_code == 429


async def test_a_forgotten_vault_can_be_found_by_password_and_destroyed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    vault = await make_vault(client, app, name="forgotten diary")
    other = await make_vault(
        client, app, user=vault.user, name="second", phrase="seven owls hum in rain"
    )
    url = f"{API}/secret-tags/forgotten"
    wrong = await client.post(url, json={"password": "not it at all"}, headers=vault.user.headers)
    assert wrong.status_code == 403
    found = await client.post(
        url, json={"password": vault.user.password}, headers=vault.user.headers
    )
    assert found.status_code == 200
    items = found.json()["items"]
    assert [item["id"] for item in items] == [vault.tag_id, other.tag_id]
    assert all(set(item) == {"id", "created_at"} for item in items)
    assert "forgotten diary" not in found.text
    gone = await client.request(
        "DELETE",
        f"{API}/secret-tags/{items[0]['id']}",
        json={"password": vault.user.password},
        headers=vault.user.headers,
    )
    assert gone.status_code == 204
    left = await client.post(
        url, json={"password": vault.user.password}, headers=vault.user.headers
    )
    assert [item["id"] for item in left.json()["items"]] == [other.tag_id]
    # Another user's password-protected list shows nothing of this one.
    stranger = await make_authed_user(app)
    theirs = await client.post(url, json={"password": stranger.password}, headers=stranger.headers)
    assert theirs.json()["items"] == []
