"""Tight limits on secret-phrase and destroy-password attempts, per account and address.

One small object over the shared limiter (`platform.ratelimit`, memory or Redis, keyed
hashes of identifiers, fail-closed). Phrase budgets count failures only (a wrong phrase,
or a new tag's phrase that another tag has): someone unlocking their vaults all day is
never held back. The budgets are checked before the key derivation and a failure counted
after it, so concurrent guesses could all pass the check before the first is counted:
a per-account burst budget that counts every attempt, at three times the failure budget,
bounds that. Destroying a tag checks the account password, so it shares the password
rules (and budgets) of the accounts domain, which count every attempt.
"""

from __future__ import annotations

import uuid
from typing import Literal

from vibes.config import Settings
from vibes.platform.ratelimit import RateLimiter, Rule

Scope = Literal["phrase", "password"]


class PhraseLimiter:
    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.phrase_account = Rule.of("vault-phrase-account", settings.rate_limit_phrase_account)
        self.phrase_address = Rule.of("vault-phrase-address", settings.rate_limit_phrase_address)
        failures = self.phrase_account.limit
        self.phrase_burst = Rule(
            "vault-phrase-burst-account",
            type(failures)(failures.amount * 3, failures.multiples),
        )
        # The same names as the accounts domain's: one password budget for every endpoint.
        self.password_account = Rule.of("password-account", settings.rate_limit_password_account)
        self.password_address = Rule.of("password-address", settings.rate_limit_password_address)

    async def check_phrase(self, *, user_id: uuid.UUID, address: str | None) -> None:
        """Before a phrase is tried: 429 when the failure budgets are spent; counts the
        attempt in the burst budget only."""
        await self.limiter.check(self.phrase_address, address or "unknown")
        await self.limiter.check(self.phrase_account, str(user_id))
        await self.limiter.hit(self.phrase_burst, str(user_id))

    async def hit(self, scope: Scope, *, user_id: uuid.UUID, address: str | None) -> None:
        """Count one failed phrase attempt, or one destroy-password attempt (429 with
        Retry-After past either budget)."""
        if scope == "phrase":
            await self.limiter.hit(self.phrase_address, address or "unknown")
            await self.limiter.hit(self.phrase_account, str(user_id))
        else:
            # Counted before the slow password check, like the accounts domain does, so
            # parallel guesses cannot all pass a check made before any failure is counted.
            await self.limiter.hit(self.password_address, address or "unknown")
            await self.limiter.hit(self.password_account, str(user_id))
