"""`Idempotency-Key` on `POST /auth/refresh` without live tokens at rest.

The shared mechanism (`platform.idempotency`) stores the first answer to replay it; a
refresh answer is a working token pair, and the request body a refresh token. Both are
kept under a key derived from the presented refresh token itself, which the database
holds only as a SHA-256: a copy of the database opens neither, while the retrying client,
which sends the same token, can.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vibes.errors import Conflict

_LABEL = b"vibes/accounts/refresh-replay/v1\x00"
_NONCE_BYTES = 12


@dataclass(frozen=True)
class TokenSealedKeeping:
    """`platform.idempotency.AnswerKeeping` keyed by the presented refresh token."""

    token: str = field(repr=False)

    @property
    def _key(self) -> bytes:
        return hmac.new(self.token.encode(), _LABEL, hashlib.sha256).digest()

    def request_hash(self, fingerprint: bytes) -> bytes:
        return hmac.new(self._key, _LABEL + fingerprint, hashlib.sha256).digest()

    def seal(self, body: bytes, claim_id: uuid.UUID) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + AESGCM(self._key).encrypt(nonce, body, _LABEL + claim_id.bytes)

    def open(self, stored: bytes, claim_id: uuid.UUID) -> bytes:
        try:
            return AESGCM(self._key).decrypt(
                stored[:_NONCE_BYTES], stored[_NONCE_BYTES:], _LABEL + claim_id.bytes
            )
        except InvalidTag:
            # Same fingerprint means the same token: only tampering gets here.
            raise Conflict("The stored answer for this Idempotency-Key is unreadable.") from None
