"""Sign-in for the web app: the refresh token in an HttpOnly cookie, never in script.

The browser app signs in here instead of `POST /auth/login`: the answer carries only the
access token (kept in the page's memory) and sets the refresh token as a cookie that
script cannot read (`HttpOnly`), that is sent only to these three routes (`Path`), never
on a request started by another site (`SameSite=Strict`) and only over TLS when the app
is served over TLS (`Secure`). Every other route stays bearer-only, so the cookie alone
opens nothing.

CSRF: each route here requires the `X-Vibes-CSRF: 1` header, which a cross-site form
cannot send and a cross-site script can only send after a CORS preflight that this API
never grants with credentials; and an `Origin` header, when the browser sends one, must
be this server's own. The same rules as the bearer routes apply inside (rate limits,
rotation, reuse detection); the routes call the accounts service and nothing else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from vibes.accounts import signin
from vibes.accounts.common import AuthenticationFailed, IssuedTokens
from vibes.accounts.dependencies import ClientInfo, OptionalPrincipal
from vibes.accounts.schemas import LoginIn, MfaVerifyIn
from vibes.errors import problem
from vibes.platform.runtime import CurrentRuntime, DbSession, Runtime

PREFIX = "/auth/web"
COOKIE_NAME = "vibes_refresh"
CSRF_HEADER = "x-vibes-csrf"

# The CSRF rule in the schema: generated clients send the header, and fuzzers get past it.
_CSRF_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Vibes-CSRF",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "enum": ["1"]},
            "description": "Always `1`: a cross-site form cannot send it.",
        }
    ]
}
_CSRF_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Without the X-Vibes-CSRF header, or from another site's page",
        "content": {"application/problem+json": {}},
    }
}

router = APIRouter(prefix=PREFIX, tags=["web sign-in"], responses=_CSRF_REFUSED)


class WebToken(BaseModel):
    """An access token for the page's memory; its refresh token went into the cookie."""

    model_config = ConfigDict(extra="forbid")
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


def _cookie_path(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/api/v1{PREFIX}"


def _csrf_failure(request: Request) -> JSONResponse | None:
    if request.headers.get(CSRF_HEADER) != "1":
        return problem(403, detail="This request needs the X-Vibes-CSRF header.")
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        parts = urlsplit(origin)
        if f"{parts.scheme}://{parts.netloc}" != own:
            return problem(403, detail="Cross-site requests are not accepted here.")
    return None


def _set_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max_age,
        path=_cookie_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path=_cookie_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _answer(request: Request, ctx: Runtime, tokens: IssuedTokens) -> JSONResponse:
    body = WebToken(access_token=tokens.access_token, expires_in=tokens.expires_in)
    response = JSONResponse(body.model_dump())
    _set_cookie(request, response, tokens.refresh_token, ctx.settings.refresh_token_days * 86400)
    return response


def _failure(request: Request, exc: AuthenticationFailed) -> JSONResponse:
    response = problem(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        type_suffix=exc.type_suffix,
        headers=exc.headers,
        extra=exc.extra,
    )
    if exc.status == 401:
        _clear_cookie(request, response)
    return response


@router.post("/login", response_model=WebToken, openapi_extra=_CSRF_DOC)
async def web_login(
    body: LoginIn, request: Request, db: DbSession, ctx: CurrentRuntime, client: ClientInfo
) -> JSONResponse:
    """`POST /auth/login` for the browser app: sets the refresh cookie."""
    if (refused := _csrf_failure(request)) is not None:
        return refused
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
        return _failure(request, exc)
    return _answer(request, ctx, tokens)


@router.post("/2fa/verify", response_model=WebToken, openapi_extra=_CSRF_DOC)
async def web_verify_two_factor(
    body: MfaVerifyIn, request: Request, db: DbSession, ctx: CurrentRuntime, client: ClientInfo
) -> JSONResponse:
    """`POST /auth/2fa/verify` for the browser app (after `mfa-required`): sets the cookie."""
    if (refused := _csrf_failure(request)) is not None:
        return refused
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
        return _failure(request, exc)
    return _answer(request, ctx, tokens)


@router.post(
    "/refresh",
    response_model=WebToken,
    responses={204: {"description": "No session cookie: this browser is not signed in"}},
    openapi_extra=_CSRF_DOC,
)
async def web_refresh(
    request: Request, db: DbSession, ctx: CurrentRuntime, client: ClientInfo
) -> Response:
    """Spend the cookie's refresh token: a new access token, and a new cookie.

    Without a cookie the answer is 204 (nothing to refresh), so a page that starts signed
    out does not log a failed request.
    """
    if (refused := _csrf_failure(request)) is not None:
        return refused
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return Response(status_code=204)
    try:
        tokens = await signin.refresh(db, ctx, token=token[:512], client=client)
    except AuthenticationFailed as exc:
        return _failure(request, exc)
    return _answer(request, ctx, tokens)


# The bearer is optional, as on `POST /auth/logout`.
@router.post("/logout", status_code=204, openapi_extra=_CSRF_DOC | {"security": [{}]})
async def web_logout(
    request: Request,
    principal: OptionalPrincipal,
    db: DbSession,
    ctx: CurrentRuntime,
    client: ClientInfo,
) -> Response:
    """Sign this browser out: its session ends and the cookie is removed."""
    if (refused := _csrf_failure(request)) is not None:
        return refused
    token = request.cookies.get(COOKIE_NAME) or ""
    await signin.logout(db, ctx, token=token[:512], principal=principal, client=client)
    response = Response(status_code=204)
    _clear_cookie(request, response)
    return response
