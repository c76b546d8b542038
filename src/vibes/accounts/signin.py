"""Registration, signing in and out, refresh-token rotation, and the device list.

Functions take the request's write session (`db`, only flushed here). Where a password
must be checked, the account is read in a short read-only session that is closed again
before Argon2 runs (`ctx.database.read_sessionmaker()`), and `db` is first used after it:
a request never holds two pool connections, none while hashing, and on SQLite no write
lock while hashing. A burst of password attempts therefore cannot exhaust the pool."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from typing import NoReturn

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import invites, passwords, sessions, twofactor
from vibes.accounts.common import (
    INVALID_CREDENTIALS,
    INVALID_REFRESH,
    SPENT_TOKEN_RETENTION,
    AuthenticationFailed,
    Client,
    IssuedTokens,
    audit,
    digest,
    email_key,
    log,
    rules_of,
)
from vibes.accounts.models import SESSION_KIND, AuthSession, RefreshToken, User
from vibes.accounts.tokens import AccessClaims, issue_access_token
from vibes.config import Settings
from vibes.db import new_id, utcnow
from vibes.errors import (
    Conflict,
    NotFound,
)
from vibes.platform.runtime import Runtime

# --- registration ---------------------------------------------------------------------


async def register(
    db: AsyncSession,
    ctx: Runtime,
    *,
    email: str,
    password: str,
    display_name: str | None,
    timezone: str | None,
    client: Client,
    invite_code: str | None = None,
) -> User:
    await ctx.ratelimiter.hit(rules_of(ctx.settings).register_address, client.ip)
    # The right to register is checked before the address is looked at (no enumeration
    # without an invite); the invite is spent in the same transaction as the account.
    await invites.check_may_register(db, ctx.settings, invite_code)
    user = await create_account(
        db,
        ctx.settings,
        email=email,
        password=password,
        display_name=display_name,
        timezone=timezone,
    )
    await invites.spend_invite(db, ctx.settings, invite_code, user.id)
    audit(db, client, "account.registered", user.id)
    return user


async def create_account(
    db: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str | None,
    timezone: str | None,
) -> User:
    """A new account, whatever the registration mode (`vibes users add` calls this)."""
    key = email_key(email)
    await passwords.check_strength(
        settings,
        password,
        user_inputs=passwords.personal_words(key, display_name),
        field="password",
    )
    # Hash before the write transaction starts (see the module docstring).
    password_hash = await passwords.hash_password(settings, password)
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
    return user


# --- login, refresh, logout -----------------------------------------------------------


async def login(
    db: AsyncSession,
    ctx: Runtime,
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
    rules = rules_of(ctx.settings)
    key = email_key(email)
    await ctx.ratelimiter.hit(rules.login_address, client.ip)
    await ctx.ratelimiter.hit(rules.login_account, key)
    async with ctx.database.read_sessionmaker() as reader:
        user = await reader.scalar(select(User).where(User.email_key == key))
    stored = user.password_hash if user is not None and user.is_active else None
    if not await passwords.verify_password(ctx.settings, stored, password):
        # The attempted address is not recorded: it may be a mistyped password.
        audit(
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
    if await twofactor.is_enabled(db, user.id):
        # Only now, after the password: an unknown address or a wrong password never
        # learns whether the account has a second factor.
        mfa_token = await twofactor.open_challenge(db, user_id=user.id, device_name=device_name)
        audit(db, client, "auth.login.mfa_required", user.id)
        raise twofactor.MfaRequired(mfa_token)
    tokens = await _open_session(db, ctx, user_id=user.id, device_name=device_name, client=client)
    audit(db, client, "auth.login.succeeded", user.id, session_id=str(tokens.session_id))
    return tokens


async def finish_login(
    db: AsyncSession,
    ctx: Runtime,
    *,
    mfa_token: str,
    code: str | None,
    recovery_code: str | None,
    client: Client,
) -> IssuedTokens:
    """The second step of a 2FA sign-in: the challenge and a code give the usual pair."""
    passed = await twofactor.pass_challenge(
        db, ctx, mfa_token=mfa_token, code=code, recovery_code=recovery_code, client=client
    )
    tokens = await _open_session(
        db, ctx, user_id=passed.user_id, device_name=passed.device_name, client=client
    )
    audit(
        db,
        client,
        "auth.login.succeeded",
        passed.user_id,
        session_id=str(tokens.session_id),
        factor=passed.factor,
    )
    return tokens


async def _open_session(
    db: AsyncSession,
    ctx: Runtime,
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


def _add_refresh_token(
    db: AsyncSession, auth_session: AuthSession, token: str | None = None
) -> str:
    """A new opaque refresh token (256 bits); only its SHA-256 is stored. Random unless
    given (a rotation's successor, see `_successor`)."""
    token = token or secrets.token_urlsafe(32)
    db.add(
        RefreshToken(
            user_id=auth_session.user_id,
            session_id=auth_session.id,
            token_hash=digest(token),
            expires_at=auth_session.expires_at,
        )
    )
    return token


def _successor(ctx: Runtime, token: str) -> str:
    """The refresh token that rotation hands out for `token`: a keyed hash of it under a
    server subkey. Deterministic so that a retry within the grace window gets the *same*
    successor without the server keeping it anywhere; unguessable without the server key
    and the spent token."""
    key = ctx.keyring.derive("accounts/refresh-successor/v1")
    mac = hmac.new(key, token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


async def refresh_token_owner(db: AsyncSession, token: str) -> uuid.UUID | None:
    """The user a refresh token belongs to (spent or not), to key an `Idempotency-Key`."""
    owner: uuid.UUID | None = await db.scalar(
        select(RefreshToken.user_id).where(RefreshToken.token_hash == digest(token))
    )
    return owner


async def refresh(db: AsyncSession, ctx: Runtime, *, token: str, client: Client) -> IssuedTokens:
    """Spend a refresh token for a new pair. A spent one coming back revokes its session,
    except within the grace window (`refresh_grace_seconds`) while its successor is still
    unused: that is a retry after a lost answer, and gets the same refresh token again."""
    now = utcnow()
    row = (
        await db.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == digest(token))
        )
    ).first()
    if row is None:
        raise AuthenticationFailed(INVALID_REFRESH)
    stored, auth_session = row
    if auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise AuthenticationFailed(INVALID_REFRESH)
    spent_at = stored.used_at
    if spent_at is None:
        if stored.expires_at <= now:
            raise AuthenticationFailed(INVALID_REFRESH)
        # Spend it atomically: of two concurrent refreshes with one token exactly one
        # wins; the other (after waiting for the winner's commit) sees it spent.
        spent = await db.execute(
            update(RefreshToken)
            .where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(spent, "rowcount", 0) == 1:
            return await _rotate(db, ctx, auth_session, _successor(ctx, token), now, client)
        spent_at = await db.scalar(select(RefreshToken.used_at).where(RefreshToken.id == stored.id))
    if spent_at is not None and await _retry_in_grace(db, ctx, auth_session, token, spent_at, now):
        return await _rotate(db, ctx, auth_session, None, now, client, again=_successor(ctx, token))
    await _refresh_reused(db, ctx, auth_session, client)


async def _retry_in_grace(
    db: AsyncSession,
    ctx: Runtime,
    auth_session: AuthSession,
    token: str,
    spent_at: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Whether a spent token is a retry: spent within the grace window, and the successor
    it was rotated to is still the session's unused token (the client never moved on).
    A thief replaying it later, or after the owner moved on, is a reuse."""
    if now - spent_at > dt.timedelta(seconds=ctx.settings.refresh_grace_seconds):
        return False
    successor_unused = await db.scalar(
        select(RefreshToken.id).where(
            RefreshToken.session_id == auth_session.id,
            RefreshToken.token_hash == digest(_successor(ctx, token)),
            RefreshToken.used_at.is_(None),
        )
    )
    return successor_unused is not None


async def _rotate(
    db: AsyncSession,
    ctx: Runtime,
    auth_session: AuthSession,
    new_token: str | None,
    now: dt.datetime,
    client: Client,
    *,
    again: str | None = None,
) -> IssuedTokens:
    """Bump the session and answer with a fresh access token and `new_token` (stored
    now) or `again` (the successor already stored by the first attempt)."""
    auth_session.last_used_at = now
    auth_session.expires_at = now + dt.timedelta(days=ctx.settings.refresh_token_days)
    if client.ip:
        auth_session.ip_address = client.ip[:64]
    if client.user_agent:
        auth_session.user_agent = client.user_agent[:512]
    if new_token is not None:
        refresh_token = _add_refresh_token(db, auth_session, new_token)
        await db.execute(
            delete(RefreshToken)
            .where(
                RefreshToken.session_id == auth_session.id,
                RefreshToken.used_at < now - SPENT_TOKEN_RETENTION,
            )
            .execution_options(synchronize_session=False)
        )
    else:
        assert again is not None
        refresh_token = again
    await db.flush()
    access_token, lifetime = issue_access_token(
        ctx.keyring, ctx.settings, user_id=auth_session.user_id, session_id=auth_session.id
    )
    return IssuedTokens(access_token, refresh_token, lifetime, auth_session.id)


async def _refresh_reused(
    db: AsyncSession, ctx: Runtime, auth_session: AuthSession, client: Client
) -> NoReturn:
    """Two holders of one token: the thief or the owner, no telling. End the session."""
    await sessions.revoke(ctx, db, AuthSession.id == auth_session.id, reason="refresh_token_reuse")
    audit(db, client, "auth.refresh.reused", auth_session.user_id, session_id=str(auth_session.id))
    log.warning("refresh token reuse: session revoked", session_id=str(auth_session.id))
    raise AuthenticationFailed(INVALID_REFRESH)


async def logout(
    db: AsyncSession,
    ctx: Runtime,
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
                RefreshToken.token_hash == digest(token)
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
        audit(db, client, "auth.logout", user_id, session_id=str(session_id))


# --- sessions -------------------------------------------------------------------------


async def list_sessions(db: AsyncSession, user_id: uuid.UUID) -> list[AuthSession]:
    result = await db.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.kind == SESSION_KIND,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
    )
    return list(result)


async def revoke_session(
    db: AsyncSession,
    ctx: Runtime,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    client: Client,
) -> None:
    revoked = await sessions.revoke(
        ctx,
        db,
        (AuthSession.id == session_id)
        & (AuthSession.user_id == user_id)
        & (AuthSession.kind == SESSION_KIND),
        reason="revoked_by_user",
    )
    if not revoked:
        raise NotFound()
    audit(db, client, "auth.session.revoked", user_id, session_id=str(session_id))
