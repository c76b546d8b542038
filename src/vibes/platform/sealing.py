"""Small secrets the server must read back (a webhook's signing secret), sealed at rest.

AES-256-GCM under a subkey of the server key (`KeyRing.derive`), with a fresh 96-bit
nonce per value and the owning row's id as associated data, so a sealed value copied onto
another row does not open. A database dump without the server key reveals none of them.
Format: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1."
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """The value does not open with this key and context (another server key, or tampered)."""


def seal(key: bytes, plaintext: str, *, context: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), context)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(key: bytes, value: str, *, context: bytes) -> str:
    if not value.startswith(PREFIX):
        raise SealBroken("not a sealed value")
    body = value[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("the sealed value does not open with this key") from exc
