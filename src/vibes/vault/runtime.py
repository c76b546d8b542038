"""The vault's per-process machinery: unlock store, phrase limiter, bounded KDF runs."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import Request

from vibes.platform.runtime import Runtime, runtime_of
from vibes.vault.crypto import DEFAULT_KDF, KdfParams, MasterKey, derive_master, user_salt
from vibes.vault.ratelimit import PhraseLimiter
from vibes.vault.unlock import UnlockStore

# Each Argon2id run holds 64 MiB: a burst of unlocks queues instead of exhausting memory.
KDF_CONCURRENCY = 4


class VaultRuntime:
    """Built with the process runtime (`vibes.runtime.open_runtime`), found with
    `vault_runtime(request)`."""

    def __init__(self, core: Runtime) -> None:
        keyring = core.keyring
        self.lookup_key = keyring.derive("vault-lookup")
        self._user_salt_key = keyring.derive("vault-user-salt")
        self.store = UnlockStore(core.settings, keyring.derive("unlock-cache"), core.redis)
        self.limiter = PhraseLimiter(core.settings, core.ratelimiter)
        self._kdf_slots = asyncio.Semaphore(KDF_CONCURRENCY)

    def user_salt(self, user_id: uuid.UUID) -> bytes:
        return user_salt(self._user_salt_key, user_id)

    async def derive(self, phrase: str, salt: bytes, params: KdfParams = DEFAULT_KDF) -> MasterKey:
        """One Argon2id run, in a worker thread so the event loop keeps serving."""
        async with self._kdf_slots:
            return await asyncio.to_thread(derive_master, phrase, salt, params)


def vault_runtime(request: Request) -> VaultRuntime:
    return runtime_of(request).part(VaultRuntime)
