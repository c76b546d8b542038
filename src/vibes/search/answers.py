"""The answer of `GET /search`, shared by its route and its fast path (`search.hot`)."""

from __future__ import annotations

from vibes.search import service
from vibes.search.schemas import SearchHit, SearchPage

# Longest `q` (characters).
MAX_QUERY = 256


def search_page(hits: list[service.Hit], cursor: str | None) -> SearchPage:
    return SearchPage(
        items=[
            SearchHit(
                type=h.type,
                id=h.id,
                title=h.title,
                snippet=h.snippet,
                highlights=h.highlights,
                score=h.score,
                created_at=h.created_at,
            )
            for h in hits
        ],
        next_cursor=cursor,
    )
