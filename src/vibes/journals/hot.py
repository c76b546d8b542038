"""Fast paths of the journals routes (see `vibes.platform.hotroutes`).

`GET /journals/{id}` and `GET /journals` in their common forms — a bearer token, no
unlock tokens, at most `limit`, `cursor` and `tag` on the list — read straight from the
ASGI scope and answered by the same functions the documented routes call. Every other
form goes to the documented route. Each declaration names every parameter of its route,
with the limits checked here (the route's own constants).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import Scope

from vibes.journals.answers import journal_answer, page_answer
from vibes.journals.schemas import MAX_TAG_FILTERS
from vibes.journals.visibility import Viewer
from vibes.platform.concurrency import MAX_ETAG_HEADER
from vibes.platform.hotroutes import SECURITY_HEADER, fast_path
from vibes.platform.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, PageParams
from vibes.platform.runtime import scope_runtime
from vibes.vault.access import UNLOCK_HEADER, plain_bearer

IF_NONE_MATCH = b"if-none-match"
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_LIMIT = re.compile(r"[0-9]{1,3}")
_UNLOCK = f"header:{UNLOCK_HEADER}"


async def get_journal(scope: Scope) -> Response | None:
    raw_id: str = scope["path_params"]["journal_id"]
    if not _CANONICAL_UUID.fullmatch(raw_id):
        return None
    found = plain_bearer(scope, (IF_NONE_MATCH,))
    if found is None:
        return None
    claims, headers = found
    if_none_match = headers.get(IF_NONE_MATCH)
    if if_none_match is not None and len(if_none_match) > MAX_ETAG_HEADER:
        return None
    return await journal_answer(
        scope_runtime(scope).database,
        claims,
        Viewer(user_id=claims.user_id),
        uuid.UUID(raw_id),
        None if if_none_match is None else if_none_match.decode("latin-1"),
    )


fast_get_journal = fast_path(
    get_journal,
    handles={
        "path:journal_id": {},
        SECURITY_HEADER: {},
        "header:if-none-match": {"max_length": MAX_ETAG_HEADER},
    },
    defers={_UNLOCK},
)


async def list_journals(scope: Scope) -> Response | None:
    query = _list_query(scope["query_string"])
    if query is None:
        return None
    page, tags = query
    found = plain_bearer(scope)
    if found is None:
        return None
    claims, _ = found
    return await page_answer(
        scope_runtime(scope).database, claims, Viewer(user_id=claims.user_id), page, tags
    )


def _list_query(query_string: bytes) -> tuple[PageParams, list[str]] | None:
    """`limit`, `cursor` and `tag` parsed as the route's parameters would be; None for any
    other parameter, a repeated `limit`/`cursor`, or a value the route would refuse."""
    limit, cursor, tags = DEFAULT_LIMIT, None, []
    seen: set[str] = set()
    # As Starlette's QueryParams reads the query string.
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == "tag":
            tags.append(value)
            continue
        if name in seen:
            return None
        seen.add(name)
        if name == "limit":
            if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
                return None
            limit = int(value)
        elif name == "cursor":
            if len(value) > MAX_CURSOR_LENGTH:
                return None
            cursor = value or None
        else:
            return None
    if len(tags) > MAX_TAG_FILTERS:
        return None
    return PageParams(limit=limit, cursor=cursor), tags


fast_list_journals = fast_path(
    list_journals,
    handles={
        "query:limit": {"ge": 1, "le": MAX_LIMIT},
        "query:cursor": {"max_length": MAX_CURSOR_LENGTH},
        "query:tag": {"max_length": MAX_TAG_FILTERS},
        SECURITY_HEADER: {},
    },
    defers={"query:q", "query:from", "query:to", "query:mood_min", "query:mood_max", _UNLOCK},
)
