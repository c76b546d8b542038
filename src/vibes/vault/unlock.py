"""Unlock tokens: who unlocked which tag, and its data key, for a few minutes.

A token is 256 random bits, handed to the client once. The server keeps, under an id
derived from the token, the user, the session, the tag, the expiry and the data key,
AES-256-GCM encrypted under a key derived from BOTH the server-held key and the token. So
the cache (process memory, or Redis when configured, with a TTL) never holds a usable data
key: reading one needs the token, which only the client has, and the server key. Nothing of
this goes to the database, a log, an event or an answer (other than the token itself).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis
from redis.exceptions import RedisError

from vibes.config import Settings
from vibes.errors import ServiceUnavailable
from vibes.platform import redis as redis_keys
from vibes.vault.crypto import KEY_BYTES, NONCE_BYTES

TOKEN_BYTES = 32
# user, session, tag (16 bytes each), expiry (ms since the epoch), data key, the tag's
# phrase generation (16 bytes, see `crypto.phrase_generation`).
_RECORD = struct.Struct(f">16s16s16sQ{KEY_BYTES}s16s")


@dataclass(frozen=True, slots=True)
class UnlockGrant:
    """One live unlock: this user's session may use this tag's data key until `expires_at`."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    tag_id: uuid.UUID
    expires_at: float
    data_key: bytes
    # Which phrase the tag had when it was unlocked: a grant whose generation is no longer
    # the tag's (the phrase changed since) is dead, in every process and store alike.
    generation: bytes

    def __repr__(self) -> str:  # never print key material
        return f"UnlockGrant(tag_id={self.tag_id}, expires_at={self.expires_at})"


class UnlockStore:
    """Unlock grants in Redis (shared by every process) or, without Redis, in this process.

    While a configured Redis is down, new grants are kept in this process (the tag is
    unlocked on this process only) and lookups that cannot reach Redis find nothing there:
    the vault stays locked rather than open. Locking a grant that may sit in an unreachable
    Redis is refused (503), never reported done while the grant still lives.
    """

    def __init__(self, settings: Settings, cache_key: bytes, redis: Redis | None) -> None:
        self._settings = settings
        self._cache_key = cache_key
        self._redis = redis
        self._memory: dict[str, tuple[float, bytes]] = {}
        self._outage = redis_keys.Outage("vault unlocks")
        # Seconds since the epoch; tests move it to expire tokens without waiting.
        self.clock: Callable[[], float] = time.time

    @property
    def lifetime_seconds(self) -> int:
        return self._settings.unlock_token_minutes * 60

    def _slot(self, token: str) -> tuple[str, bytes]:
        raw = token.encode("ascii", "replace")
        slot = hmac.new(self._cache_key, b"slot\x00" + raw, hashlib.sha256).hexdigest()
        key = hmac.new(self._cache_key, b"key\x00" + raw, hashlib.sha256).digest()
        return slot, key

    def _redis_key(self, slot: str) -> str:
        return redis_keys.key(self._settings, "vault", "unlock", slot)

    async def grant(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        tag_id: uuid.UUID,
        data_key: bytes,
        generation: bytes,
    ) -> tuple[str, int]:
        """A new token for this grant and its lifetime in seconds."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        lifetime = self.lifetime_seconds
        expires_at = self.clock() + lifetime
        slot, key = self._slot(token)
        record = _RECORD.pack(
            user_id.bytes,
            session_id.bytes,
            tag_id.bytes,
            int(expires_at * 1000),
            data_key,
            generation,
        )
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = nonce + AESGCM(key).encrypt(nonce, record, slot.encode())
        if self._redis is not None:
            try:
                await self._redis.set(self._redis_key(slot), blob, ex=lifetime)
            except RedisError as exc:
                self._outage.failed(exc)
            else:
                self._outage.recovered()
                return token, lifetime
        self._prune()
        self._memory[slot] = (expires_at, blob)
        return token, lifetime

    async def lookup(self, tokens: Iterable[str]) -> list[UnlockGrant]:
        """The live grants behind these tokens; unknown, forged or expired ones are skipped."""
        slots = [(token, *self._slot(token)) for token in dict.fromkeys(tokens)]
        if not slots:
            return []
        blobs: list[bytes | None] = [None] * len(slots)
        if self._redis is not None:
            try:
                found = await self._redis.mget([self._redis_key(slot) for _, slot, _ in slots])
            except RedisError as exc:
                self._outage.failed(exc)
            else:
                blobs = [blob if isinstance(blob, bytes) else None for blob in found]
        # Grants made in this process (no Redis, or while it was down).
        blobs = [
            blob or self._memory.get(slot, (0.0, None))[1]
            for blob, (_, slot, _) in zip(blobs, slots, strict=True)
        ]
        now = self.clock()
        grants = []
        for (_, slot, key), blob in zip(slots, blobs, strict=True):
            grant = self._open(slot, key, blob)
            if grant is not None and grant.expires_at > now:
                grants.append(grant)
        return grants

    async def revoke(
        self, tokens: Iterable[str], *, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> int:
        """End the grants behind these tokens that belong to this user's session."""
        ended = 0
        for token in dict.fromkeys(tokens):
            slot, key = self._slot(token)
            local = self._open(slot, key, self._memory.get(slot, (0.0, None))[1])
            if local is not None and local.user_id == user_id and local.session_id == session_id:
                self._memory.pop(slot, None)
                ended += 1
                continue
            if self._redis is None:
                continue
            try:
                found = await self._redis.get(self._redis_key(slot))
                grant = self._open(slot, key, found if isinstance(found, bytes) else None)
                if grant is None or grant.user_id != user_id or grant.session_id != session_id:
                    continue
                await self._redis.delete(self._redis_key(slot))
            except RedisError as exc:
                self._outage.failed(exc)
                raise ServiceUnavailable(
                    "Locking needs the shared store, which is unreachable: try again shortly."
                ) from None
            ended += 1
        return ended

    @staticmethod
    def _open(slot: str, key: bytes, blob: bytes | None) -> UnlockGrant | None:
        if not blob or len(blob) <= NONCE_BYTES:
            return None
        try:
            record = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], slot.encode())
        except InvalidTag:
            return None
        user, session, tag, expires_ms, data_key, generation = _RECORD.unpack(record)
        return UnlockGrant(
            user_id=uuid.UUID(bytes=user),
            session_id=uuid.UUID(bytes=session),
            tag_id=uuid.UUID(bytes=tag),
            expires_at=expires_ms / 1000,
            data_key=data_key,
            generation=generation,
        )

    def _prune(self) -> None:
        now = self.clock()
        for slot in [s for s, (expires_at, _) in self._memory.items() if expires_at <= now]:
            del self._memory[slot]
