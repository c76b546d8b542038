"""HTTP routes of the accounts domain: parse, call the service, choose the status code."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request, Response
from fastapi.responses import JSONResponse

from vibes.accounts import credentials, signin, users
from vibes.accounts.common import AuthenticationFailed, IssuedTokens
from vibes.accounts.dependencies import (
    ClientInfo,
    CurrentPrincipal,
    OptionalPrincipal,
    ReadOnlySessionPrincipal,
    SessionPrincipal,
)
from vibes.accounts.models import User
from vibes.accounts.replay import TokenSealedKeeping
from vibes.accounts.schemas import (
    AccountDeleteIn,
    LoginIn,
    LogoutIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshIn,
    RegisterIn,
    SessionRead,
    TokenForm,
    TokenPair,
    UserRead,
    UserUpdate,
)
from vibes.errors import domain_problem
from vibes.platform.concurrency import (
    IfMatchHeader,
    IfNoneMatchHeader,
    etag_for,
    if_none_match_hits,
    not_modified,
)
from vibes.platform.idempotency import IdempotencyKeyHeader, idempotent
from vibes.platform.runtime import CurrentRuntime, DbSession

router = APIRouter(tags=["accounts"])

_PROBLEM: dict[str, object] = {"content": {"application/problem+json": {}}}
_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {
        "description": "Invalid credentials; or, for an account with two-factor sign-in, "
        "the problem `mfa-required` with an `mfa_token` for POST /auth/2fa/verify",
        **_PROBLEM,
    },
    429: {"description": "Too many attempts (see Retry-After)", **_PROBLEM},
}
# Routes of a signed-in user that ask for the password again: a wrong one is a 403 (the
# access token is fine, so no 401 that would send a client to sign in again).
_PASSWORD_CHECK_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Not signed in: no valid access token", **_PROBLEM},
    403: {"description": "The password is not correct", **_PROBLEM},
    429: {"description": "Too many attempts (see Retry-After)", **_PROBLEM},
}


def _failure(exc: AuthenticationFailed) -> JSONResponse:
    """Answer a 401 by *returning* it, so the unit of work still commits what the service
    wrote on the way (the audit row, the revoked session)."""
    return domain_problem(exc)


def _pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


def _user(response: Response, user: User) -> UserRead:
    response.headers["ETag"] = etag_for(user.version)
    return UserRead.model_validate(user)


@router.post(
    "/auth/register",
    status_code=201,
    response_model=UserRead,
    responses={
        403: {"description": "Registration closed, or a valid invite code needed", **_PROBLEM},
        409: {"description": "Email already registered", **_PROBLEM},
    },
)
async def register(
    body: RegisterIn,
    response: Response,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> UserRead:
    user = await signin.register(
        db,
        ctx,
        email=str(body.email),
        password=body.password,
        display_name=body.display_name,
        timezone=body.timezone,
        client=client,
        invite_code=body.invite_code,
    )
    response.headers["Location"] = "/api/v1/users/me"
    return _user(response, user)


@router.post("/auth/login", response_model=TokenPair, responses=_AUTH_ERRORS)
async def login(
    body: LoginIn, db: DbSession, ctx: CurrentRuntime, client: ClientInfo
) -> TokenPair | JSONResponse:
    try:
        tokens = await signin.login(
            db,
            ctx,
            email=body.email,
            password=body.password,
            device_name=body.device_name,
            client=client,
        )
    except AuthenticationFailed as exc:
        return _failure(exc)
    return _pair(tokens)


@router.post("/auth/token", response_model=TokenPair, responses=_AUTH_ERRORS)
async def token(
    form: Annotated[TokenForm, Form()],
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> TokenPair | JSONResponse:
    """The OAuth2 password flow, for the interactive docs' Authorize button."""
    try:
        tokens = await signin.login(
            db,
            ctx,
            email=form.username,
            password=form.password,
            device_name="API docs",
            client=client,
        )
    except AuthenticationFailed as exc:
        return _failure(exc)
    return _pair(tokens)


