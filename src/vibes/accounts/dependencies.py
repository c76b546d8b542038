"""The current user: a verified bearer whose session is still alive.

A bearer is a session's access token (a JWT) or a personal access token (`vibes_pat_`,
see `accounts.pats`); `get_access_claims` is the one place that tells them apart, and
the one place that refuses a read-only token on a write. Routes that manage tokens,
sessions, 2FA or the account itself take `SessionPrincipal`, which refuses every PAT."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

from vibes.accounts import pats, sessions
from vibes.accounts.common import Client
from vibes.accounts.sessions import SESSION_DEAD
from vibes.accounts.tokens import AccessClaims, decode_access_token
from vibes.db import SAFE_METHODS
from vibes.errors import Forbidden, Unauthorized
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


class InsufficientScope(Forbidden):
    type_suffix = "insufficient-scope"


class SessionRequired(Forbidden):
    type_suffix = "session-required"


READ_ONLY_TOKEN = "This access token may only read (scope `read`)."
SESSION_ONLY = (
    "Access tokens cannot manage tokens, sessions, two-factor sign-in or the account; "
    "sign in with the password for that."
)


def verify_bearer(runtime: Runtime, token: str | None) -> AccessClaims:
    """A JWT's verified claims, without touching the database; 401 without one. (A
    personal access token needs the database: see `verify_any_bearer`.)"""
    if not token:
        raise Unauthorized()
    return decode_access_token(runtime.keyring, runtime.settings, token)


async def verify_any_bearer(runtime: Runtime, token: str | None) -> AccessClaims:
    """The claims of either kind of bearer (a JWT, or a `vibes_pat_` token); 401."""
    if token and pats.is_personal_token(token):
        return await pats.authenticate(runtime, token)
    return verify_bearer(runtime, token)


async def get_access_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> AccessClaims:
    """The bearer's verified claims (a JWT's without touching the database).

    For hot read paths that fold the session check into their own single query; every
    other route uses `CurrentPrincipal`, which depends on this. A read-only personal
    access token gets its 403 here, on any method but GET, HEAD and OPTIONS.
    """
    claims = await verify_any_bearer(runtime_of(request), token)
    if not claims.may_write and request.method not in SAFE_METHODS:
        raise InsufficientScope(READ_ONLY_TOKEN)
    request.state.user_id = claims.user_id
    return claims


AccessToken = Annotated[AccessClaims, Depends(get_access_claims)]


async def get_principal(request: Request, claims: AccessToken, db: DbSession) -> AccessClaims:
    """Claims of a token whose session is alive: a revoked session fails at once."""
    if not await sessions.is_session_active(runtime_of(request), db, claims):
        raise Unauthorized(SESSION_DEAD)
    return claims


CurrentPrincipal = Annotated[AccessClaims, Depends(get_principal)]


def refuse_personal_token(claims: AccessClaims) -> AccessClaims:
    if claims.is_personal_token:
        raise SessionRequired(SESSION_ONLY)
    return claims


async def get_session_principal(principal: CurrentPrincipal) -> AccessClaims:
    """`CurrentPrincipal` of a signed-in session: a personal access token gets 403."""
    return refuse_personal_token(principal)


SessionPrincipal = Annotated[AccessClaims, Depends(get_session_principal)]


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


async def get_session_principal_readonly(principal: ReadOnlyPrincipal) -> AccessClaims:
    """`ReadOnlyPrincipal` of a signed-in session: a personal access token gets 403."""
    return refuse_personal_token(principal)


ReadOnlySessionPrincipal = Annotated[AccessClaims, Depends(get_session_principal_readonly)]


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
    """The caller's live-session claims when a valid token is sent; None otherwise. (Its
    one user, signing out, manages sessions: a personal access token gets 403.)"""
    runtime = runtime_of(request)
    try:
        claims = await verify_any_bearer(runtime, token)
    except Unauthorized:
        return None
    if not await sessions.is_session_active(runtime, db, claims):
        return None
    return refuse_personal_token(claims)


OptionalPrincipal = Annotated[AccessClaims | None, Depends(get_optional_principal)]
