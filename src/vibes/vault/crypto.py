"""The vault's cryptography: phrase key derivation, envelope encryption, sealed payloads.

Only well-kept primitives: Argon2id from argon2-cffi, AES-256-GCM and HMAC from
`cryptography` / the standard library. Every function here is synchronous and pure; the
slow one (`derive_phrase_keys`, one Argon2id run) is called from a worker thread.

Scheme:
- per user, a salt derived from the server key and the user id (unique, not secret);
- per phrase operation ONE Argon2id run (NFC phrase, user salt, the tag's stored cost)
  gives a 256-bit *master key*; everything else is fast and derived from it:
  - the *lookup hash* HMAC-SHA256(server subkey, user || master) finds the tag the phrase
    opens without trying every tag; since its input is the Argon2id output, testing a
    guess against it costs one Argon2id run even with the server key in hand;
  - per tag, HKDF-SHA256(master, salt=the tag's random kdf_salt, info=user || tag) gives 64
    bytes: the key-encryption key (KEK) that wraps the data key, and the *verifier key*;
    the stored verifier is HMAC-SHA256(verifier key, label || verifier_salt). The halves are
    independent HKDF outputs, so the verifier says nothing about the KEK;
- per tag, a random 256-bit *data key* encrypts the tag's name and its entries
  (AES-256-GCM, a fresh random 96-bit nonce per write, associated data naming user, row and
  version).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vibes.errors import DomainError

KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16

# Labels keep every use of a key apart: a ciphertext made for one purpose never opens as
# another (a tag name pasted into an entry's column fails like any other tampering).
_WRAP_LABEL = b"vibes/vault/wrap/v1\x00"
_NAME_LABEL = b"vibes/vault/name/v1\x00"
_ENTRY_LABEL = b"vibes/vault/entry/v1\x00"
_VERIFIER_LABEL = b"vibes/vault/verifier/v1\x00"
_USER_SALT_LABEL = b"vibes/vault/user-salt/v1\x00"
_TAG_KEYS_LABEL = b"vibes/vault/tag-keys/v1\x00"
_LOOKUP_LABEL = b"vibes/vault/lookup/v1\x00"
_GENERATION_LABEL = b"vibes/vault/generation/v1\x00"


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost, stored with each tag so it can be raised later without breaking old tags."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    parallelism: int = 1


DEFAULT_KDF = KdfParams()


class VaultIntegrityError(DomainError):
    """A ciphertext failed authentication: tampered with, or moved to another row/user/version.

    Never answered with garbage: the request fails loudly instead.
    """

    status, title, type_suffix = 500, "Encrypted data failed its integrity check", "vault-integrity"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "A secret entry could not be decrypted: its ciphertext does not belong to this "
            "entry. It may have been altered in the database."
        )


@dataclass(frozen=True, slots=True)
class PhraseKeys:
    kek: bytes
    verifier_key: bytes

    def __repr__(self) -> str:  # never print key material
        return "PhraseKeys(<redacted>)"


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The one Argon2id output of a phrase for a user: everything else is derived from it."""

    raw: bytes

    def __repr__(self) -> str:  # never print key material
        return "MasterKey(<redacted>)"


def normalize_phrase(phrase: str) -> bytes:
    """NFC, so the same phrase typed on two keyboards is the same bytes."""
    return unicodedata.normalize("NFC", phrase).encode("utf-8")


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def user_salt(salt_key: bytes, user_id: uuid.UUID) -> bytes:
    """The user's Argon2id salt: unique per user (and per installation), not secret; derived
    rather than stored, so no column holds it."""
    return hmac.new(salt_key, _USER_SALT_LABEL + user_id.bytes, hashlib.sha256).digest()[
        :SALT_BYTES
    ]


def derive_master(phrase: str, salt: bytes, params: KdfParams = DEFAULT_KDF) -> MasterKey:
    """One Argon2id run over (NFC phrase, user salt). Slow on purpose: every phrase guess,
    online or offline, with or without the server key, pays for one."""
    raw = hash_secret_raw(
        normalize_phrase(phrase),
        salt,
        time_cost=params.iterations,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
    )
    return MasterKey(raw)


def tag_keys(
    master: MasterKey, kdf_salt: bytes, *, user_id: uuid.UUID, tag_id: uuid.UUID
) -> PhraseKeys:
    """The tag's KEK and verifier key: HKDF-SHA256 over the master key, salted with the
    tag's own random salt and bound to user and tag (fast; the Argon2id run came first)."""
    raw = HKDF(
        algorithm=hashes.SHA256(),
        length=2 * KEY_BYTES,
        salt=kdf_salt,
        info=_TAG_KEYS_LABEL + user_id.bytes + tag_id.bytes,
    ).derive(master.raw)
    return PhraseKeys(kek=raw[:KEY_BYTES], verifier_key=raw[KEY_BYTES:])


