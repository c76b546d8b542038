"""HTTP routes of the journals domain: parse, call the service, choose the status code.

Responses are rendered from plain dicts by `json_response` (orjson) (no response_model validation
on the hot paths); the documented shapes are declared with `responses=`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from vibes.accounts.dependencies import AccessToken, CurrentPrincipal
from vibes.journals import hot, writes
from vibes.journals.answers import journal_answer, page_answer
from vibes.journals.dependencies import CurrentViewer, OwnedJournal
from vibes.journals.schemas import (
    MAX_TAG_FILTERS,
    JournalBatchCreate,
    JournalBatchCreated,
    JournalCreate,
    JournalPage,
    JournalRead,
    JournalUpdate,
)
from vibes.journals.tagnames import TAG_NAME_MAX, TAG_NAME_PATTERN
from vibes.platform.concurrency import (
    IfMatchHeader,
    IfNoneMatchHeader,
    etag_for,
)
from vibes.platform.fields import Line
from vibes.platform.idempotency import PLAIN, IdempotencyKeyHeader, idempotent
from vibes.platform.jsonbody import OrjsonBodyRoute
from vibes.platform.pagination import Page
from vibes.platform.responses import json_response
from vibes.platform.runtime import DbSession, runtime_of
from vibes.vault.idempotency import SealedKeeping

router = APIRouter(tags=["journals"], route_class=OrjsonBodyRoute)

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
# What the list's own parsers take (the fast path reads the raw strings), for the schema.
_TAG_FILTER_SCHEMA: dict[str, Any] = {
    "items": {"type": "string", "pattern": TAG_NAME_PATTERN, "maxLength": TAG_NAME_MAX}
}
_BOUND_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time", "maxLength": 40},
        {"type": "string", "format": "date"},
    ],
    "description": "An RFC 3339 date-time or a date.",
}


_json = json_response


_ID_SLOT = "{journal_id}"


def _location(request: Request, journal_id: uuid.UUID) -> str:
    # url_path_for walks every route of the app: once per app, not once per create.
    state = request.app.state
    template = getattr(state, "journal_location", None)
    if template is None:
        template = state.journal_location = str(
            request.app.url_path_for("get_journal", journal_id=_ID_SLOT)
        )
    return str(template).replace(_ID_SLOT, str(journal_id))


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
        view = await writes.create_journal(db, viewer, body)
        return _json(
            view,
            201,
            {"Location": _location(request, view["id"]), "ETag": etag_for(view["version"])},
        )

    unlocked = viewer.secret_tags.get(body.secret_tag_id) if body.secret_tag_id else None
    return await idempotent(
        db,
        user_id=viewer.user_id,
        key=idempotency_key,
        request=request,
        produce=produce,
        # The answer holds the decrypted entry: kept for replay only sealed under its key.
        keeping=PLAIN if unlocked is None else SealedKeeping(unlocked.data_key, viewer.user_id),
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
        ids = await writes.create_batch(db, viewer, body.items)
        return _json({"ids": ids}, 201)  # orjson writes a UUID as `str` does

    secret = [
        unlocked
        for item in body.items
        if item.secret_tag_id is not None
        and (unlocked := viewer.secret_tags.get(item.secret_tag_id)) is not None
    ]
    return await idempotent(
        db,
        user_id=viewer.user_id,
        key=idempotency_key,
        request=request,
        produce=produce,
        # Only ids in the answer, but the body's fingerprint must not be a plain hash.
        keeping=PLAIN
        if not secret
        else SealedKeeping(secret[0].data_key, viewer.user_id, seal_answer=False),
    )


@router.get(
    "/journals",
    response_model=None,
    responses={200: {"model": JournalPage, "description": "A page of entries"}},
)
@hot.fast_list_journals
async def list_journals(
    request: Request,
    claims: AccessToken,
    viewer: CurrentViewer,
    page: Page,
    tag: Annotated[
        list[str],
        Query(
            max_length=MAX_TAG_FILTERS,
            description="Repeatable; every tag must match.",
            json_schema_extra=_TAG_FILTER_SCHEMA,
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults
    q: Annotated[Line | None, Query(min_length=1, max_length=256, description="Full text.")] = None,
    date_from: Annotated[
        str | None, Query(alias="from", max_length=40, json_schema_extra=_BOUND_SCHEMA)
    ] = None,
    date_to: Annotated[
        str | None, Query(alias="to", max_length=40, json_schema_extra=_BOUND_SCHEMA)
    ] = None,
    mood_min: Annotated[int | None, Query(ge=1, le=10)] = None,
    mood_max: Annotated[int | None, Query(ge=1, le=10)] = None,
) -> Response:
    """Newest `entry_date` first. `from`/`to` bound `entry_date` (inclusive; a bare date
    `to=2026-11-30` means through the end of that day, UTC)."""
    return await page_answer(
        runtime_of(request).database,
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


@router.get(
    "/journals/{journal_id}",
    response_model=None,
    responses={
        200: {"model": JournalRead, "description": "The entry, with its ETag"},
        304: {"description": "Not modified (If-None-Match)"},
        404: _PROBLEM,
    },
)
@hot.fast_get_journal
async def get_journal(
    request: Request,
    journal_id: uuid.UUID,
    claims: AccessToken,
    viewer: CurrentViewer,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    """One database round trip: the session check and the tags are in the same query."""
    return await journal_answer(
        runtime_of(request).database, claims, viewer, journal_id, if_none_match
    )


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
    view = await writes.update_journal(db, viewer, journal, changes, if_match=if_match)
    return _json(view, headers={"ETag": etag_for(view["version"])})


@router.delete(
    "/journals/{journal_id}", status_code=204, response_model=None, responses={412: _PROBLEM}
)
async def delete_journal(
    journal: OwnedJournal, viewer: CurrentViewer, db: DbSession, if_match: IfMatchHeader = None
) -> Response:
    await writes.delete_journal(db, viewer, journal, if_match=if_match)
    return Response(status_code=204)
