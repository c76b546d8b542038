"""The rules of accounts and sessions. Knows nothing of HTTP.

Functions take the request's write session (`db`, only flushed here). Where a password
must be checked, the account is read in a short read-only session that is closed again
before Argon2 runs (`ctx.database.read_sessionmaker()`), and `db` is first used after it:
a request never holds two pool connections, none while hashing, and on SQLite no write
lock while hashing. A burst of password attempts therefore cannot exhaust the pool.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import passwords, sessions
from vibes.accounts.models import AuthSession, PasswordResetToken, RefreshToken, User
from vibes.accounts.tokens import AccessClaims, issue_access_token
from vibes.config import Settings
from vibes.db import Database, new_id, utcnow
from vibes.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Unprocessable,
)
from vibes.events.outbox import record_event
from vibes.platform.audit import record_audit
from vibes.platform.concurrency import check_if_match
from vibes.platform.keys import KeyRing
from vibes.platform.mail import mail_configured, send_mail
from vibes.platform.ratelimit import RateLimiter, Rule

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
class Context:
    """The process-wide things the rules need (built from `app.state`)."""

    settings: Settings
    keyring: KeyRing
    redis: Redis | None
    limiter: RateLimiter
    database: Database

    @property
    def rules(self) -> Rules:
        return Rules.from_settings(self.settings)


@dataclass(frozen=True, slots=True)
class Rules:
    login_account: Rule
    login_address: Rule
    password_account: Rule
    password_address: Rule
    reset_account: Rule
    reset_address: Rule
    register_address: Rule

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
        )


_RULE_NAMES = (
    "login-account",
    "login-address",
    "password-account",
    "password-address",
    "reset-account",
    "reset-address",
    "register-address",
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


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _audit(
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


# --- registration ---------------------------------------------------------------------


async def register(
    db: AsyncSession,
    ctx: Context,
    *,
    email: str,
    password: str,
    display_name: str | None,
    timezone: str | None,
    client: Client,
) -> User:
    await ctx.limiter.hit(ctx.rules.register_address, client.ip)
    key = email_key(email)
    await passwords.check_strength(
        ctx.settings,
        password,
        user_inputs=passwords.personal_words(key, display_name),
        field="password",
    )
    # Hash before the write transaction starts (see the module docstring).
    password_hash = await passwords.hash_password(ctx.settings, password)
    if await db.scalar(select(User.id).where(User.email_key == key)) is not None:
        raise Conflict("An account with this email address already exists.")
    user = User(
        email=email.strip(),
        email_key=key,
        password_hash=password_hash,
        display_name=display_name,
        timezone=timezone or "UTC",
        password_changed_at=utcnow(),
    )
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        # Two registrations of one address raced; the unique index decided.
        raise Conflict("An account with this email address already exists.") from None
    _audit(db, client, "account.registered", user.id)
    return user


# --- login, refresh, logout -----------------------------------------------------------


async def login(
    db: AsyncSession,
    ctx: Context,
    *,
    email: str,
    password: str,
    device_name: str | None,
    client: Client,
) -> IssuedTokens:
    """Password login. Unknown address and wrong password fail alike, in about equal time.

    Every attempt is counted before the password is checked: counting only failures,
    after the check, let parallel guesses all pass the limit before any was counted.
    """
    rules = ctx.rules
    key = email_key(email)
    await ctx.limiter.hit(rules.login_address, client.ip)
    await ctx.limiter.hit(rules.login_account, key)
    async with ctx.database.read_sessionmaker() as reader:
        user = await reader.scalar(select(User).where(User.email_key == key))
    stored = user.password_hash if user is not None and user.is_active else None
    if not await passwords.verify_password(ctx.settings, stored, password):
        # The attempted address is not recorded: it may be a mistyped password.
        _audit(
            db,
            client,
            "auth.login.failed",
            user.id if user is not None else None,
            reason="bad_password" if user is not None else "unknown_account",
        )
        raise AuthenticationFailed(INVALID_CREDENTIALS)
    assert user is not None
    assert stored is not None
    if passwords.needs_rehash(ctx.settings, stored):
        new_hash = await passwords.hash_password(ctx.settings, password)
        # Only if unchanged meanwhile: never overwrite a concurrent password change.
        await db.execute(
            update(User)
            .where(User.id == user.id, User.password_hash == stored)
            .values(password_hash=new_hash)
            .execution_options(synchronize_session=False)
        )
    tokens = await _open_session(db, ctx, user_id=user.id, device_name=device_name, client=client)
    _audit(db, client, "auth.login.succeeded", user.id, session_id=str(tokens.session_id))
    return tokens


async def _open_session(
    db: AsyncSession,
    ctx: Context,
    *,
    user_id: uuid.UUID,
    device_name: str | None,
    client: Client,
) -> IssuedTokens:
    now = utcnow()
    auth_session = AuthSession(
        id=new_id(),
        user_id=user_id,
        device_name=device_name,
        user_agent=client.user_agent[:512] if client.user_agent else None,
        ip_address=client.ip[:64] if client.ip else None,
        last_used_at=now,
        expires_at=now + dt.timedelta(days=ctx.settings.refresh_token_days),
    )
    db.add(auth_session)
    await db.flush()
    refresh_token = _add_refresh_token(db, auth_session)
    await db.flush()
    access_token, lifetime = issue_access_token(
        ctx.keyring, ctx.settings, user_id=user_id, session_id=auth_session.id
    )
    return IssuedTokens(access_token, refresh_token, lifetime, auth_session.id)


def _add_refresh_token(db: AsyncSession, auth_session: AuthSession) -> str:
    """A new opaque refresh token (256 random bits); only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    db.add(
        RefreshToken(
            user_id=auth_session.user_id,
            session_id=auth_session.id,
            token_hash=_digest(token),
            expires_at=auth_session.expires_at,
        )
    )
    return token


