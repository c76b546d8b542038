"""Security headers on every answer, and CORS only for origins the operator lists."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibes.config import Settings

_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Reset links carry their token in the URL: never leak it through Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-permitted-cross-domain-policies", b"none"),
)
_CSP = (b"content-security-policy", b"frame-ancestors 'none'")
_NO_STORE = (b"cache-control", b"no-store")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
_AUTHORIZATION = b"authorization"


class SecurityHeadersMiddleware:
    """Adds the headers without replacing any the route chose itself.

    `Cache-Control: no-store` goes on every authenticated answer and on everything under
    `/api/` (tokens, personal data); HSTS only when the request came over HTTPS (uvicorn's
    --proxy-headers reports the scheme the client used).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith("/api/") or any(
            name == _AUTHORIZATION for name, _ in scope["headers"]
        )
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = [h for h in _ALWAYS if h[0] not in present]
                if _CSP[0] not in present:
                    extra.append(_CSP)
                if private and _NO_STORE[0] not in present:
                    extra.append(_NO_STORE)
                if https and _HSTS[0] not in present:
                    extra.append(_HSTS)
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _exact_origin(origin: str) -> str:
    parts = urlsplit(origin)
    if (
        origin == "*"
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "*" in origin
    ):
        raise ValueError(
            f"VIBES_CORS_ORIGINS takes exact origins like https://app.example, got {origin!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def install_cors(app: FastAPI, settings: Settings) -> None:
    """CORS stays off unless exact origins are listed; never a wildcard, never cookies."""
    if not settings.cors_origins:
        return
    origins = [_exact_origin(origin) for origin in settings.cors_origins]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=False,  # bearer tokens, not cookies
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "X-Request-ID",
        ],
        expose_headers=[
            "ETag",
            "Location",
            "Retry-After",
            "X-Request-ID",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
        max_age=600,
    )
