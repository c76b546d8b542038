"""TOTP two-factor sign-in (RFC 6238 with pyotp): setup, confirmation, recovery codes, the
sign-in challenge, and turning it off.

- The secret is sealed at rest (AES-256-GCM under a subkey of the server key, the
  mechanism of `platform.sealing`, bound to the user's id), so a database dump alone does
  not give anyone a second factor.
- A code works once: the newest accepted time step is kept per user and one conditional
  UPDATE (`last_step < step`) decides, so two processes, or two requests racing with one
  code, accept it at most once.
- Recovery codes (10, shown once) are stored as SHA-256 hashes (`common.digest`, the rule
  of every other one-time secret here) and spent by a conditional UPDATE.
- A password sign-in of a 2FA account answers `mfa-required` with an `mfa_token`: a
  random, hashed, single-use challenge valid `MFA_TOKEN_MINUTES`. Every code attempt is
  counted, before it is checked, against tight per-account and per-address limits.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import secrets
import uuid
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.common import (
    AuthenticationFailed,
    Client,
    audit,
    digest,
    rules_of,
)
from vibes.accounts.credentials import check_current_password
from vibes.accounts.models import MfaChallenge, RecoveryCode, User, UserTotp
from vibes.db import utcnow
from vibes.errors import Conflict, Forbidden
from vibes.platform.keys import KeyRing
from vibes.platform.runtime import Runtime
from vibes.platform.sealing import seal, unseal

# The subkey's purpose (`KeyRing.derive`): changing it makes every stored secret unreadable.
PURPOSE = "totp-secrets"
ISSUER = "Vibes"
MFA_TOKEN_PREFIX = "vibes_mfa_"
MFA_TOKEN_MINUTES = 5
RECOVERY_CODES = 10
# Codes of the previous and next 30-second step are accepted too (clock drift).
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i

INVALID_CODE = "The code is not correct, or was already used."
INVALID_CHALLENGE = "The sign-in challenge is invalid or has expired; sign in again."


class MfaRequired(AuthenticationFailed):
    """The password was right; the second factor is still to come (`mfa_token`)."""

    title, type_suffix = "Second factor required", "mfa-required"

    def __init__(self, mfa_token: str) -> None:
        super().__init__(
            "This account uses two-factor sign-in: send a code with the mfa_token "
            "to POST /auth/2fa/verify."
        )
        self.extra = {"mfa_token": mfa_token}


@dataclass(frozen=True, slots=True)
class Setup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _sealing_key(keyring: KeyRing) -> bytes:
    return keyring.derive(PURPOSE)


def _seal_secret(keyring: KeyRing, user_id: uuid.UUID, secret: str) -> str:
    return seal(_sealing_key(keyring), secret, context=user_id.bytes)


def _open_secret(keyring: KeyRing, user_id: uuid.UUID, sealed: str) -> str:
    return unseal(_sealing_key(keyring), sealed, context=user_id.bytes)


def qr_svg(text: str) -> str:
    """`text` as a QR code, an SVG document drawn on the server (segno): the web app
    shows it as an image, with no script or CDN involved."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False)
    return out.getvalue().decode()


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _normal_recovery(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step `code` is valid for around `now`, or None."""
    code = code.strip()
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def _count_attempt(ctx: Runtime, user_id: uuid.UUID, client: Client) -> None:
    rules = rules_of(ctx.settings)
    await ctx.ratelimiter.hit(rules.mfa_address, client.ip)
    await ctx.ratelimiter.hit(rules.mfa_account, str(user_id))


async def _spend_code(db: AsyncSession, ctx: Runtime, totp: UserTotp, code: str) -> bool:
    """Accept a TOTP code once: true when it is valid and its step newer than any used."""
    secret = _open_secret(ctx.keyring, totp.user_id, totp.secret_sealed)
    step = _matching_step(secret, code, utcnow())
    if step is None:
        return False
    spent = await db.execute(
        update(UserTotp)
        .where(
            UserTotp.user_id == totp.user_id,
            or_(UserTotp.last_step.is_(None), UserTotp.last_step < step),
        )
        .values(last_step=step, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return getattr(spent, "rowcount", 0) == 1


async def _spend_recovery_code(db: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
    normal = _normal_recovery(code)
    if len(normal) != 10:
        return False
    spent = await db.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == digest(normal),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return getattr(spent, "rowcount", 0) == 1


async def _spend_either(
    db: AsyncSession, ctx: Runtime, totp: UserTotp, code: str | None, recovery: str | None
) -> str | None:
    """`totp` or `recovery` when the given factor checks out (and is now spent)."""
    if code is not None and await _spend_code(db, ctx, totp, code):
        return "totp"
    if recovery is not None and await _spend_recovery_code(db, totp.user_id, recovery):
        return "recovery_code"
    return None


async def enabled_totp(db: AsyncSession, user_id: uuid.UUID) -> UserTotp | None:
    found: UserTotp | None = await db.scalar(
        select(UserTotp).where(UserTotp.user_id == user_id, UserTotp.enabled_at.is_not(None))
    )
    return found


# --- turning it on and off ---------------------------------------------------------------


async def setup(db: AsyncSession, ctx: Runtime, *, user_id: uuid.UUID, client: Client) -> Setup:
    """A new secret, pending until confirmed with a code (a second setup replaces it)."""
    user = await db.get(User, user_id)
    if user is None:
        raise Forbidden()
    row = await db.get(UserTotp, user_id)
    if row is not None and row.enabled_at is not None:
        raise Conflict("Two-factor sign-in is already on; turn it off first.")
    secret = pyotp.random_base32()
    sealed = _seal_secret(ctx.keyring, user_id, secret)
    if row is None:
        db.add(UserTotp(user_id=user_id, secret_sealed=sealed))
    else:
        row.secret_sealed = sealed
        row.last_step = None
    await db.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    audit(db, client, "auth.2fa.setup", user_id)
    return Setup(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


async def confirm(
    db: AsyncSession, ctx: Runtime, *, user_id: uuid.UUID, code: str, client: Client
) -> list[str]:
    """Turn 2FA on with a first code; the recovery codes, shown once."""
    await _count_attempt(ctx, user_id, client)
    row = await db.get(UserTotp, user_id)
    if row is None:
        raise Conflict("Start with POST /auth/2fa/setup.")
    if row.enabled_at is not None:
        raise Conflict("Two-factor sign-in is already on.")
    if not await _spend_code(db, ctx, row, code):
        raise Forbidden(INVALID_CODE)
    row.enabled_at = utcnow()
    codes = await _replace_recovery_codes(db, user_id)
    audit(db, client, "auth.2fa.enabled", user_id)
    return codes


async def _replace_recovery_codes(db: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await db.execute(
        delete(RecoveryCode)
        .where(RecoveryCode.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.add(RecoveryCode(user_id=user_id, code_hash=digest(_normal_recovery(code))))
    await db.flush()
    return codes


async def disable(
    db: AsyncSession,
    ctx: Runtime,
    *,
    user_id: uuid.UUID,
    password: str,
    code: str,
    client: Client,
) -> None:
    """Turn 2FA off: the password and a code (TOTP or a recovery code) are both needed."""
    await check_current_password(ctx, user_id=user_id, password=password, client=client)
    await _count_attempt(ctx, user_id, client)
    row = await enabled_totp(db, user_id)
    if row is None:
        raise Conflict("Two-factor sign-in is not on.")
    if await _spend_either(db, ctx, row, code, code) is None:
        raise Forbidden(INVALID_CODE)
    await db.delete(row)
    await db.execute(
        delete(RecoveryCode)
        .where(RecoveryCode.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    await db.flush()
    audit(db, client, "auth.2fa.disabled", user_id)


# --- the sign-in challenge ---------------------------------------------------------------


async def open_challenge(db: AsyncSession, *, user_id: uuid.UUID, device_name: str | None) -> str:
    """A new `mfa_token` for a sign-in whose password was right; the user's spent or
    expired challenges are cleared on the way."""
    now = utcnow()
    await db.execute(
        delete(MfaChallenge)
        .where(
            MfaChallenge.user_id == user_id,
            or_(MfaChallenge.used_at.is_not(None), MfaChallenge.expires_at <= now),
        )
        .execution_options(synchronize_session=False)
    )
    token = MFA_TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.add(
        MfaChallenge(
            user_id=user_id,
            token_hash=digest(token),
            device_name=device_name,
            expires_at=now + dt.timedelta(minutes=MFA_TOKEN_MINUTES),
        )
    )
    await db.flush()
    return token


@dataclass(frozen=True, slots=True)
class Passed:
    user_id: uuid.UUID
    device_name: str | None
    factor: str


async def pass_challenge(
    db: AsyncSession,
    ctx: Runtime,
    *,
    mfa_token: str,
    code: str | None,
    recovery_code: str | None,
    client: Client,
) -> Passed:
    """Spend the challenge with a TOTP code or a recovery code; 401 otherwise (the
    challenge stays usable for another try until it expires, within the limits)."""
    rules = rules_of(ctx.settings)
    await ctx.ratelimiter.hit(rules.mfa_address, client.ip)
    now = utcnow()
    challenge = await db.scalar(
        select(MfaChallenge).where(MfaChallenge.token_hash == digest(mfa_token))
    )
    if challenge is None or challenge.used_at is not None or challenge.expires_at <= now:
        raise AuthenticationFailed(INVALID_CHALLENGE)
    await ctx.ratelimiter.hit(rules.mfa_account, str(challenge.user_id))
    totp = await enabled_totp(db, challenge.user_id)
    if totp is None:
        raise AuthenticationFailed(INVALID_CHALLENGE)
    factor = await _spend_either(db, ctx, totp, code, recovery_code)
    if factor is None:
        audit(db, client, "auth.2fa.failed", challenge.user_id)
        raise AuthenticationFailed(INVALID_CODE)
    spent = await db.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id == challenge.id, MfaChallenge.used_at.is_(None))
        .values(used_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise AuthenticationFailed(INVALID_CHALLENGE)
    return Passed(user_id=challenge.user_id, device_name=challenge.device_name, factor=factor)


async def is_enabled(db: AsyncSession, user_id: uuid.UUID) -> bool:
    return await enabled_totp(db, user_id) is not None


async def status(db: AsyncSession, user_id: uuid.UUID) -> tuple[bool, int]:
    """Whether 2FA is on, and how many recovery codes are left."""
    enabled = await is_enabled(db, user_id)
    left = 0
    if enabled:
        left = len(
            list(
                await db.scalars(
                    select(RecoveryCode.id).where(
                        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                    )
                )
            )
        )
    return enabled, left
