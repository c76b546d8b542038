"""The vault's cryptographic building blocks, without a database."""

from __future__ import annotations

import uuid

import pytest

from vibes.vault import crypto
from vibes.vault.crypto import KdfParams, VaultIntegrityError

# Cheap parameters: these tests check the construction, not the cost.
FAST = KdfParams(memory_kib=1024, iterations=1, parallelism=1)
USER, OTHER_USER = uuid.uuid4(), uuid.uuid4()
ROW, OTHER_ROW = uuid.uuid4(), uuid.uuid4()
PAYLOAD = {"title": "t", "content": "c", "tags": ["x"]}


def test_default_kdf_meets_the_floor() -> None:
    assert crypto.DEFAULT_KDF.memory_kib >= 64 * 1024
    assert crypto.DEFAULT_KDF.iterations >= 3
    assert crypto.DEFAULT_KDF.parallelism == 1


def test_one_derivation_gives_independent_kek_and_verifier_key() -> None:
    salt, tag_salt = crypto.new_salt(), crypto.new_salt()
    master = crypto.derive_master("a long phrase", salt, FAST)
    keys = crypto.tag_keys(master, tag_salt, user_id=USER, tag_id=ROW)
    assert len(keys.kek) == len(keys.verifier_key) == 32
    assert keys.kek != keys.verifier_key
    assert crypto.derive_master("a long phrase", salt, FAST) == master
    assert crypto.derive_master("a long phrasf", salt, FAST) != master
    assert crypto.tag_keys(master, tag_salt, user_id=USER, tag_id=ROW) == keys
    # Another tag (or tag salt) of the same phrase gets unrelated keys.
    assert crypto.tag_keys(master, tag_salt, user_id=USER, tag_id=OTHER_ROW) != keys
    assert crypto.tag_keys(master, crypto.new_salt(), user_id=USER, tag_id=ROW) != keys
    assert "redacted" in repr(keys)
    assert "redacted" in repr(master)


def test_verifier_accepts_only_the_same_phrase() -> None:
    salt, tag_salt, verifier_salt = crypto.new_salt(), crypto.new_salt(), crypto.new_salt()
    keys = crypto.tag_keys(
        crypto.derive_master("a long phrase", salt, FAST), tag_salt, user_id=USER, tag_id=ROW
    )
    stored = crypto.make_verifier(keys, verifier_salt)
    assert crypto.check_verifier(keys, verifier_salt, stored)
    wrong = crypto.tag_keys(
        crypto.derive_master("another phrase", salt, FAST), tag_salt, user_id=USER, tag_id=ROW
    )
    assert not crypto.check_verifier(wrong, verifier_salt, stored)
    assert stored not in (keys.kek, keys.verifier_key)


def test_phrases_are_unicode_normalised() -> None:
    composed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    salt = crypto.new_salt()
    assert crypto.derive_master(composed, salt, FAST) == crypto.derive_master(
        decomposed, salt, FAST
    )


def test_user_salts_are_per_user_and_per_server_key() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert crypto.user_salt(a, USER) == crypto.user_salt(a, USER)
    assert len(crypto.user_salt(a, USER)) == crypto.SALT_BYTES
    assert crypto.user_salt(a, USER) != crypto.user_salt(a, OTHER_USER)
    assert crypto.user_salt(a, USER) != crypto.user_salt(b, USER)


def test_lookup_hash_is_keyed_and_per_user() -> None:
    a, b = b"a" * 32, b"b" * 32
    master = crypto.derive_master("phrase one", crypto.new_salt(), FAST)
    assert crypto.lookup_hash(a, USER, master) == crypto.lookup_hash(a, USER, master)
    assert crypto.lookup_hash(a, USER, master) != crypto.lookup_hash(b, USER, master)
    assert crypto.lookup_hash(a, USER, master) != crypto.lookup_hash(a, OTHER_USER, master)


def test_wrapped_key_opens_only_for_its_user_and_tag() -> None:
    kek, data_key, tag = crypto.new_data_key(), crypto.new_data_key(), uuid.uuid4()
    nonce, wrapped = crypto.wrap_key(kek, data_key, user_id=USER, tag_id=tag)
    assert data_key not in wrapped
    assert crypto.unwrap_key(kek, nonce, wrapped, user_id=USER, tag_id=tag) == data_key
    assert crypto.unwrap_key(kek, nonce, wrapped, user_id=OTHER_USER, tag_id=tag) is None
    assert crypto.unwrap_key(kek, nonce, wrapped, user_id=USER, tag_id=uuid.uuid4()) is None
    wrong_kek = crypto.new_data_key()
    assert crypto.unwrap_key(wrong_kek, nonce, wrapped, user_id=USER, tag_id=tag) is None


def test_seal_uses_a_fresh_nonce_every_write() -> None:
    key = crypto.new_data_key()
    first = crypto.seal(key, USER, ROW, 1, PAYLOAD)
    second = crypto.seal(key, USER, ROW, 1, PAYLOAD)
    assert first[0] != second[0]
    assert first[1] != second[1]
    assert len(first[0]) == 12


def test_sealed_payload_round_trips() -> None:
    key = crypto.new_data_key()
    nonce, ct = crypto.seal(key, USER, ROW, 3, {"title": "é", "content": "x" * 1000, "tags": []})
    assert crypto.open_sealed(key, USER, ROW, 3, nonce, ct) == {
        "title": "é",
        "content": "x" * 1000,
        "tags": [],
    }


@pytest.mark.parametrize(
    ("user", "row", "version"),
    [(OTHER_USER, ROW, 1), (USER, OTHER_ROW, 1), (USER, ROW, 2)],
    ids=["other-user", "other-row", "other-version"],
)
def test_moved_ciphertext_fails_with_a_clear_error(
    user: uuid.UUID, row: uuid.UUID, version: int
) -> None:
    key = crypto.new_data_key()
    nonce, ct = crypto.seal(key, USER, ROW, 1, PAYLOAD)
    with pytest.raises(VaultIntegrityError) as caught:
        crypto.open_sealed(key, user, row, version, nonce, ct)
    assert caught.value.status == 500
    assert "could not be decrypted" in caught.value.detail


def test_name_ciphertext_never_opens_as_an_entry() -> None:
    key, tag = crypto.new_data_key(), uuid.uuid4()
    nonce, ct = crypto.seal_name(key, "name", user_id=USER, tag_id=tag, version=1)
    assert crypto.open_name(key, nonce, ct, user_id=USER, tag_id=tag, version=1) == "name"
    with pytest.raises(VaultIntegrityError):
        crypto.open_sealed(key, USER, tag, 1, nonce, ct)
    with pytest.raises(VaultIntegrityError):
        crypto.open_name(key, nonce, ct, user_id=OTHER_USER, tag_id=tag, version=1)


@pytest.mark.parametrize(
    ("user", "tag", "version"), [(OTHER_USER, ROW, 2), (USER, OTHER_ROW, 2), (USER, ROW, 1)]
)
def test_name_opens_only_for_its_user_tag_and_version(
    user: uuid.UUID, tag: uuid.UUID, version: int
) -> None:
    key = crypto.new_data_key()
    nonce, ct = crypto.seal_name(key, "name", user_id=USER, tag_id=ROW, version=2)
    assert crypto.open_name(key, nonce, ct, user_id=USER, tag_id=ROW, version=2) == "name"
    with pytest.raises(VaultIntegrityError):
        crypto.open_name(key, nonce, ct, user_id=user, tag_id=tag, version=version)
