"""Entry search on PostgreSQL with nothing unlocked: `search` of `type=journals` in ONE
cached statement that also checks the token's session (the fast path's answer)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    literal,
    literal_column,
    select,
    true,
)

from vibes.accounts.sessions import live_session_row, session_alive
from vibes.accounts.tokens import AccessClaims
from vibes.db import Database, UTCDateTime
from vibes.errors import Unauthorized
from vibes.journals import fts
from vibes.journals.models import Journal
from vibes.journals.visibility import Viewer, visibility_template, visible_journals
from vibes.platform import statements
from vibes.platform.pagination import PageParams
from vibes.search.service import HITS, Hit


@dataclass(frozen=True, slots=True)
class _EntryShape:
    """What changes the SQL of an entry search (never its values)."""

    date_from: bool
    date_to: bool
    cursor: bool
    limit: int  # limit + 1, a literal (see `journals.reads._Shape.limit`)


@functools.lru_cache(maxsize=256)
def _entry_statement(shape: _EntryShape) -> Select[Any]:
    """The page of ranked entries, their titles and headlines, LEFT JOINed to the token's
    live session: the `search` of `type=journals`, in one statement built once."""
    query = fts.pg_query_template()
    conditions = [
        visibility_template(unlocked=False),
        fts.pg_match(query),
    ]
    if shape.date_from:
        conditions.append(Journal.entry_date >= bindparam("date_from", type_=UTCDateTime()))
    if shape.date_to:
        conditions.append(Journal.entry_date <= bindparam("date_to", type_=UTCDateTime()))
    hits = (
        select(
            literal("journal", String).label("type"),
            Journal.id.label("id"),
            fts.pg_rank(query).label("score"),
            Journal.created_at.label("created_at"),
        )
        .where(*conditions)
        .subquery("hits")
    )
    ranked = select(hits)
    if shape.cursor:
        ranked = ranked.where(HITS.after_template())
    page = (
        ranked.order_by(*HITS.order_by())
        .limit(literal_column(str(int(shape.limit)), Integer()))
        .subquery("page")
    )
    alive = live_session_row()
    return (
        select(
            alive.c.live_session_id,
            page.c.type,
            page.c.id,
            page.c.score,
            page.c.created_at,
            Journal.title,
            fts.pg_title_headline(query).label("marked_title"),
            fts.pg_headline(query).label("marked"),
        )
        .select_from(alive)
        .outerjoin(page, true())
        .outerjoin(Journal, Journal.id == page.c.id)
        .order_by(page.c.score.desc(), page.c.id.desc())
    )


def entry_search_applies(database: Database, viewer: Viewer) -> bool:
    """Whether `search_entries` can answer (else `search`, with a checked session)."""
    return database.read_engine.dialect.name == "postgresql" and not viewer.secret_tags


async def search_entries(
    database: Database,
    claims: AccessClaims,
    viewer: Viewer,
    *,
    q: str,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    page: PageParams,
) -> tuple[list[Hit], str | None]:
    """`search` for entries only (`entry_search_applies`): the same hits, scores, order,
    snippets and cursors, with the session check folded into the one statement (401
    when it is dead)."""
    params: dict[str, Any] = {
        **visible_journals(viewer).params,
        **session_alive(claims).params,
        "fts_query": fts.pg_value(q),
    }
    if date_from is not None:
        params["date_from"] = date_from
    if date_to is not None:
        params["date_to"] = date_to
    if page.cursor is not None:
        params.update(HITS.cursor_params(page.cursor))
    shape = _EntryShape(
        date_from=date_from is not None,
        date_to=date_to is not None,
        cursor=page.cursor is not None,
        limit=page.limit + 1,
    )
    rows = await statements.fetch(database, _entry_statement(shape), params)
    if not rows:
        raise Unauthorized("The access token is invalid or has expired.")
    found = [row for row in rows if row.id is not None]
    items, cursor = HITS.split(found, page, lambda r: (r.score, r.id))
    hits = []
    for row in items:
        snippet = fts.pg_snippet(row.marked_title, row.marked)
        hits.append(
            Hit(
                type="journal",
                id=row.id,
                title=row.title,
                snippet=snippet.text,
                highlights=snippet.highlights,
                score=float(row.score),
                created_at=row.created_at,
            )
        )
    return hits, cursor
