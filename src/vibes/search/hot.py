"""The fast path of the search route (see `vibes.platform.hotroutes`).

`GET /search?type=journals&q=…` (with at most `limit` and `cursor` besides) on PostgreSQL
without unlock tokens: `search.service.search_entries` answers in one statement, the
session check folded in. Every other form, and a cursor the keyset refuses, goes to the
documented route (whose session check comes before the cursor's 422).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl

from pydantic import TypeAdapter
from starlette.responses import Response
from starlette.types import Scope

from vibes.journals.visibility import Viewer
from vibes.platform.fields import text_problem
from vibes.platform.hotroutes import SECURITY_HEADER, fast_path
from vibes.platform.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    InvalidCursor,
    PageParams,
    bind_page,
    seal_cursor,
)
from vibes.platform.runtime import scope_runtime
from vibes.search import entries
from vibes.search.answers import MAX_QUERY, search_page
from vibes.search.schemas import SearchPage
from vibes.vault.access import UNLOCK_HEADER, plain_bearer

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
    if values.get("type") != "journals" or q is None or not 1 <= len(q) <= MAX_QUERY:
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
    database = scope_runtime(scope).database
    if not entries.entry_search_applies(database, Viewer(user_id=uuid.UUID(int=0))):
        return None
    found = plain_bearer(scope)
    if found is None:
        return None
    claims, _ = found
    viewer = Viewer(user_id=claims.user_id)
    filters = {"q": q, "type": "journals", "from": None, "to": None}
    try:
        hits, cursor = await entries.search_entries(
            database, claims, viewer, q=q, page=bind_page(page, filters)
        )
    except InvalidCursor:
        return None
    body = _PAGE.dump_json(search_page(hits, seal_cursor(cursor, filters)), by_alias=True)
    return Response(body, media_type="application/json")


fast_search = fast_path(
    search,
    handles={
        "query:q": {"min_length": 1, "max_length": MAX_QUERY},
        "query:type": {},
        "query:limit": {"ge": 1, "le": MAX_LIMIT},
        "query:cursor": {"max_length": MAX_CURSOR_LENGTH},
        SECURITY_HEADER: {},
    },
    defers={"query:from", "query:to", f"header:{UNLOCK_HEADER}"},
)
