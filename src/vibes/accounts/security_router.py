"""HTTP routes of personal access tokens and two-factor sign-in (the accounts domain).

Managing either needs a signed-in session (`SessionPrincipal`): a personal access token
gets 403 here, whatever its scopes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from vibes.accounts import pats, signin, twofactor
from vibes.accounts.common import AuthenticationFailed
from vibes.accounts.dependencies import ClientInfo, ReadOnlySessionPrincipal, SessionPrincipal
from vibes.accounts.models import PersonalAccessToken
from vibes.accounts.schemas import (
    AccessTokenCreate,
    AccessTokenCreated,
    AccessTokenRead,
    MfaVerifyIn,
    RecoveryCodesRead,
    TokenPair,
    TotpCodeIn,
    TotpDisableIn,
    TotpSetupRead,
    TwoFactorStatus,
)
from vibes.errors import domain_problem
from vibes.platform.runtime import CurrentRuntime, DbSession

router = APIRouter(tags=["accounts"])

_PROBLEM: dict[str, object] = {"content": {"application/problem+json": {}}}
_SESSION_ONLY: dict[int | str, dict[str, object]] = {
    403: {"description": "A personal access token cannot do this", **_PROBLEM},
}
_CODE_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"description": "Wrong code or password, or a personal access token", **_PROBLEM},
    409: {"description": "Two-factor sign-in is not in the state this needs", **_PROBLEM},
    429: {"description": "Too many attempts (see Retry-After)", **_PROBLEM},
}


def _read(row: PersonalAccessToken) -> AccessTokenRead:
    return AccessTokenRead(
        id=row.id,
        name=row.name,
        scopes=sorted(pats.scopes_of(row.scopes)),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


@router.post(
    "/auth/tokens", status_code=201, response_model=AccessTokenCreated, responses=_SESSION_ONLY
)
async def create_token(
    body: AccessTokenCreate,
    principal: SessionPrincipal,
    db: DbSession,
    client: ClientInfo,
) -> AccessTokenCreated:
    row, token = await pats.create_token(
        db,
        user_id=principal.user_id,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
        client=client,
    )
    return AccessTokenCreated(**_read(row).model_dump(), token=token)


@router.get("/auth/tokens", response_model=list[AccessTokenRead], responses=_SESSION_ONLY)
async def list_tokens(principal: SessionPrincipal, db: DbSession) -> list[AccessTokenRead]:
    return [_read(row) for row in await pats.list_tokens(db, principal.user_id)]


@router.delete(
    "/auth/tokens/{token_id}",
    status_code=204,
    responses={**_SESSION_ONLY, 404: {"description": "No such token", **_PROBLEM}},
)
async def revoke_token(
    token_id: uuid.UUID,
    principal: SessionPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await pats.revoke_token(db, ctx, user_id=principal.user_id, token_id=token_id, client=client)
    return Response(status_code=204)


@router.get("/auth/2fa", response_model=TwoFactorStatus, responses=_SESSION_ONLY)
async def two_factor_status(principal: SessionPrincipal, db: DbSession) -> TwoFactorStatus:
    enabled, left = await twofactor.status(db, principal.user_id)
    return TwoFactorStatus(enabled=enabled, recovery_codes_left=left)


@router.post("/auth/2fa/setup", response_model=TotpSetupRead, responses=_CODE_ERRORS)
async def setup_two_factor(
    principal: SessionPrincipal, db: DbSession, ctx: CurrentRuntime, client: ClientInfo
) -> TotpSetupRead:
    """A new secret for the authenticator app; 2FA turns on once a code confirms it."""
    made = await twofactor.setup(db, ctx, user_id=principal.user_id, client=client)
    return TotpSetupRead(secret=made.secret, otpauth_uri=made.otpauth_uri, qr_svg=made.qr_svg)


@router.post("/auth/2fa/confirm", response_model=RecoveryCodesRead, responses=_CODE_ERRORS)
async def confirm_two_factor(
    body: TotpCodeIn,
    principal: SessionPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> RecoveryCodesRead:
    codes = await twofactor.confirm(
        db, ctx, user_id=principal.user_id, code=body.code, client=client
    )
    return RecoveryCodesRead(recovery_codes=codes)


@router.post("/auth/2fa/disable", status_code=204, responses=_CODE_ERRORS)
async def disable_two_factor(
    body: TotpDisableIn,
    principal: ReadOnlySessionPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    await twofactor.disable(
        db,
        ctx,
        user_id=principal.user_id,
        password=body.password,
        code=body.code,
        client=client,
    )
    return Response(status_code=204)


@router.post(
    "/auth/2fa/verify",
    response_model=TokenPair,
    responses={
        401: {"description": "Wrong or spent code, or an expired mfa_token", **_PROBLEM},
        429: {"description": "Too many attempts (see Retry-After)", **_PROBLEM},
    },
)
async def verify_two_factor(
    body: MfaVerifyIn, db: DbSession, ctx: CurrentRuntime, client: ClientInfo
) -> TokenPair | JSONResponse:
    """The second step of a sign-in that answered `mfa-required`: the usual pair."""
    try:
        tokens = await signin.finish_login(
            db,
            ctx,
            mfa_token=body.mfa_token,
            code=body.code,
            recovery_code=body.recovery_code,
            client=client,
        )
    except AuthenticationFailed as exc:
        # Returned, not raised: the audit row and the spent step still commit.
        return domain_problem(exc)
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )
