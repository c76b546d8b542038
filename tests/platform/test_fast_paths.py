"""Fast paths are declared on their routes and cannot drift from them.

A fast handler reads parameters straight from the ASGI scope, so a route that gains a
parameter, or tightens a limit, would leave it answering what the route now refuses. The
declaration names every parameter of its route with the limits the handler checks;
these tests prove a mismatch is caught (and that the app refuses to start with one).
"""

from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.routing import APIRoute

from tests.conftest import Backend, make_settings
from vibes.accounts.dependencies import AccessToken
from vibes.app import API_PREFIX, create_app
from vibes.journals import hot
from vibes.journals.dependencies import CurrentViewer
from vibes.journals.schemas import MAX_TAG_FILTERS
from vibes.platform.fields import Line
from vibes.platform.hotroutes import declaration_problems, fast_path_of, fast_routes
from vibes.platform.pagination import Page


def _list_route(*, tag_limit: int = MAX_TAG_FILTERS, extra: bool = False) -> APIRoute:
    """A copy of `GET /journals` with the journals list fast path declared on it, the
    `tag` limit as given, and optionally one more query parameter."""
    router = APIRouter()

    if extra:

        @router.get("/journals")
        @hot.fast_list_journals
        async def with_sort(
            request: Request,
            claims: AccessToken,
            viewer: CurrentViewer,
            page: Page,
            tag: Annotated[list[str], Query(max_length=tag_limit)] = [],  # noqa: B006
            q: Annotated[Line | None, Query(min_length=1, max_length=256)] = None,
            date_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
            date_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
            mood_min: Annotated[int | None, Query(ge=1, le=10)] = None,
            mood_max: Annotated[int | None, Query(ge=1, le=10)] = None,
            sort: Annotated[str | None, Query()] = None,
        ) -> Response:
            raise AssertionError("never called")

    else:

        @router.get("/journals")
        @hot.fast_list_journals
        async def plain(
            request: Request,
            claims: AccessToken,
            viewer: CurrentViewer,
            page: Page,
            tag: Annotated[list[str], Query(max_length=tag_limit)] = [],  # noqa: B006
            q: Annotated[Line | None, Query(min_length=1, max_length=256)] = None,
            date_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
            date_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
            mood_min: Annotated[int | None, Query(ge=1, le=10)] = None,
            mood_max: Annotated[int | None, Query(ge=1, le=10)] = None,
        ) -> Response:
            raise AssertionError("never called")

    (route,) = [r for r in router.routes if isinstance(r, APIRoute)]
    return route


def _declared(route: APIRoute) -> list[str]:
    declared = fast_path_of(route)
    assert declared is not None
    return declaration_problems(route, declared)


@pytest.fixture
def plain_app(tmp_path: Path) -> FastAPI:
    backend = Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", None)
    return create_app(make_settings(backend, tmp_path / "data"))


def test_every_fast_path_agrees_with_its_route(plain_app: FastAPI) -> None:
    mounted = fast_routes(plain_app.routes)
    paths = sorted(f"{API_PREFIX}{m.route.path}" for m in mounted)
    assert paths == [
        f"{API_PREFIX}/journals",
        f"{API_PREFIX}/journals/{{journal_id}}",
        "/api/v1/search",
    ]
    for m in mounted:
        assert declaration_problems(m.route, m.declared) == []
        assert m.path_regex.match(API_PREFIX + m.route.path.replace("{journal_id}", "x"))


def test_a_copy_of_the_list_route_agrees_with_its_fast_path() -> None:
    assert _declared(_list_route()) == []


def test_tightening_a_limit_on_the_route_alone_is_caught() -> None:
    problems = _declared(_list_route(tag_limit=10))
    assert len(problems) == 1
    assert "query:tag" in problems[0]
    assert "'max_length': 10" in problems[0]


def test_a_parameter_the_fast_path_does_not_declare_is_caught() -> None:
    problems = _declared(_list_route(extra=True))
    assert problems == [
        "/journals: query:sort is a parameter of the route, not declared by its fast path"
    ]


def test_the_app_refuses_to_start_with_a_disagreeing_fast_path() -> None:
    with pytest.raises(ValueError, match="query:tag"):
        fast_routes([_list_route(tag_limit=10)])