async def refresh(db: AsyncSession, ctx: Context, *, token: str, client: Client) -> IssuedTokens:
    """Spend a refresh token for a new pair. A spent one coming back revokes its session."""
    now = utcnow()
    row = (
        await db.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == _digest(token))
        )
    ).first()
    if row is None:
        raise AuthenticationFailed(INVALID_REFRESH)
    stored, auth_session = row
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise AuthenticationFailed(INVALID_REFRESH)
    if stored.used_at is not None:
        await _refresh_reused(db, ctx, auth_session, client)
    if stored.expires_at <= now:
        raise AuthenticationFailed(INVALID_REFRESH)
    # Spend it atomically: of two concurrent refreshes with one token exactly one wins;
    # the other is a reuse.
    spent = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(spent, "rowcount", 0) != 1:
        await _refresh_reused(db, ctx, auth_session, client)
    auth_session.last_used_at = now
    auth_session.expires_at = now + dt.timedelta(days=ctx.settings.refresh_token_days)
    if client.ip:
        auth_session.ip_address = client.ip[:64]
    if client.user_agent:
        auth_session.user_agent = client.user_agent[:512]
    new_token = _add_refresh_token(db, auth_session)
    await db.execute(
        delete(RefreshToken)
        .where(
            RefreshToken.session_id == auth_session.id,
            RefreshToken.used_at < now - SPENT_TOKEN_RETENTION,
        )
        .execution_options(synchronize_session=False)
    )
    await db.flush()
    access_token, lifetime = issue_access_token(
        ctx.keyring, ctx.settings, user_id=auth_session.user_id, session_id=auth_session.id
    )
    return IssuedTokens(access_token, new_token, lifetime, auth_session.id)


async def _refresh_reused(
    db: AsyncSession, ctx: Context, auth_session: AuthSession, client: Client
) -> None:
    """Two holders of one token: the thief or the owner, no telling. End the session."""
    await sessions.revoke(ctx, db, AuthSession.id == auth_session.id, reason="refresh_token_reuse")
    _audit(db, client, "auth.refresh.reused", auth_session.user_id, session_id=str(auth_session.id))
    log.warning("refresh token reuse: session revoked", session_id=str(auth_session.id))
    raise AuthenticationFailed(INVALID_REFRESH)


async def logout(
    db: AsyncSession,
    ctx: Context,
    *,
    token: str,
    principal: AccessClaims | None,
    client: Client,
) -> None:
    """Sign a device out: the refresh token's session, and the caller's own if signed in.

    Idempotent: an unknown or spent token is not an error (there is nothing to keep alive).
    """
    targets: set[uuid.UUID] = set()
    user_id: uuid.UUID | None = None
    row = (
        await db.execute(
            select(RefreshToken.session_id, RefreshToken.user_id).where(
                RefreshToken.token_hash == _digest(token)
            )
        )
    ).first()
    if row is not None and (principal is None or row.user_id == principal.user_id):
        targets.add(row.session_id)
        user_id = row.user_id
    if principal is not None:
        targets.add(principal.session_id)
        user_id = principal.user_id
    if not targets or user_id is None:
        return
    revoked = await sessions.revoke(
        ctx,
        db,
        AuthSession.id.in_(targets) & (AuthSession.user_id == user_id),
        reason="logout",
    )
    for session_id in revoked:
        _audit(db, client, "auth.logout", user_id, session_id=str(session_id))


# --- sessions -------------------------------------------------------------------------


async def list_sessions(db: AsyncSession, user_id: uuid.UUID) -> list[AuthSession]:
    result = await db.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
    )
    return list(result)


async def revoke_session(
    db: AsyncSession,
    ctx: Context,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    client: Client,
) -> None:
    revoked = await sessions.revoke(
        ctx,
        db,
        (AuthSession.id == session_id) & (AuthSession.user_id == user_id),
        reason="revoked_by_user",
    )
    if not revoked:
        raise NotFound()
    _audit(db, client, "auth.session.revoked", user_id, session_id=str(session_id))


# --- passwords ------------------------------------------------------------------------


