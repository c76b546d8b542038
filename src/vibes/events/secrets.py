"""Webhook signing secrets (made by `channels.new_webhook_secret`): sealed at rest under
a server subkey, opened only by the dispatcher to sign a delivery."""

from __future__ import annotations

import uuid

from vibes.platform.keys import KeyRing
from vibes.platform.sealing import seal, unseal

# The subkey's purpose (`KeyRing.derive`); the migration that sealed the existing secrets
# (2026-12-02-1730) spells it out too.
PURPOSE = "webhook-signing-secrets"


def sealing_key(keyring: KeyRing) -> bytes:
    return keyring.derive(PURPOSE)


def seal_secret(key: bytes, webhook_id: uuid.UUID, secret: str) -> str:
    return seal(key, secret, context=webhook_id.bytes)


def open_secret(key: bytes, webhook_id: uuid.UUID, sealed: str) -> str:
    """The secret in the clear; `SealBroken` when the server key is not the one it was
    sealed under."""
    return unseal(key, sealed, context=webhook_id.bytes)


class SealedAnswers:
    """`Idempotency-Key` keeping for POST /webhooks: its answer holds the secret in the
    clear, so the copy kept for replays (24 hours) is sealed like the secret itself."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def request_hash(self, fingerprint: bytes) -> bytes:
        return fingerprint

    def seal(self, body: bytes, claim_id: uuid.UUID) -> bytes:
        return seal(self._key, body.decode(), context=b"answer:" + claim_id.bytes).encode()

    def open(self, stored: bytes, claim_id: uuid.UUID) -> bytes:
        return unseal(self._key, stored.decode(), context=b"answer:" + claim_id.bytes).encode()
