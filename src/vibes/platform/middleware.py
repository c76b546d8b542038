"""Small pure-ASGI middleware: request ids and request metrics (cheap on the hot path)."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibes.platform import metrics

access_log = structlog.get_logger("vibes.access")

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._\-]{1,128}$")


_process_prefix: tuple[int, str] = (0, "")
_sequence = itertools.count()


def _new_request_id() -> bytes:
    """32 hex digits, unique without a random draw per request (a uuid4 costs a system
    call): a random prefix per process, then a counter. Ids need to be unique, not secret."""
    global _process_prefix
    pid = os.getpid()
    if _process_prefix[0] != pid:  # a forked worker draws its own prefix
        _process_prefix = (pid, secrets.token_hex(8))
    return f"{_process_prefix[1]}{next(_sequence):016x}".encode()


class RequestContextMiddleware:
    """Gives every answer an `X-Request-ID` (the caller's, when well-formed), counts it, and
    writes the access log line.

    The access log is ours rather than uvicorn's because uvicorn's includes the query
    string, and `?q=` carries what people search their journals for.
    """

    def __init__(self, app: ASGIApp, *, log_access: bool = False) -> None:
        self.app = app
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
                request_id = value
                break
        if not request_id:
            request_id = _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        structlog.contextvars.bind_contextvars(request_id=request_id.decode())
        started = time.perf_counter()
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            metrics.observe_request(scope["method"], path, status_code, elapsed)
            if self.log_access:
                # One structured line per request. Never the query string (`?q=` is what
                # people search their journals for) nor any header or body.
                user_id = scope.get("state", {}).get("user_id")
                access_log.info(
                    "request",
                    method=scope["method"],
                    route=path,
                    path=scope.get("path", ""),
                    status=status_code,
                    duration_ms=round(elapsed * 1000, 2),
                    user_id=str(user_id) if user_id is not None else None,
                )
            structlog.contextvars.unbind_contextvars("request_id")
