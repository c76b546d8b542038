"""`Idempotency-Key` for requests that write secret entries, without plaintext at rest.

The shared mechanism (`platform.idempotency`) keeps a SHA-256 of the request body and the
answer itself in `idempotency_keys`. For a secret entry both would betray it: the answer
holds the decrypted entry, and an unkeyed hash of the body lets whoever holds a database
copy confirm a guess of it. `SealedKeeping` makes the same claim/record/replay steps keep:
- the fingerprint keyed by the secret tag's data key (HMAC-SHA256), and
- the stored answer sealed under the data key (AES-256-GCM, bound to user and claim).
A replay therefore needs the tag unlocked, which the retrying request has anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vibes.vault.crypto import NONCE_BYTES, VaultIntegrityError

_LABEL = b"vibes/vault/idempotency/v1\x00"


@dataclass(frozen=True)
class SealedKeeping:
    """`platform.idempotency.AnswerKeeping` for secret writes. `seal_answer=False` for
    answers that carry no entry text (a batch's ids): only the fingerprint is keyed."""

    data_key: bytes = field(repr=False)
    user_id: uuid.UUID
    seal_answer: bool = True

    def _aad(self, claim_id: uuid.UUID) -> bytes:
        return _LABEL + self.user_id.bytes + claim_id.bytes

    def request_hash(self, fingerprint: bytes) -> bytes:
        return hmac.new(self.data_key, _LABEL + fingerprint, hashlib.sha256).digest()

    def seal(self, body: bytes, claim_id: uuid.UUID) -> bytes:
        if not self.seal_answer:
            return body
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.data_key).encrypt(nonce, body, self._aad(claim_id))

    def open(self, stored: bytes, claim_id: uuid.UUID) -> bytes:
        if not self.seal_answer:
            return stored
        try:
            return AESGCM(self.data_key).decrypt(
                stored[:NONCE_BYTES], stored[NONCE_BYTES:], self._aad(claim_id)
            )
        except InvalidTag:
            raise VaultIntegrityError("A stored answer could not be decrypted.") from None
