"""Hot routes: the busiest GETs answered without FastAPI's routing and dependency injection.

FastAPI resolves a route's dependencies, validates its parameters and builds a `Request`
on every call; for a one-statement read (`GET /journals/{id}`) that bookkeeping costs
several times what the database needs to answer. A hot route is answered by a small
middleware, innermost in our stack, before the request reaches FastAPI's router. Its
handler reads the few headers and parameters the common case needs straight from the
ASGI scope and calls the same answer function the documented route calls. Everything
else — a header or parameter it does not recognise, a duplicated header, a value that
would need validation — makes the handler return None, and the request goes on to the
documented route as if there were no hot route. So the route, its OpenAPI entry and its
validation errors stay the single source of truth; the hot handler only skips work, never
decides differently. A domain error raised by the answer function (401, 404, …) is
rendered exactly as the app's exception handler renders it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from vibes.accounts.tokens import AccessClaims, decode_access_token
from vibes.errors import DomainError, domain_problem

HotHandler = Callable[[Scope], Awaitable[Response | None]]

AUTHORIZATION = b"authorization"


@dataclass(frozen=True)
class HotRoute:
    """`route` is the documented route, mounted under `prefix`. While the hot handler runs,
    `scope["route"]` is that route, as when FastAPI answers: the request is counted under
    the same metrics label whoever answers, and so is an error on the way."""

    route: APIRoute
    prefix: str
    handler: HotHandler


class HotRoutesMiddleware:
    def __init__(self, app: ASGIApp, *, routes: Sequence[HotRoute]) -> None:
        self.app = app
        self.routes = [(compile_path(r.prefix + r.route.path)[0], r) for r in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            for regex, route in self.routes:
                match = regex.match(path)
                if match is None:
                    continue
                scope["path_params"] = match.groupdict()
                scope["route"] = route.route
                try:
                    response = await route.handler(scope)
                except DomainError as exc:
                    response = domain_problem(exc)
                if response is not None:
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)


def pick_headers(scope: Scope, names: Collection[bytes]) -> dict[bytes, bytes] | None:
    """The request headers among `names` (lower-case), or None when one of them is sent
    twice: which copy counts is the documented route's business."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in names:
            if name in found:
                return None
            found[name] = value
    return found


UNLOCK = b"x-vibes-unlock"


def plain_bearer(
    scope: Scope, names: Collection[bytes] = ()
) -> tuple[AccessClaims, dict[bytes, bytes]] | None:
    """The verified claims of a request that sends a bearer token and no unlock tokens
    (so its viewer sees no secret entry), with its headers among `names`; None for any
    other request, or one with a header of these sent twice. A token that fails
    verification raises the route's 401."""
    headers = pick_headers(scope, {AUTHORIZATION, UNLOCK, *names})
    if headers is None or UNLOCK in headers:
        return None
    claims = bearer_claims(scope, headers)
    return None if claims is None else (claims, headers)


def bearer_claims(scope: Scope, headers: dict[bytes, bytes]) -> AccessClaims | None:
    """The verified claims of a bearer token, read as `get_access_claims` reads them; None
    when there is no usable bearer token (the documented route answers that). A token
    that fails verification raises the same 401 the route would."""
    raw = headers.get(AUTHORIZATION)
    if raw is None:
        return None
    scheme, token = get_authorization_scheme_param(raw.decode("latin-1"))
    if scheme.lower() != "bearer" or not token:
        return None
    state: Any = scope["app"].state
    return decode_access_token(state.keyring, state.settings, token)
