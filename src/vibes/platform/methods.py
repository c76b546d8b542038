"""HTTP method semantics the router leaves out (RFC 9110): HEAD, 405 with a full `Allow`,
and the trailing-slash redirect.

- `HEAD` is answered wherever `GET` is, as `GET` minus the body: the request goes down the
  stack as a `GET` (fast paths included, so both answer alike) and the body is dropped
  here. FastAPI routes declare no HEAD, and adding it to each route would double the
  OpenAPI document.
- A `405` lists in `Allow` every method of the path, not only those of the first route
  that matched it (`GET, PATCH, DELETE` are three routes on `/journals/{id}`).
- A literal path segment beats a parameter: `GET /journals/batch` is a 405 (`batch` is a
  POST-only path), not a 422 from `GET /journals/{id}` failing to read `batch` as an id.
- A path that exists only with or without a trailing slash is redirected *relatively*
  (`Location: /api/v1/journals`): the router's redirect built an absolute URL from the
  request's `Host` header, which a client or a poisoned cache chooses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibes.errors import problem

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allow_header(methods: Iterable[str]) -> str:
    """The `Allow` value for these methods, HEAD included wherever GET is."""
    found = set(methods)
    if "GET" in found:
        found.add("HEAD")
    ordered = [m for m in _METHOD_ORDER if m in found] + sorted(found - set(_METHOD_ORDER))
    return ", ".join(ordered)


class RouteIndex:
    """Which methods each path of the app answers: literal paths in a dict (one look-up
    per request), paths with parameters as patterns (scanned only on a 405 or a 404)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        literal: dict[str, set[str]] = {}
        patterns: dict[str, tuple[re.Pattern[str], set[str]]] = {}
        for context in iter_route_contexts(routes):
            path, methods = context.path, context.methods
            if not path or not methods:
                continue  # a mount or a websocket: not ours to judge
            if "{" in path:
                regex = compile_path(path)[0]
                patterns.setdefault(path, (regex, set()))[1].update(methods)
            else:
                literal.setdefault(path, set()).update(methods)
        self.literal = literal
        self.patterns = list(patterns.values())

    def methods(self, path: str) -> set[str] | None:
        """Every method of `path` (None when no route has it); a literal path shadows the
        parameterized ones it also matches."""
        if (found := self.literal.get(path)) is not None:
            return found
        methods: set[str] = set()
        matched = False
        for regex, route_methods in self.patterns:
            if regex.match(path):
                matched = True
                methods |= route_methods
        return methods if matched else None


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class MethodsMiddleware:
    """HEAD, 405 `Allow` and the trailing-slash redirect (see the module docstring).
    `routes` is called on the first request, when every router is mounted; the app's
    router must have `redirect_slashes=False`."""

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._collect = routes
        self._index: RouteIndex | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._index is None:
            self._index = RouteIndex(self._collect())
        index = self._index
        method: str = scope["method"]
        head = method == "HEAD"
        path = _route_path(scope)
        done = False

        async def send_answer(message: Message) -> None:
            nonlocal done
            if done:
                return
            if message["type"] == "http.response.start":
                # The server reads the method off this scope to know that a HEAD answer
                # comes without its body: it must be HEAD again before the answer starts.
                scope["method"] = method
                message, replaced = _amend_start(message, scope, path, index)
                if head or replaced:
                    await send(message)
                    # HEAD: the headers of a GET, no body. A replaced answer (a redirect)
                    # has none either. A stream (SSE) is told the client left.
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    done = True
                    return
            await send(message)

        async def receive_until_done() -> Message:
            if done:
                return {"type": "http.disconnect"}
            return await receive()

        if head:
            scope["method"] = "GET"
        try:
            allowed = index.literal.get(path)
            if allowed is not None and scope["method"] not in allowed:
                response = problem(405, headers={"Allow": allow_header(allowed)})
                await response(scope, receive_until_done, send_answer)
                return
            await self.app(scope, receive_until_done, send_answer)
        finally:
            # The access log and metrics (outer middleware) name the method as sent.
            scope["method"] = method


def _amend_start(
    message: Message, scope: Scope, path: str, index: RouteIndex
) -> tuple[Message, bool]:
    """The answer's start, amended: a full `Allow` on a 405; a 404 for want of a trailing
    slash (or for one too many) replaced by a relative redirect (True: the body goes)."""
    status = message["status"]
    if status == 405:
        methods = index.methods(path)
        if methods:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
            headers.append((b"allow", allow_header(methods).encode()))
            return {**message, "headers": headers}, False
    elif status == 404 and "route" not in scope and path != "/":
        # No route took the request: the same path with (or without) a trailing slash
        # may exist. Redirect there, relatively: never to a host the request named.
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        if other.startswith("/") and not other.startswith("//") and index.methods(other):
            location = quote(scope.get("root_path", "") + other, safe="/:@!$&'()*+,;=-._~")
            if query := scope.get("query_string", b""):
                location += "?" + quote(query.decode("latin-1"), safe="=&%+;/?:@!$'()*,-._~")
            return {
                "type": "http.response.start",
                "status": 307,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }, True
    return message, False
