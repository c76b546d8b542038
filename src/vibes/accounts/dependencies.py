"""The current user: a verified access token whose session is still alive."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import sessions
from vibes.accounts.tokens import AccessClaims, decode_access_token
from vibes.db import get_session
from vibes.errors import Unauthorized

# tokenUrl feeds the interactive docs' Authorize button.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_access_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> AccessClaims:
    """The token's verified claims, without touching the database.

    For hot read paths that fold the session check into their own single query; every
    other route uses `CurrentPrincipal`.
    """
    if not token:
        raise Unauthorized()
    state = request.app.state
    claims = decode_access_token(state.keyring, state.settings, token)
    request.state.user_id = claims.user_id
    return claims


AccessToken = Annotated[AccessClaims, Depends(get_access_claims)]


async def get_principal(request: Request, claims: AccessToken, db: DbSession) -> AccessClaims:
    """Claims of a token whose session is alive: a revoked session fails at once."""
    if not await sessions.is_session_active(request.app.state, db, claims):
        raise Unauthorized("The access token is invalid or has expired.")
    return claims


CurrentPrincipal = Annotated[AccessClaims, Depends(get_principal)]
