"""The account itself: profile, deletion, and housekeeping of expired rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from vibes.accounts import sessions
from vibes.accounts.common import (
    SPENT_TOKEN_RETENTION,
    Client,
    audit,
)
from vibes.accounts.credentials import check_current_password
from vibes.accounts.models import AuthSession, PasswordResetToken, User
from vibes.accounts.tokens import AccessClaims
from vibes.db import utcnow
from vibes.errors import (
    NotFound,
)
from vibes.platform import textsearch
from vibes.platform.concurrency import check_if_match
from vibes.platform.portable import lock_rows
from vibes.platform.runtime import Runtime
from vibes.recording.record import record_event

# --- the user -------------------------------------------------------------------------


async def get_user(db: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    """The user or 404. `for_update` locks the row until the transaction ends (see
    `update_user`)."""
    if for_update:
        user = await db.scalar(lock_rows(select(User).where(User.id == user_id), db))
    else:
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
    """Apply the given fields; `if_match` (an If-Match value) guards against lost updates.
    Without it, concurrent updates wait for the row lock and apply in turn (no 412)."""
    user = await get_user(db, user_id, for_update=True)
    check_if_match(if_match, user.version)
    changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
    if not changed:
        return user
    for name in changed:
        setattr(user, name, changes[name])
    if "language" in changed:
        # Entries are re-indexed in the background (`journals.reindex`); until then
        # searches query the old configuration too.
        user.search_configs = textsearch.configs_after_change(user.language, user.search_configs)
    await db.flush()
    record_event(
        db,
        user_id=user.id,
        type="user.updated",
        data={"id": str(user.id), "fields": changed, "version": user.version},
    )
    return user


async def language_of(db: AsyncSession | AsyncConnection, user_id: uuid.UUID) -> str:
    """The account's search language (the in-memory matcher of secret entries stems in it)."""
    language = await db.scalar(select(User.language).where(User.id == user_id))
    return language or textsearch.DEFAULT_LANGUAGE


async def delete_account(
    db: AsyncSession,
    ctx: Runtime,
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
    user = await check_current_password(
        ctx, user_id=principal.user_id, password=password, client=client
    )
    session_ids = list(
        await db.scalars(select(AuthSession.id).where(AuthSession.user_id == user.id))
    )
    await sessions.forget(ctx, session_ids)
    sessions.announce_after_commit(ctx, db, [(sid, user.id) for sid in session_ids])
    # Foreign keys cascade to every row the user owns, in every table.
    await db.execute(
        delete(User).where(User.id == user.id).execution_options(synchronize_session=False)
    )
    audit(db, client, "account.deleted", None)


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