@router.post("/auth/refresh", response_model=TokenPair, responses=_AUTH_ERRORS)
async def refresh(
    request: Request,
    body: RefreshIn,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Rotate the pair. With `Idempotency-Key`, a retry replays the first answer: keyed
    by the refresh token's user (there is no signed-in user yet), and kept sealed under
    a key only the presented refresh token gives (the answer holds live tokens)."""

    async def produce() -> Response:
        try:
            tokens = await signin.refresh(db, ctx, token=body.refresh_token, client=client)
        except AuthenticationFailed as exc:
            return _failure(exc)
        return JSONResponse(_pair(tokens).model_dump(mode="json"))

    owner = await signin.refresh_token_owner(db, body.refresh_token) if idempotency_key else None
    if owner is None:
        # No key, or a token no one holds: nothing to key a replay by (the answer is 401).
        return await produce()
    return await idempotent(
        db,
        user_id=owner,
        key=idempotency_key,
        request=request,
        produce=produce,
        keeping=TokenSealedKeeping(body.refresh_token),
    )


# The bearer is optional: an expired access token must not keep a device signed in.
@router.post("/auth/logout", status_code=204, openapi_extra={"security": [{}]})
async def logout(
    body: LogoutIn,
    principal: OptionalPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await signin.logout(db, ctx, token=body.refresh_token, principal=principal, client=client)
    return Response(status_code=204)


@router.get("/auth/sessions", response_model=list[SessionRead])
async def list_sessions(principal: SessionPrincipal, db: DbSession) -> list[SessionRead]:
    rows = await signin.list_sessions(db, principal.user_id)
    return [
        SessionRead(
            id=row.id,
            device_name=row.device_name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            current=row.id == principal.session_id,
        )
        for row in rows
    ]


@router.delete("/auth/sessions/{session_id}", status_code=204)
async def revoke_session(
    session_id: uuid.UUID,
    principal: SessionPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await signin.revoke_session(
        db, ctx, user_id=principal.user_id, session_id=session_id, client=client
    )
    return Response(status_code=204)


@router.post("/auth/password", status_code=204, responses=_PASSWORD_CHECK_ERRORS)
async def change_password(
    body: PasswordChangeIn,
    principal: ReadOnlySessionPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await credentials.change_password(
        db,
        ctx,
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        client=client,
    )
    return Response(status_code=204)


@router.post("/auth/password-reset", status_code=202)
async def request_password_reset(
    body: PasswordResetIn,
    background: BackgroundTasks,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> dict[str, str]:
    await credentials.limit_password_reset(ctx, email=body.email, client=client)
    # Lookup, token and mail all run after the answer: its timing tells nothing.
    background.add_task(credentials.run_password_reset, ctx, email=body.email, client=client)
    return {"detail": "If an account uses this address, a reset link is on its way."}


@router.post("/auth/password-reset/confirm", status_code=204)
async def confirm_password_reset(
    body: PasswordResetConfirmIn,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await credentials.confirm_password_reset(
        db, ctx, token=body.token, new_password=body.new_password, client=client
    )
    return Response(status_code=204)


@router.get("/users/me", response_model=UserRead, responses={304: {"description": "Unchanged"}})
async def get_me(
    principal: CurrentPrincipal,
    response: Response,
    db: DbSession,
    if_none_match: IfNoneMatchHeader = None,
) -> UserRead | Response:
    user = await users.get_user(db, principal.user_id)
    if if_none_match_hits(if_none_match, user.version):
        return not_modified(user.version)
    return _user(response, user)


@router.patch("/users/me", response_model=UserRead)
async def update_me(
    body: UserUpdate,
    principal: SessionPrincipal,
    response: Response,
    db: DbSession,
    if_match: IfMatchHeader = None,
) -> UserRead:
    user = await users.update_user(
        db,
        user_id=principal.user_id,
        changes=body.model_dump(exclude_unset=True),
        if_match=if_match,
    )
    return _user(response, user)


@router.delete("/users/me", status_code=204, responses=_PASSWORD_CHECK_ERRORS)
async def delete_me(
    body: AccountDeleteIn,
    principal: ReadOnlySessionPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await users.delete_account(db, ctx, principal=principal, password=body.password, client=client)
    return Response(status_code=204)
