"""The vault's per-process machinery: unlock store, phrase limiter, bounded KDF runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from vibes.config import Settings
from vibes.platform.keys import KeyRing
from vibes.platform.ratelimit import RateLimiter
from vibes.vault.crypto import DEFAULT_KDF, KdfParams, MasterKey, derive_master, user_salt
from vibes.vault.ratelimit import PhraseLimiter
from vibes.vault.unlock import UnlockStore

# Each Argon2id run holds 64 MiB: a burst of unlocks queues instead of exhausting memory.
KDF_CONCURRENCY = 4


class VaultRuntime:
    def __init__(
        self, settings: Settings, keyring: KeyRing, redis: Any, limiter: RateLimiter
    ) -> None:
        self.lookup_key = keyring.derive("vault-lookup")
        self._user_salt_key = keyring.derive("vault-user-salt")
        self.store = UnlockStore(settings, keyring.derive("unlock-cache"), redis)
        self.limiter = PhraseLimiter(settings, limiter)
        self._kdf_slots = asyncio.Semaphore(KDF_CONCURRENCY)

    def user_salt(self, user_id: uuid.UUID) -> bytes:
        return user_salt(self._user_salt_key, user_id)

    async def derive(self, phrase: str, salt: bytes, params: KdfParams = DEFAULT_KDF) -> MasterKey:
        """One Argon2id run, in a worker thread so the event loop keeps serving."""
        async with self._kdf_slots:
            return await asyncio.to_thread(derive_master, phrase, salt, params)


def get_runtime(state: Any) -> VaultRuntime:
    """The app's vault runtime, made on first use (after the lifespan opened Redis)."""
    runtime: VaultRuntime | None = getattr(state, "vault_runtime", None)
    if runtime is None:
        runtime = VaultRuntime(state.settings, state.keyring, state.redis, state.ratelimiter)
        state.vault_runtime = runtime
    return runtime
