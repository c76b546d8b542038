"""`Idempotency-Key` for requests that write secret entries, without plaintext at rest.

The shared mechanism (`platform.idempotency`) keeps a SHA-256 of the request body and the
answer itself in `idempotency_keys`. For a secret entry both would betray it: the answer
holds the decrypted entry, and an unkeyed hash of the body lets whoever holds a database
copy confirm a guess of it. Here the same claim/record/replay steps run with:
- the fingerprint keyed by the secret tag's data key (HMAC-SHA256), and
- the stored answer sealed under the data key (AES-256-GCM, bound to user and claim).
A replay therefore needs the tag unlocked, which the retrying request has anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.platform.idempotency import (
    REPLAYED_HEADER,
    STORED_HEADERS,
    claim,
    fingerprint,
    record,
    replay,
)
from vibes.platform.models import IdempotencyKey
from vibes.vault.crypto import NONCE_BYTES, VaultIntegrityError

_LABEL = b"vibes/vault/idempotency/v1\x00"


def _aad(user_id: uuid.UUID, claim_id: uuid.UUID) -> bytes:
    return _LABEL + user_id.bytes + claim_id.bytes


async def sealed_idempotent(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str | None,
    request: Request,
    data_key: bytes,
    seal_answer: bool,
    produce: Callable[[], Awaitable[Response]],
) -> Response:
    """`platform.idempotency.idempotent` for secret writes (see the module docstring).

    `seal_answer=False` for answers that carry no entry text (a batch's ids).
    """
    if key is None:
        return await produce()
    plain_hash = fingerprint(
        request.method, request.url.path, request.url.query, await request.body()
    )
    request_hash = hmac.new(data_key, _LABEL + plain_hash, hashlib.sha256).digest()
    claimed = await claim(
        session,
        user_id=user_id,
        key=key,
        method=request.method,
        path=request.url.path,
        request_hash=request_hash,
    )
    if isinstance(claimed, IdempotencyKey):
        return _replay_sealed(claimed, data_key, user_id) if seal_answer else replay(claimed)
    response = await produce()
    stored = response
    if seal_answer:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = nonce + AESGCM(data_key).encrypt(
            nonce, bytes(response.body), _aad(user_id, claimed)
        )
        headers = {n: response.headers[n] for n in STORED_HEADERS if n in response.headers}
        stored = Response(content=sealed, status_code=response.status_code, headers=headers)
    await record(session, claimed, stored)
    return response


def _replay_sealed(row: IdempotencyKey, data_key: bytes, user_id: uuid.UUID) -> Response:
    """The first answer, decrypted into a new response (the row itself is never touched:
    it belongs to the write session, which would store the plaintext back)."""
    blob = row.response_body or b""
    try:
        body = AESGCM(data_key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(user_id, row.id)
        )
    except InvalidTag:
        raise VaultIntegrityError("A stored answer could not be decrypted.") from None
    headers = dict(row.response_headers or {})
    headers[REPLAYED_HEADER] = "true"
    return Response(content=body, status_code=row.status_code or 200, headers=headers)
