"""What the accounts rules share: who is asking, the attempt limits, issued tokens,
the audit trail."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.config import Settings
from vibes.errors import (
    DomainError,
    Unauthorized,
)
from vibes.platform.audit import record_audit
from vibes.platform.ratelimit import Rule

log = structlog.get_logger("vibes.accounts")

INVALID_CREDENTIALS = "The email or password is not correct."
INVALID_REFRESH = "The refresh token is invalid, expired or already used."
# Spent refresh tokens are kept this long so a stolen one coming back is recognised.
SPENT_TOKEN_RETENTION = dt.timedelta(days=7)


class AuthenticationFailed(Unauthorized):
    """A 401 whose side effects (audit row, revoked session) must still be committed.

    Routers catch it and *return* the problem, so the unit of work commits.
    """


class InvalidResetToken(DomainError):
    status, title, type_suffix = 400, "Invalid reset link", "invalid-reset-token"

    def __init__(self) -> None:
        super().__init__("The password reset link is invalid, expired or already used.")


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking: recorded on sessions and audit rows, and a rate-limit key."""

    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Rules:
    login_account: Rule
    login_address: Rule
    password_account: Rule
    password_address: Rule
    reset_account: Rule
    reset_address: Rule
    register_address: Rule
    mfa_account: Rule
    mfa_address: Rule

    @classmethod
    def from_settings(cls, s: Settings) -> Rules:
        return _rules(
            s.rate_limit_login_account,
            s.rate_limit_login_address,
            s.rate_limit_password_account,
            s.rate_limit_password_address,
            s.rate_limit_reset_account,
            s.rate_limit_reset_address,
            s.rate_limit_register_address,
            s.rate_limit_mfa_account,
            s.rate_limit_mfa_address,
        )


_RULE_NAMES = (
    "login-account",
    "login-address",
    "password-account",
    "password-address",
    "reset-account",
    "reset-address",
    "register-address",
    "mfa-account",
    "mfa-address",
)


@functools.lru_cache(maxsize=8)
def _rules(*specs: str) -> Rules:
    return Rules(*(Rule.of(name, spec) for name, spec in zip(_RULE_NAMES, specs, strict=True)))


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ResetMail:
    to: str
    token: str


def email_key(email: str) -> str:
    """What makes two addresses the same account: trimmed, NFC and case-folded."""
    return unicodedata.normalize("NFC", email.strip()).casefold()


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def audit(
    db: AsyncSession, client: Client, action: str, user_id: uuid.UUID | None, **details: Any
) -> None:
    record_audit(
        db,
        action=action,
        user_id=user_id,
        ip_address=client.ip,
        user_agent=client.user_agent,
        details=details,
    )


def rules_of(settings: Settings) -> Rules:
    return Rules.from_settings(settings)
