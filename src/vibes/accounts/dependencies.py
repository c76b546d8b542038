"""The current user: a verified access token whose session is still alive."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

from vibes.accounts import sessions
from vibes.accounts.common import Client
from vibes.accounts.sessions import SESSION_DEAD
from vibes.accounts.tokens import AccessClaims, decode_access_token
from vibes.errors import Unauthorized
from vibes.platform.runtime import DbSession, Runtime, runtime_of


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None for no header, another
    scheme or an empty token. THE parse: the routes' scheme and the hot routes use it."""
    if not authorization:
        return None
    scheme, token = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class BearerScheme(OAuth2PasswordBearer):
    """OAuth2's password flow for the interactive docs (its Authorize button), reading
    the header with `bearer_token`."""

    async def __call__(self, request: HTTPConnection) -> str | None:
        return bearer_token(request.headers.get("Authorization"))


# tokenUrl feeds the interactive docs' Authorize button.
oauth2_scheme = BearerScheme(tokenUrl="/api/v1/auth/token", auto_error=False)


def verify_bearer(runtime: Runtime, token: str | None) -> AccessClaims:
    """The token's verified claims, without touching the database; 401 without one."""
    if not token:
        raise Unauthorized()
    return decode_access_token(runtime.keyring, runtime.settings, token)


async def get_access_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> AccessClaims:
    """The token's verified claims, without touching the database.

    For hot read paths that fold the session check into their own single query; every
    other route uses `CurrentPrincipal`.
    """
    claims = verify_bearer(runtime_of(request), token)
    request.state.user_id = claims.user_id
    return claims


AccessToken = Annotated[AccessClaims, Depends(get_access_claims)]


async def get_principal(request: Request, claims: AccessToken, db: DbSession) -> AccessClaims:
    """Claims of a token whose session is alive: a revoked session fails at once."""
    if not await sessions.is_session_active(runtime_of(request), db, claims):
        raise Unauthorized(SESSION_DEAD)
    return claims


CurrentPrincipal = Annotated[AccessClaims, Depends(get_principal)]


async def get_principal_readonly(request: Request, claims: AccessToken) -> AccessClaims:
    """`CurrentPrincipal`, checked on a short read-only connection that is closed again.

    For the routes that run Argon2: the request's write session stays untouched (no pool
    connection, and on SQLite no write lock) until the password has been checked.
    """
    runtime = runtime_of(request)
    async with runtime.database.read_sessionmaker() as db:
        alive = await sessions.is_session_active(runtime, db, claims)
    if not alive:
        raise Unauthorized(SESSION_DEAD)
    return claims


ReadOnlyPrincipal = Annotated[AccessClaims, Depends(get_principal_readonly)]


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
    runtime = runtime_of(request)
    try:
        claims = verify_bearer(runtime, token)
    except Unauthorized:
        return None
    if not await sessions.is_session_active(runtime, db, claims):
        return None
    return claims


OptionalPrincipal = Annotated[AccessClaims | None, Depends(get_optional_principal)]
