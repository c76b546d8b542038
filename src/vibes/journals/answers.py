"""The answers of the journal reads, shared by their routes and their fast paths
(`journals.hot`): one function per answer, so both give the same bytes."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from starlette.responses import Response

from vibes.accounts.tokens import AccessClaims
from vibes.db import Database
from vibes.errors import Unprocessable
from vibes.journals import reads
from vibes.journals.tagnames import clean_tag_name, tag_key
from vibes.journals.visibility import Viewer
from vibes.platform.concurrency import etag_for, if_none_match_hits, not_modified
from vibes.platform.fields import instant_problem
from vibes.platform.pagination import PageParams, bind_page, seal_cursor
from vibes.platform.responses import json_response

# The two forms a bound may take, whole strings of ASCII digits: a plain date, or an RFC 3339
# date-time (`T` or `t`, seconds required, `Z`/`z` or a `±hh:mm` offset). `fromisoformat`
# alone also reads `20260101`, week and ordinal dates, an hour alone and `+01` offsets.
_BARE_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"  # no offset: refused below, with its own message
)


def _bad_query(name: str, msg: str) -> Unprocessable:
    return Unprocessable(
        "The request is not valid; see `errors`.",
        errors=[{"loc": ["query", name], "msg": msg, "type": "value_error"}],
    )


def _parse_bound(name: str, raw: str | None, *, end: bool) -> tuple[dt.datetime | None, bool]:
    """An RFC 3339 instant, or a bare date: `from` = its midnight UTC, `to` = through the
    end of that day (returned as the next midnight, exclusive)."""
    if raw is None:
        return None, False
    try:
        if _BARE_DATE.fullmatch(raw):
            day = dt.date.fromisoformat(raw)
            if (problem := instant_problem(dt.datetime(day.year, 1, 1, tzinfo=dt.UTC))) is not None:
                raise _bad_query(name, problem)
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return (midnight + dt.timedelta(days=1), True) if end else (midnight, False)
        if not _RFC3339.fullmatch(raw):
            raise ValueError(raw)
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise _bad_query(name, "expected an RFC 3339 date-time or a date") from None
    if value.tzinfo is None:
        raise _bad_query(name, "a date-time needs an offset, e.g. Z")
    problem = instant_problem(value)
    if problem is not None:
        raise _bad_query(name, problem)
    return value, False


async def page_answer(
    database: Database,
    claims: AccessClaims,
    viewer: Viewer,
    page: PageParams,
    tag: list[str],
    q: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    mood_min: int | None = None,
    mood_max: int | None = None,
) -> Response:
    """The answer of `GET /journals` (also called by its hot route, `journals.hot`)."""
    try:
        tags = [clean_tag_name(name) for name in tag]
    except ValueError as exc:
        raise _bad_query("tag", str(exc)) from None
    start, _ = _parse_bound("from", date_from, end=False)
    end, end_exclusive = _parse_bound("to", date_to, end=True)
    filters = reads.JournalFilters(
        tags=tags,
        q=q,
        date_from=start,
        date_to=end,
        date_to_exclusive=end_exclusive,
        mood_min=mood_min,
        mood_max=mood_max,
    )
    # The cursor is bound to the filters that made it (a `q=a` cursor is no `q=b` cursor).
    bound = {
        "tag": sorted({tag_key(name) for name in tags}),
        "q": q,
        "from": start,
        "to": end,
        "to_exclusive": end_exclusive,
        "mood_min": mood_min,
        "mood_max": mood_max,
    }
    items, cursor = await reads.read_page(database, claims, viewer, filters, bind_page(page, bound))
    return json_response({"items": items, "next_cursor": seal_cursor(cursor, bound)})


async def journal_answer(
    database: Database,
    claims: AccessClaims,
    viewer: Viewer,
    journal_id: uuid.UUID,
    if_none_match: str | None,
) -> Response:
    """The answer of `GET /journals/{id}` (also called by its hot route, `journals.hot`)."""
    view = await reads.read_one(database, claims, viewer, journal_id)
    if if_none_match_hits(if_none_match, view["version"]):
        return not_modified(view["version"])
    return json_response(view, headers={"ETag": etag_for(view["version"])})
