"""HTTP routes of the search domain: parse, call the service, choose the status code."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from vibes.accounts.dependencies import CurrentPrincipal
from vibes.journals.dependencies import CurrentViewer
from vibes.journals.schemas import EntryDate
from vibes.platform.fields import Line
from vibes.platform.pagination import Page, bind_page, seal_cursor
from vibes.platform.runtime import DbSession
from vibes.search import hot, service
from vibes.search.answers import MAX_QUERY, search_page
from vibes.search.schemas import SearchPage

router = APIRouter(tags=["search"])

_KINDS: dict[str, tuple[service.Kind, ...]] = {
    "all": service.ALL_KINDS,
    "journals": ("journal",),
    "reminders": ("reminder",),
    "tags": ("tag",),
}


@router.get("/search", response_model=SearchPage)
@hot.fast_search
async def search(
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    page: Page,
    q: Annotated[Line, Query(min_length=1, max_length=MAX_QUERY, description="What to look for.")],
    type: Annotated[Literal["journals", "reminders", "tags", "all"], Query()] = "all",
    date_from: Annotated[EntryDate | None, Query(alias="from")] = None,
    date_to: Annotated[EntryDate | None, Query(alias="to")] = None,
) -> SearchPage:
    """Ranked hits among your entries, reminders and tags, best first, with a snippet and
    the `[start, end)` offsets of the matched words in it."""
    filters = {"q": q, "type": type, "from": date_from, "to": date_to}
    hits, cursor = await service.search(
        db,
        viewer,
        q=q,
        kinds=_KINDS[type],
        date_from=date_from,
        date_to=date_to,
        page=bind_page(page, filters),
    )
    return search_page(hits, seal_cursor(cursor, filters))