def make_verifier(keys: PhraseKeys, verifier_salt: bytes) -> bytes:
    return hmac.new(keys.verifier_key, _VERIFIER_LABEL + verifier_salt, hashlib.sha256).digest()


def check_verifier(keys: PhraseKeys, verifier_salt: bytes, stored: bytes) -> bool:
    return hmac.compare_digest(make_verifier(keys, verifier_salt), stored)


def phrase_generation(kdf_salt: bytes) -> bytes:
    """16 bytes naming the tag's current phrase: the tag's KDF salt is new at every phrase
    change (and only then), so unlock grants record this and die with the phrase."""
    return hashlib.sha256(_GENERATION_LABEL + kdf_salt).digest()[:16]


def lookup_hash(lookup_key: bytes, user_id: uuid.UUID, master: MasterKey) -> bytes:
    """Which of the user's tags this phrase would open: keyed by the server key AND made
    from the Argon2id output, so testing a phrase against it costs one Argon2id run even
    for someone holding the server key."""
    return hmac.new(lookup_key, _LOOKUP_LABEL + user_id.bytes + master.raw, hashlib.sha256).digest()


def _tag_aad(label: bytes, user_id: uuid.UUID, tag_id: uuid.UUID) -> bytes:
    return label + user_id.bytes + tag_id.bytes


def wrap_key(
    kek: bytes, data_key: bytes, *, user_id: uuid.UUID, tag_id: uuid.UUID
) -> tuple[bytes, bytes]:
    """(nonce, wrapped data key)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce, AESGCM(kek).encrypt(nonce, data_key, _tag_aad(_WRAP_LABEL, user_id, tag_id))


def unwrap_key(
    kek: bytes, nonce: bytes, wrapped: bytes, *, user_id: uuid.UUID, tag_id: uuid.UUID
) -> bytes | None:
    """The data key, or None when the KEK is wrong or the wrapped key was moved."""
    try:
        return AESGCM(kek).decrypt(nonce, wrapped, _tag_aad(_WRAP_LABEL, user_id, tag_id))
    except InvalidTag:
        return None


def _name_aad(user_id: uuid.UUID, tag_id: uuid.UUID, version: int) -> bytes:
    return _tag_aad(_NAME_LABEL, user_id, tag_id) + version.to_bytes(8, "big")


def seal_name(
    data_key: bytes, name: str, *, user_id: uuid.UUID, tag_id: uuid.UUID, version: int
) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of a secret tag's name, bound to user, tag and the version the
    row will have once written (so it is re-sealed at every update of the tag)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _name_aad(user_id, tag_id, version)
    return nonce, AESGCM(data_key).encrypt(nonce, name.encode("utf-8"), aad)


def open_name(
    data_key: bytes,
    nonce: bytes,
    ciphertext: bytes,
    *,
    user_id: uuid.UUID,
    tag_id: uuid.UUID,
    version: int,
) -> str:
    try:
        plain = AESGCM(data_key).decrypt(nonce, ciphertext, _name_aad(user_id, tag_id, version))
    except InvalidTag:
        raise VaultIntegrityError(
            "A secret tag's name could not be decrypted; it may have been altered."
        ) from None
    return plain.decode("utf-8")


def _entry_aad(user_id: uuid.UUID, journal_id: uuid.UUID, version: int) -> bytes:
    return _ENTRY_LABEL + user_id.bytes + journal_id.bytes + version.to_bytes(8, "big")


def seal(
    data_key: bytes,
    user_id: uuid.UUID,
    journal_id: uuid.UUID,
    version: int,
    payload: dict[str, Any],
) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of a secret entry's `{"title", "content", "tags"}`.

    `version` is the version the row will have once written: the ciphertext opens only at
    that user, row and version, so an old ciphertext written back (rollback) fails too.
    """
    nonce = secrets.token_bytes(NONCE_BYTES)
    plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    aad = _entry_aad(user_id, journal_id, version)
    return nonce, AESGCM(data_key).encrypt(nonce, plain, aad)


def open_sealed(
    data_key: bytes,
    user_id: uuid.UUID,
    journal_id: uuid.UUID,
    version: int,
    nonce: bytes,
    ciphertext: bytes,
) -> dict[str, Any]:
    """The payload `seal` made for exactly this user, row and version, or VaultIntegrityError."""
    try:
        plain = AESGCM(data_key).decrypt(
            nonce, ciphertext, _entry_aad(user_id, journal_id, version)
        )
    except InvalidTag:
        raise VaultIntegrityError() from None
    payload = json.loads(plain)
    if not isinstance(payload, dict):
        raise VaultIntegrityError()
    return payload


# The name the brief uses; `open` is avoided as a bare name so the builtin stays usable.
open_entry = open_sealed
