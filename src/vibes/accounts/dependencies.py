"""The current user: a verified access token whose session is still alive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import sessions
from vibes.accounts.service import Client, Context
from vibes.accounts.tokens import AccessClaims, decode_access_token
from vibes.db import Database, get_session
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


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """An autocommit session for reads a write route does before its transaction starts."""
    database: Database = request.app.state.database
    async with database.read_sessionmaker() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(get_read_session)]


def get_context(request: Request) -> Context:
    state = request.app.state
    return Context(
        settings=state.settings, keyring=state.keyring, redis=state.redis, limiter=state.ratelimiter
    )


AccountsContext = Annotated[Context, Depends(get_context)]


def get_client(request: Request) -> Client:
    user_agent = request.headers.get("user-agent")
    return Client(
        ip=request.client.host if request.client else None,
        user_agent=user_agent[:512] if user_agent else None,
    )


ClientInfo = Annotated[Client, Depends(get_client)]


async def get_optional_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)], db: DbSession
) -> AccessClaims | None:
    """The caller's live-session claims when a valid token is sent; None otherwise."""
    if not token:
        return None
    state = request.app.state
    try:
        claims = decode_access_token(state.keyring, state.settings, token)
    except Unauthorized:
        return None
    if not await sessions.is_session_active(state, db, claims):
        return None
    return claims


OptionalPrincipal = Annotated[AccessClaims | None, Depends(get_optional_principal)]
