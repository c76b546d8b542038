"""HTTP routes of the journals domain: parse, call the service, choose the status code.

Responses are rendered from plain dicts by `json_response` (orjson) (no response_model validation
on the hot paths); the documented shapes are declared with `responses=`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from vibes.accounts.dependencies import AccessToken, CurrentPrincipal, DbSession
from vibes.accounts.tokens import AccessClaims
from vibes.db import Database
from vibes.errors import Unprocessable
from vibes.journals import service
from vibes.journals.dependencies import CurrentViewer, OwnedJournal
from vibes.journals.schemas import (
    JournalBatchCreate,
    JournalBatchCreated,
    JournalCreate,
    JournalPage,
    JournalRead,
    JournalUpdate,
)
from vibes.platform.concurrency import (
    IfMatchHeader,
    IfNoneMatchHeader,
    etag_for,
    if_none_match_hits,
    not_modified,
)
from vibes.platform.fields import Line, instant_problem
from vibes.platform.idempotency import IdempotencyKeyHeader, idempotent
from vibes.platform.pagination import Page, PageParams, bind_page, seal_cursor
from vibes.platform.responses import json_response
from vibes.tags.schemas import clean_tag_name, tag_key
from vibes.vault.idempotency import sealed_idempotent

router = APIRouter(tags=["journals"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
        if _BARE_DATE.match(raw):
            day = dt.date.fromisoformat(raw)
            if (problem := instant_problem(dt.datetime(day.year, 1, 1, tzinfo=dt.UTC))) is not None:
                raise _bad_query(name, problem)
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return (midnight + dt.timedelta(days=1), True) if end else (midnight, False)
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise _bad_query(name, "expected an RFC 3339 date-time or a date") from None
    if value.tzinfo is None:
        raise _bad_query(name, "a date-time needs an offset, e.g. Z")
    problem = instant_problem(value)
    if problem is not None:
        raise _bad_query(name, problem)
    return value, False


_json = json_response


def _location(request: Request, journal_id: str) -> str:
    return str(request.app.url_path_for("get_journal", journal_id=journal_id))


@router.post(
    "/journals",
    status_code=201,
    response_model=None,
    responses={201: {"model": JournalRead, "description": "Created"}, 413: _PROBLEM},
)
async def create_journal(
    request: Request,
    body: JournalCreate,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    async def produce() -> Response:
        view = await service.create_journal(db, viewer, body)
        return _json(
            view,
            201,
            {"Location": _location(request, view["id"]), "ETag": etag_for(view["version"])},
        )

    unlocked = viewer.secret_tags.get(body.secret_tag_id) if body.secret_tag_id else None
    if unlocked is not None:
        # The answer holds the decrypted entry: kept for replay only sealed under its key.
        return await sealed_idempotent(
            db,
            user_id=viewer.user_id,
            key=idempotency_key,
            request=request,
            data_key=unlocked.data_key,
            seal_answer=True,
            produce=produce,
        )
    return await idempotent(
        db, user_id=viewer.user_id, key=idempotency_key, request=request, produce=produce
    )


@router.post(
    "/journals/batch",
    status_code=201,
    response_model=None,
    responses={201: {"model": JournalBatchCreated, "description": "Created"}, 413: _PROBLEM},
)
async def create_journals_batch(
    request: Request,
    body: JournalBatchCreate,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Up to 1000 entries in one transaction: all are created, or none."""

    async def produce() -> Response:
        ids = await service.create_batch(db, viewer, body.items)
        return _json({"ids": [str(i) for i in ids]}, 201)

    secret = [
        unlocked
        for item in body.items
        if item.secret_tag_id is not None
        and (unlocked := viewer.secret_tags.get(item.secret_tag_id)) is not None
    ]
    if secret:
        # Only ids in the answer, but the body's fingerprint must not be a plain hash.
        return await sealed_idempotent(
            db,
            user_id=viewer.user_id,
            key=idempotency_key,
            request=request,
            data_key=secret[0].data_key,
            seal_answer=False,
            produce=produce,
        )
    return await idempotent(
        db, user_id=viewer.user_id, key=idempotency_key, request=request, produce=produce
    )


@router.get(
    "/journals",
    response_model=None,
    responses={200: {"model": JournalPage, "description": "A page of entries"}},
)
async def list_journals(
    request: Request,
    claims: AccessToken,
    viewer: CurrentViewer,
    page: Page,
    tag: Annotated[
        list[str], Query(max_length=20, description="Repeatable; every tag must match.")
    ] = [],  # noqa: B006 - FastAPI copies defaults
    q: Annotated[Line | None, Query(min_length=1, max_length=256, description="Full text.")] = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    mood_min: Annotated[int | None, Query(ge=1, le=10)] = None,
    mood_max: Annotated[int | None, Query(ge=1, le=10)] = None,
) -> Response:
    """Newest `entry_date` first. `from`/`to` bound `entry_date` (inclusive; a bare date
    `to=2026-11-30` means through the end of that day, UTC)."""
    return await page_answer(
        request.app.state.database,
        claims,
        viewer,
        page,
        tag,
        q,
        date_from,
        date_to,
        mood_min,
        mood_max,
    )


async def page_answer(
    database: Database,
    claims: AccessClaims,
    viewer: service.Viewer,
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
    filters = service.JournalFilters(
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
    items, cursor = await service.read_page(
        database, claims, viewer, filters, bind_page(page, bound)
    )
    return _json({"items": items, "next_cursor": seal_cursor(cursor, bound)})


@router.get(
    "/journals/{journal_id}",
    response_model=None,
    responses={
        200: {"model": JournalRead, "description": "The entry, with its ETag"},
        304: {"description": "Not modified (If-None-Match)"},
        404: _PROBLEM,
    },
)
async def get_journal(
    request: Request,
    journal_id: uuid.UUID,
    claims: AccessToken,
    viewer: CurrentViewer,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    """One database round trip: the session check and the tags are in the same query."""
    return await journal_answer(
        request.app.state.database, claims, viewer, journal_id, if_none_match
    )


async def journal_answer(
    database: Database,
    claims: AccessClaims,
    viewer: service.Viewer,
    journal_id: uuid.UUID,
    if_none_match: str | None,
) -> Response:
    """The answer of `GET /journals/{id}` (also called by its hot route, `journals.hot`)."""
    view = await service.read_one(database, claims, viewer, journal_id)
    if if_none_match_hits(if_none_match, view["version"]):
        return not_modified(view["version"])
    return _json(view, headers={"ETag": etag_for(view["version"])})


@router.patch(
    "/journals/{journal_id}",
    response_model=None,
    responses={200: {"model": JournalRead, "description": "Updated"}, 412: _PROBLEM},
)
async def update_journal(
    journal: OwnedJournal,
    body: JournalUpdate,
    viewer: CurrentViewer,
    db: DbSession,
    if_match: IfMatchHeader = None,
) -> Response:
    changes = body.model_dump(exclude_unset=True)
    view = await service.update_journal(db, viewer, journal, changes, if_match=if_match)
    return _json(view, headers={"ETag": etag_for(view["version"])})


@router.delete(
    "/journals/{journal_id}", status_code=204, response_model=None, responses={412: _PROBLEM}
)
async def delete_journal(
    journal: OwnedJournal, viewer: CurrentViewer, db: DbSession, if_match: IfMatchHeader = None
) -> Response:
    await service.delete_journal(db, viewer, journal, if_match=if_match)
    return Response(status_code=204)
