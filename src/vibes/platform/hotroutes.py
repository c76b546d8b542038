"""Fast paths: the busiest GETs answered without FastAPI's routing and dependency injection.

FastAPI resolves a route's dependencies, validates its parameters and builds a `Request`
on every call; for a one-statement read (`GET /journals/{id}`) that bookkeeping costs
several times what the database needs to answer. A fast path is declared ON the documented
route it speeds up (`@fast_path(...)` under the route decorator) and answered by a small
middleware, innermost in our stack, that collects those declarations from the app's
routes: no second list of paths to keep in step.

The handler reads the few headers and parameters the common case needs straight from the
ASGI scope and calls the same answer function the documented route calls. Everything
else — a parameter it does not handle, a duplicated header, a value that would need
validation — makes it return None, and the request goes on to the documented route as if
there were no fast path. So the route, its OpenAPI entry and its validation errors stay
the single source of truth; the handler only skips work, never decides differently.

Every parameter of the route (its dependencies' included) must be declared: `handles`
with the limits the handler checks (taken from the same constants as the route's
`Query`/`Header`), or `defers` (present → fall through). `declaration_problems` compares
a declaration with its route; `create_app` refuses to start on a mismatch, and a test
checks it, so a route that gains or tightens a parameter cannot drift from its fast path.
An error raised by the handler is rendered by the app's own exception handlers.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

FastHandler = Callable[[Scope], Awaitable[Response | None]]
Limits = Mapping[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__vibes_fast_path__"
# A security scheme (the bearer token) reads this header.
SECURITY_HEADER = "header:authorization"


@dataclass(frozen=True)
class FastPath:
    """A route's fast handler and the parameters it accounts for, as `location:name`
    (`query:limit`, `header:if-none-match`, `path:journal_id`): `handles` maps each one
    it reads to the limits it checks (`{"le": 100}`, as the route declares them), `defers`
    names the ones whose presence sends the request to the documented route."""

    handler: FastHandler
    handles: Mapping[str, Limits]
    defers: frozenset[str] = field(default_factory=frozenset)


def fast_path(
    handler: FastHandler,
    *,
    handles: Mapping[str, Limits],
    defers: Iterable[str] = (),
) -> Callable[[F], F]:
    """Declare `handler` as the fast path of the route whose endpoint this decorates
    (write it under `@router.get(...)`)."""
    declared = FastPath(handler, dict(handles), frozenset(defers))

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, declared)
        return endpoint

    return mark


def fast_path_of(route: APIRoute) -> FastPath | None:
    declared = getattr(route.endpoint, _ATTRIBUTE, None)
    return declared if isinstance(declared, FastPath) else None


def route_parameters(route: APIRoute) -> dict[str, Limits]:
    """Every parameter the route reads, its dependencies' included, with its limits."""
    found: dict[str, Limits] = {}

    def walk(dependant: Dependant) -> None:
        if isinstance(dependant.call, SecurityBase):
            found[SECURITY_HEADER] = {}
        for location, params in (
            ("path", dependant.path_params),
            ("query", dependant.query_params),
            ("header", dependant.header_params),
            ("cookie", dependant.cookie_params),
        ):
            for param in params:
                name = param.alias.lower() if location == "header" else param.alias
                found[f"{location}:{name}"] = _limits(param.field_info.metadata)
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    return found


def _limits(metadata: Iterable[Any]) -> Limits:
    limits: dict[str, Any] = {}
    for item in metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                limits[name] = value
    return limits


def declaration_problems(route: APIRoute, declared: FastPath) -> list[str]:
    """What the declaration misses or gets wrong about its route (empty when it agrees)."""
    actual = route_parameters(route)
    problems = []
    for key in sorted(actual.keys() - declared.handles.keys() - declared.defers):
        problems.append(f"{key} is a parameter of the route, not declared by its fast path")
    for key in sorted((declared.handles.keys() | declared.defers) - actual.keys()):
        problems.append(f"{key} is declared by the fast path but not a parameter of the route")
    for key, limits in declared.handles.items():
        if key in actual and dict(actual[key]) != dict(limits):
            problems.append(
                f"{key}: the route checks {dict(actual[key])}, the fast path {dict(limits)}"
            )
    return [f"{route.path}: {problem}" for problem in problems]


@dataclass(frozen=True)
class MountedFastPath:
    """A fast path where its route is mounted: `path_regex` matches the full path (router
    prefixes included); `route` is the documented route as its router declares it."""

    path_regex: re.Pattern[str]
    route: APIRoute
    declared: FastPath


def fast_routes(routes: Sequence[BaseRoute]) -> list[MountedFastPath]:
    """The app's routes that declare a fast path (included routers walked); ValueError
    when one disagrees with its route (see `declaration_problems`)."""
    found = []
    problems = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or (declared := fast_path_of(route)) is None:
            continue
        problems += declaration_problems(route, declared)
        found.append(MountedFastPath(compile_path(context.path or route.path)[0], route, declared))
    if problems:
        raise ValueError("fast paths disagree with their routes: " + "; ".join(problems))
    return found


class HotRoutesMiddleware:
    """Answers requests of the routes in `routes` by their fast handlers (None: on to the
    app). `routes` is called once, on the first request, when every router is mounted.

    While a handler runs, `scope["route"]` is the documented route, as when FastAPI
    answers: the request is counted under the same metrics label whoever answers, and so
    is an error on the way."""

    def __init__(self, app: ASGIApp, *, routes: Callable[[], list[MountedFastPath]]) -> None:
        self.app = app
        self._collect = routes
        self._routes: list[MountedFastPath] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._routes is None:
                self._routes = self._collect()
            method = scope["method"]
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            for mounted in self._routes:
                match = mounted.path_regex.match(path)
                if match is None:
                    continue
                if method not in (mounted.route.methods or ()):
                    break
                scope["path_params"] = match.groupdict()
                scope["route"] = mounted.route
                try:
                    response = await mounted.declared.handler(scope)
                except Exception as exc:
                    response = await _handled(scope, exc)
                if response is not None:
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)


async def _handled(scope: Scope, exc: Exception) -> Response:
    """The answer the app's exception handlers give for `exc`, as when the documented
    route raises it; re-raised when only the catch-all (500) handler would take it, so it
    reaches the middleware that answers unexpected errors, as a route's would."""
    handlers: Mapping[Any, Any] = scope["app"].exception_handlers
    for kind in type(exc).__mro__:
        if kind is Exception:
            break
        handler = handlers.get(kind)
        if handler is not None:
            answer = handler(Request(scope), exc)
            response: Response = await answer if inspect.isawaitable(answer) else answer
            return response
    raise exc


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
