"""Refuse oversized request bodies with 413 before they are read whole.

A pure ASGI middleware, so it sees the body as it streams in:

- a `Content-Length` above the limit is answered 413 at once; not one body byte is read;
- a body without one (chunked) is counted as it arrives, and the moment it passes the
  limit the middleware stops feeding the application (its `receive` raises) and answers
  413 itself, whatever error the application made of the interrupted read.

Limits are per path prefix (longest prefix wins) over a default, so an upload or a batch
route can allow more than a single entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibes.errors import PROBLEM_JSON

DEFAULT_MAX_BODY = 2 * 1024 * 1024


class BodyTooLarge(Exception):
    """Raised into the application when a streamed body passes its limit."""


def _problem_body(limit: int) -> bytes:
    return json.dumps(
        {
            "type": "https://vibes.dev/problems/payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"The request body exceeds the limit of {limit} bytes.",
        }
    ).encode()


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int = DEFAULT_MAX_BODY,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        # Longest prefix first, so "/api/v1/journals/batch" beats "/api/v1/journals".
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def _refuse(self, send: Send, limit: int) -> None:
        body = _problem_body(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                has_body = True
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await self._refuse(send, limit)
                    return
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body and scope.get("http_version") in ("1.0", "1.1"):
            # HTTP/1.x frames a body only by Content-Length or Transfer-Encoding: without
            # either there is nothing to count (most GETs), so no wrappers on the way.
            # (HTTP/2 frames bodies without either header: always counted.)
            await self.app(scope, receive, send)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # Whatever the application answered to the interrupted read (400, 500...),
                # the client gets the 413 instead.
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await self._refuse(send, limit)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send, limit)
        except Exception:
            if not exceeded:
                raise
            # The application failed on the interrupted read: that is the 413 already sent
            # (or about to be), not a server error.
            if not response_started:
                await self._refuse(send, limit)
