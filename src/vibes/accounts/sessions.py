"""Is this access token's session alive? The check every authenticated request makes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import AuthSession
from vibes.accounts.tokens import AccessClaims
from vibes.db import utcnow


def session_alive_clause(claims: AccessClaims) -> Any:
    """A WHERE clause true when the claims' session is alive, for folding into one query."""
    return (
        (AuthSession.id == claims.session_id)
        & (AuthSession.user_id == claims.user_id)
        & AuthSession.revoked_at.is_(None)
        & (AuthSession.expires_at > utcnow())
    )


async def is_session_active(state: Any, db: AsyncSession, claims: AccessClaims) -> bool:
    found = await db.scalar(select(AuthSession.id).where(session_alive_clause(claims)))
    return found is not None
