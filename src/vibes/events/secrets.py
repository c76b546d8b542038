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
