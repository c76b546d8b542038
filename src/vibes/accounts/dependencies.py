"""The current user: a verified access token whose session is still alive."""

from __future__ import annotations

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


async def get_principal_readonly(request: Request, claims: AccessToken) -> AccessClaims:
    """`CurrentPrincipal`, checked on a short read-only connection that is closed again.

    For the routes that run Argon2: the request's write session stays untouched (no pool
    connection, and on SQLite no write lock) until the password has been checked.
    """
    database: Database = request.app.state.database
    async with database.read_sessionmaker() as db:
        alive = await sessions.is_session_active(request.app.state, db, claims)
    if not alive:
        raise Unauthorized("The access token is invalid or has expired.")
    return claims


ReadOnlyPrincipal = Annotated[AccessClaims, Depends(get_principal_readonly)]


def get_context(request: Request) -> Context:
    state = request.app.state
    return Context(
        settings=state.settings,
        keyring=state.keyring,
        redis=state.redis,
        limiter=state.ratelimiter,
        database=state.database,
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