async def _check_current_password(
    ctx: Context, *, user_id: uuid.UUID, password: str, client: Client
) -> User:
    """The signed-in user, after their password checks out (rate limited both ways).

    Every attempt counts before the check (see `login`); the read connection is closed
    before Argon2 runs.
    """
    rules = ctx.rules
    await ctx.limiter.hit(rules.password_address, client.ip)
    await ctx.limiter.hit(rules.password_account, str(user_id))
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
    ctx: Context,
    *,
    principal: AccessClaims,
    current_password: str,
    new_password: str,
    client: Client,
) -> None:
    """New password; every session but the caller's is signed out."""
    user = await _check_current_password(
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
    _audit(db, client, "auth.password.changed", user.id, revoked_sessions=len(revoked))


async def limit_password_reset(ctx: Context, *, email: str, client: Client) -> None:
    """Count a reset request (429 past the budget), before the answer and any lookup.

    The per-account limit counts the address whether or not it has an account, so its 429
    tells nothing either.
    """
    rules = ctx.rules
    await ctx.limiter.hit(rules.reset_address, client.ip)
    await ctx.limiter.hit(rules.reset_account, email_key(email))


async def request_password_reset(
    db: AsyncSession, ctx: Context, *, email: str, client: Client
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
            token_hash=_digest(token),
            expires_at=now + dt.timedelta(minutes=ctx.settings.password_reset_minutes),
            requested_ip=client.ip[:64] if client.ip else None,
        )
    )
    await db.flush()
    _audit(db, client, "auth.password.reset_requested", user.id)
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


async def run_password_reset(ctx: Context, *, email: str, client: Client) -> None:
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
    ctx: Context,
    *,
    token: str,
    new_password: str,
    client: Client,
) -> None:
    """Set a new password with a reset token; every session is signed out."""
    rules = ctx.rules
    await ctx.limiter.hit(rules.reset_address, client.ip)
    now = utcnow()
    # Read and closed again before Argon2; `db` is first used after it.
    async with ctx.database.read_sessionmaker() as reader:
        row = (
            await reader.execute(
                select(PasswordResetToken, User)
                .join(User, User.id == PasswordResetToken.user_id)
                .where(PasswordResetToken.token_hash == _digest(token))
            )
        ).first()
    if row is None:
        raise InvalidResetToken()
    stored, user = row
    if stored.used_at is not None or stored.expires_at <= now or not user.is_active:
        raise InvalidResetToken()
    await ctx.limiter.hit(rules.reset_account, str(user.id))
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
    _audit(db, client, "auth.password.reset", user.id, revoked_sessions=len(revoked))


# --- the user -------------------------------------------------------------------------


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


async def update_user(
    db: AsyncSession,
    *,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> User:
    """Apply the given fields; `if_match` (an If-Match value) guards against lost updates."""
    user = await get_user(db, user_id)
    check_if_match(if_match, user.version)
    changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
    if not changed:
        return user
    for name in changed:
        setattr(user, name, changes[name])
    await db.flush()
    record_event(
        db,
        user_id=user.id,
        type="user.updated",
        data={"id": str(user.id), "fields": changed, "version": user.version},
    )
    return user


async def delete_account(
    db: AsyncSession,
    ctx: Context,
    *,
    principal: AccessClaims,
    password: str,
    client: Client,
) -> None:
    """Erase the account and everything it owns; its tokens fail at once.

    The audit row of the deletion names nobody (no user id, no address): a row pointing at
    the user would either be erased with them or outlive the erasure they asked for. It
    keeps only that an account was deleted, when, and from which client.
    """
    user = await _check_current_password(
        ctx, user_id=principal.user_id, password=password, client=client
    )
    session_ids = list(
        await db.scalars(select(AuthSession.id).where(AuthSession.user_id == user.id))
    )
    await sessions.forget(ctx, session_ids)
    # Foreign keys cascade to every row the user owns, in every table.
    await db.execute(
        delete(User).where(User.id == user.id).execution_options(synchronize_session=False)
    )
    _audit(db, client, "account.deleted", None)


# --- housekeeping ---------------------------------------------------------------------


async def purge_expired(db: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Delete dead sessions (their refresh tokens cascade) and spent or stale reset tokens.

    For a periodic job. Revoked sessions stay a week, like spent refresh tokens, so the
    sessions table still explains a recent sign-out; the audit log keeps the history.
    """
    now = now or utcnow()
    sessions_gone = await db.execute(
        delete(AuthSession)
        .where(
            (AuthSession.expires_at <= now) | (AuthSession.revoked_at < now - SPENT_TOKEN_RETENTION)
        )
        .execution_options(synchronize_session=False)
    )
    resets_gone = await db.execute(
        delete(PasswordResetToken)
        .where((PasswordResetToken.expires_at <= now) | PasswordResetToken.used_at.is_not(None))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(sessions_gone, "rowcount", 0)) + int(getattr(resets_gone, "rowcount", 0))
