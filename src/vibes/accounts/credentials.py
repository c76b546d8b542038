"""Passwords after sign-up: checking the current one, changing it, resetting a forgotten
one by mail (see `signin` for how Argon2 runs outside the write transaction)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import passwords, sessions
from vibes.accounts.common import (
    Client,
    InvalidResetToken,
    ResetMail,
    audit,
    digest,
    email_key,
    log,
    rules_of,
)
from vibes.accounts.models import AuthSession, PasswordResetToken, User
from vibes.accounts.tokens import AccessClaims
from vibes.config import Settings
from vibes.db import utcnow
from vibes.errors import (
    Forbidden,
    PreconditionFailed,
    Unauthorized,
    Unprocessable,
)
from vibes.platform.mail import mail_configured, send_mail
from vibes.platform.runtime import Runtime

# --- passwords ------------------------------------------------------------------------


async def check_current_password(
    ctx: Runtime, *, user_id: uuid.UUID, password: str, client: Client
) -> User:
    """The signed-in user, after their password checks out (rate limited both ways).

    Every attempt counts before the check (see `login`); the read connection is closed
    before Argon2 runs.
    """
    rules = rules_of(ctx.settings)
    await ctx.ratelimiter.hit(rules.password_address, client.ip)
    await ctx.ratelimiter.hit(rules.password_account, str(user_id))
    async with ctx.database.read_sessionmaker() as reader:
        user = await reader.get(User, user_id)
    if user is None:
        raise Unauthorized("The access token is invalid or has expired.")
    if not await passwords.verify_password(ctx.settings, user.password_hash, password):
        raise Forbidden("The password is not correct.")
    return user


def _strength_inputs(user: User) -> list[str]:
    return passwords.personal_words(user.email_key, user.display_name)


async def _set_password(
    db: AsyncSession, *, user_id: uuid.UUID, old_hash: str, new_hash: str
) -> None:
    result = await db.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == old_hash)
        .values(password_hash=new_hash, password_changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise PreconditionFailed("The password was changed meanwhile; try again.")
    # Any outstanding reset link was made for the old password.
    await db.execute(
        delete(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id)
        .execution_options(synchronize_session=False)
    )


async def change_password(
    db: AsyncSession,
    ctx: Runtime,
    *,
    principal: AccessClaims,
    current_password: str,
    new_password: str,
    client: Client,
) -> None:
    """New password; every session but the caller's is signed out."""
    user = await check_current_password(
        ctx, user_id=principal.user_id, password=current_password, client=client
    )
    if new_password == current_password:
        message = "The new password must differ from the current one."
        raise Unprocessable(
            message,
            errors=[{"loc": ["body", "new_password"], "msg": message, "type": "value_error"}],
        )
    await passwords.check_strength(
        ctx.settings, new_password, user_inputs=_strength_inputs(user), field="new_password"
    )
    new_hash = await passwords.hash_password(ctx.settings, new_password)
    await _set_password(db, user_id=user.id, old_hash=user.password_hash, new_hash=new_hash)
    revoked = await sessions.revoke(
        ctx,
        db,
        (AuthSession.user_id == user.id) & (AuthSession.id != principal.session_id),
        reason="password_changed",
    )
    audit(db, client, "auth.password.changed", user.id, revoked_sessions=len(revoked))


async def limit_password_reset(ctx: Runtime, *, email: str, client: Client) -> None:
    """Count a reset request (429 past the budget), before the answer and any lookup.

    The per-account limit counts the address whether or not it has an account, so its 429
    tells nothing either.
    """
    rules = rules_of(ctx.settings)
    await ctx.ratelimiter.hit(rules.reset_address, client.ip)
    await ctx.ratelimiter.hit(rules.reset_account, email_key(email))


async def request_password_reset(
    db: AsyncSession, ctx: Runtime, *, email: str, client: Client
) -> ResetMail | None:
    """A one-time reset token for the account, if there is one (limits: see above)."""
    key = email_key(email)
    user = await db.scalar(select(User).where(User.email_key == key))
    if user is None or not user.is_active:
        return None
    now = utcnow()
    # Only the newest link works.
    await db.execute(
        delete(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    db.add(
        PasswordResetToken(
            user_id=user.id,
            token_hash=digest(token),
            expires_at=now + dt.timedelta(minutes=ctx.settings.password_reset_minutes),
            requested_ip=client.ip[:64] if client.ip else None,
        )
    )
    await db.flush()
    audit(db, client, "auth.password.reset_requested", user.id)
    return ResetMail(to=user.email, token=token)


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/reset-password#token={token}"


async def send_reset_mail(settings: Settings, mail: ResetMail) -> None:
    """Mail the link (run after the answer is sent, so timing tells nothing)."""
    if not mail_configured(settings):
        log.warning(
            "password reset requested, but SMTP is not configured (VIBES_SMTP_HOST): "
            "no mail was sent"
        )
        return
    minutes = settings.password_reset_minutes
    body = (
        "Someone asked to reset the password of your Vibes account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n"
        f"{reset_link(settings, mail.token)}\n\n"
        "The link works once. If you did not ask for this, ignore this mail: "
        "your password stays as it is.\n"
    )
    try:
        await send_mail(settings, to=mail.to, subject="Reset your Vibes password", body=body)
    except Exception as exc:
        log.error("password reset mail could not be sent", error=type(exc).__name__)


async def run_password_reset(ctx: Runtime, *, email: str, client: Client) -> None:
    """The whole reset request after the 202 is sent: lookup, token, mail.

    Nothing that depends on whether the account exists happens before the answer, so its
    timing tells nothing. Runs as a background task: errors are logged, never raised.
    """
    try:
        async with ctx.database.session_scope() as db:
            mail = await request_password_reset(db, ctx, email=email, client=client)
    except Exception as exc:
        log.error("password reset request failed", error=type(exc).__name__)
        return
    if mail is not None:
        await send_reset_mail(ctx.settings, mail)


async def confirm_password_reset(
    db: AsyncSession,
    ctx: Runtime,
    *,
    token: str,
    new_password: str,
    client: Client,
) -> None:
    """Set a new password with a reset token; every session is signed out."""
    rules = rules_of(ctx.settings)
    await ctx.ratelimiter.hit(rules.reset_address, client.ip)
    now = utcnow()
    # Read and closed again before Argon2; `db` is first used after it.
    async with ctx.database.read_sessionmaker() as reader:
        row = (
            await reader.execute(
                select(PasswordResetToken, User)
                .join(User, User.id == PasswordResetToken.user_id)
                .where(PasswordResetToken.token_hash == digest(token))
            )
        ).first()
    if row is None:
        raise InvalidResetToken()
    stored, user = row
    if stored.used_at is not None or stored.expires_at <= now or not user.is_active:
        raise InvalidResetToken()
    await ctx.ratelimiter.hit(rules.reset_account, str(user.id))
    # A weak choice is refused before the token is spent: the user can try again.
    await passwords.check_strength(
        ctx.settings, new_password, user_inputs=_strength_inputs(user), field="new_password"
    )
    new_hash = await passwords.hash_password(ctx.settings, new_password)
    spent = await db.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.id == stored.id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise InvalidResetToken()
    await _set_password(db, user_id=user.id, old_hash=user.password_hash, new_hash=new_hash)
    revoked = await sessions.revoke(
        ctx, db, AuthSession.user_id == user.id, reason="password_reset"
    )
    audit(db, client, "auth.password.reset", user.id, revoked_sessions=len(revoked))
