"""Domain errors, and the one place that renders every error as an RFC 9457 problem."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from asyncpg.exceptions import (  # type: ignore[import-untyped]
    ConnectionDoesNotExistError,
    InterfaceError,
    OperatorInterventionError,
)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("vibes.errors")

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """An error a service raises; the handler turns it into a problem document."""

    status: int = 400
    title: str = "Bad request"
    type_suffix: str = "bad-request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class NotFound(DomainError):
    status, title, type_suffix = 404, "Not found", "not-found"

    def __init__(self, detail: str | None = None) -> None:
        # One detail for every missing object: another user's object must answer exactly
        # like one that never existed.
        super().__init__(detail or "The requested resource was not found.")


class Unauthorized(DomainError):
    status, title, type_suffix = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "Authentication is required.", headers={"WWW-Authenticate": "Bearer"}
        )


class Forbidden(DomainError):
    status, title, type_suffix = 403, "Forbidden", "forbidden"


class Conflict(DomainError):
    status, title, type_suffix = 409, "Conflict", "conflict"


class Gone(DomainError):
    status, title, type_suffix = 410, "Gone", "gone"


class PreconditionFailed(DomainError):
    status, title, type_suffix = 412, "Precondition failed", "precondition-failed"


class PayloadTooLarge(DomainError):
    status, title, type_suffix = 413, "Payload too large", "payload-too-large"


class Unprocessable(DomainError):
    """A well-formed request the rules refuse (bad RRULE, weak password, reused key...)."""

    status, title, type_suffix = 422, "Unprocessable content", "unprocessable"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        extra = {"errors": list(errors)} if errors is not None else None
        super().__init__(detail, headers=headers, extra=extra)


class TooManyRequests(DomainError):
    status, title, type_suffix = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(
            detail or "Too many attempts. Try again later.",
            headers={"Retry-After": str(max(1, retry_after))},
        )
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(DomainError):
    status, title, type_suffix = 503, "Service unavailable", "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


def problem(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_suffix: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": f"https://vibes.dev/problems/{type_suffix}" if type_suffix else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    if extra:
        body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        # Never echo the input back: it may be a password or an entry's text.
        errors.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return errors


async def _domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_problem(exc)


def domain_problem(exc: DomainError) -> JSONResponse:
    """The problem document of a domain error (what its exception handler answers)."""
    return problem(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        type_suffix=exc.type_suffix,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(
        422,
        title="Validation failed",
        detail="The request is not valid; see `errors`.",
        type_suffix="validation",
        extra={"errors": _validation_errors(exc)},
    )


async def _http_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = "The requested resource was not found."
    return problem(exc.status_code, detail=detail, headers=exc.headers)


async def _stale_handler(_: Request, exc: Exception) -> JSONResponse:
    err = PreconditionFailed("The resource was changed by another request; reload and retry.")
    return await _domain_error_handler(_, err)


# What a database that is down, restarting or out of connections raises: refused, cut or
# timed-out connections (OSError: asyncio reports a refusal on several addresses as a bare
# one, without errno), asyncpg's own, PostgreSQL's "starting up" and "terminating
# connection", and no pooled connection free in time. File errors are OSErrors too, but
# a missing or unwritable file does not get better by retrying: those stay 500s.
_UNAVAILABLE = (
    OSError,
    ConnectionDoesNotExistError,
    OperatorInterventionError,
    PoolTimeoutError,
)
_FILE_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
_SQLITE_BUSY = re.compile(r"database (table )?is locked")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (rather than a bug): then the
    answer is 503 with `Retry-After`, which clients and balancers retry, not a 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE) and not isinstance(current, _FILE_ERRORS):
            return True
        # SQLite's one writer was busy past the busy timeout (a long import holds it for
        # its whole transaction): the database is busy, not broken.
        if isinstance(current, sqlite3.OperationalError) and _SQLITE_BUSY.match(str(current)):
            return True
        # asyncpg's own connection (COPY) raises this, unwrapped, once the server cut it;
        # its other interface errors are misuse, i.e. bugs.
        if isinstance(current, InterfaceError) and "connection is closed" in str(current):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            current = current.orig
            continue
        current = current.__cause__ or current.__context__
    return False


def _server_error(exc: Exception, path: object) -> JSONResponse:
    if is_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__, extra={"path": path})
        return problem(
            503,
            detail="The service is briefly unavailable; retry shortly.",
            type_suffix="unavailable",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled error", exc_info=exc, extra={"path": path})
    return problem(500, detail="An unexpected error occurred.", type_suffix="internal")


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    return _server_error(exc, request.url.path)


class UnhandledErrorMiddleware:
    """Turns an unexpected exception into a 500 problem *inside* the middleware stack.

    Starlette renders `Exception` handlers in its outermost middleware, after ours, and
    then re-raises, so such answers lacked our headers and the server dropped the
    connection. Installed innermost, this answers like any other error.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                logger.exception("unhandled error", extra={"path": scope.get("path")})
                raise
            await _server_error(exc, scope.get("path"))(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(StaleDataError, _stale_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
