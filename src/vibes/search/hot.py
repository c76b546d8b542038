"""The hot route of the search domain (see `vibes.platform.hotroutes`).

`GET /search?type=journals&q=…` (with at most `limit` and `cursor` besides) on PostgreSQL
without unlock tokens: `search.service.search_entries` answers in one statement, the
session check folded in. Every other form, and a cursor the keyset refuses, goes to the
documented route (whose session check comes before the cursor's 422).
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.responses import Response
from starlette.types import Scope

from vibes.journals.service import Viewer
from vibes.platform.fields import text_problem
from vibes.platform.hotroutes import HotRoute, plain_bearer
from vibes.platform.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    InvalidCursor,
    PageParams,
    bind_page,
    seal_cursor,
)
from vibes.search import service
from vibes.search.router import router, search_page
from vibes.search.schemas import SearchPage

_MAX_Q = 256  # as the route's `q`
_LIMIT = re.compile(r"[0-9]{1,3}")
# What FastAPI serialises the route's `response_model` with (its fast path: dump_json).
_PAGE = TypeAdapter(SearchPage)


def _query(query_string: bytes) -> tuple[str, PageParams] | None:
    """`q`, `type=journals`, `limit` and `cursor`, each once and valid, and nothing else."""
    values: dict[str, str] = {}
    # As Starlette's QueryParams reads the query string.
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in values or name not in ("q", "type", "limit", "cursor"):
            return None
        values[name] = value
    q = values.get("q")
    if values.get("type") != "journals" or q is None or not 1 <= len(q) <= _MAX_Q:
        return None
    if text_problem(q, single_line=True) is not None:
        return None
    limit = values.get("limit", str(DEFAULT_LIMIT))
    if not _LIMIT.fullmatch(limit) or not 1 <= int(limit) <= MAX_LIMIT:
        return None
    cursor = values.get("cursor", "")
    if len(cursor) > MAX_CURSOR_LENGTH:
        return None
    return q, PageParams(limit=int(limit), cursor=cursor or None)


async def search(scope: Scope) -> Response | None:
    query = _query(scope["query_string"])
    if query is None:
        return None
    q, page = query
    state: Any = scope["app"].state
    if not service.entry_search_applies(state.database, Viewer(user_id=uuid.UUID(int=0))):
        return None
    found = plain_bearer(scope)
    if found is None:
        return None
    claims, _ = found
    viewer = Viewer(user_id=claims.user_id)
    filters = {"q": q, "type": "journals", "from": None, "to": None}
    try:
        hits, cursor = await service.search_entries(
            state.database, claims, viewer, q=q, page=bind_page(page, filters)
        )
    except InvalidCursor:
        return None
    body = _PAGE.dump_json(search_page(hits, seal_cursor(cursor, filters)), by_alias=True)
    return Response(body, media_type="application/json")


def hot_routes(prefix: str) -> list[HotRoute]:
    """The hot route in front of the search router mounted at `prefix`."""
    documented = {r.name: r for r in router.routes if isinstance(r, APIRoute)}
    return [HotRoute(documented["search"], prefix, search)]
