"""HTTP routes of the reminders domain: parse, call the service, choose the status code."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from vibes.accounts.dependencies import CurrentPrincipal
from vibes.journals.dependencies import CurrentViewer
from vibes.journals.visibility import Viewer
from vibes.platform.concurrency import (
    IfMatchHeader,
    IfNoneMatchHeader,
    check_if_match,
    etag_for,
    if_none_match_hits,
    not_modified,
)
from vibes.platform.fields import Instant
from vibes.platform.idempotency import REPLAYED_HEADER, IdempotencyKeyHeader, idempotent
from vibes.platform.pagination import KeyColumn, Keyset, Page, bind_page, seal_cursor
from vibes.platform.runtime import DbSession
from vibes.reminders import service
from vibes.reminders.models import Reminder
from vibes.reminders.schemas import (
    ReminderCreate,
    ReminderPage,
    ReminderRead,
    ReminderUpdate,
    SnoozeRequest,
)

router = APIRouter(prefix="/reminders", tags=["reminders"])

REMINDERS = Keyset(
    "reminders",
    KeyColumn(service.sort_key_column(), dt.datetime, descending=False),
    KeyColumn(Reminder.id.expression, uuid.UUID, descending=False),
)


async def owned_reminder(
    reminder_id: uuid.UUID, db: DbSession, principal: CurrentPrincipal
) -> Reminder:
    """The current user's reminder, or 404 exactly like a missing one."""
    return await service.get_reminder(db, principal.user_id, reminder_id)


OwnedReminder = Annotated[Reminder, Depends(owned_reminder)]


async def locked_reminder(
    reminder_id: uuid.UUID, db: DbSession, principal: CurrentPrincipal
) -> Reminder:
    """The current user's reminder for a write, its row locked for the request's
    transaction: concurrent writes without `If-Match` wait their turn (no spurious 412)."""
    return await service.get_reminder(db, principal.user_id, reminder_id, for_update=True)


LockedReminder = Annotated[Reminder, Depends(locked_reminder)]


async def _hidden(db: DbSession, viewer: Viewer, reminders: Sequence[Reminder]) -> set[uuid.UUID]:
    """Linked entries this request may not see (no query when nothing is linked)."""
    linked = {r.journal_id for r in reminders if r.journal_id is not None}
    return await service.hidden_journal_ids(
        db, viewer.user_id, viewer.unlocked_secret_tag_ids, linked
    )


async def _answer(
    db: DbSession, viewer: Viewer, reminder: Reminder, status_code: int = 200, **headers: str
) -> JSONResponse:
    [body] = await service.render(db, viewer, [reminder])
    return JSONResponse(
        body,
        status_code=status_code,
        headers={"ETag": etag_for(reminder.version), **headers},
    )


async def _as_seen_now(db: DbSession, viewer: Viewer, response: Response) -> Response:
    """A replayed answer (`Idempotency-Key`) shown to this request's viewer: the first
    answer may have been given with the vault unlocked, so a link to a secret entry this
    request cannot see is hidden again, exactly as a GET would hide it."""
    if response.headers.get(REPLAYED_HEADER) != "true":
        return response
    body = json.loads(bytes(response.body))
    linked = body.get("journal_id") if isinstance(body, dict) else None
    if linked is None:
        return response
    hidden = await service.hidden_journal_ids(
        db, viewer.user_id, viewer.unlocked_secret_tag_ids, {uuid.UUID(linked)}
    )
    if not hidden:
        return response
    body["journal_id"] = None
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return JSONResponse(body, status_code=response.status_code, headers=headers)


@router.post("", status_code=201, response_model=ReminderRead)
async def create_reminder(
    request: Request,
    body: ReminderCreate,
    db: DbSession,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Create a reminder. A bad RRULE or time zone is a 422 that says what is wrong."""

    async def produce() -> Response:
        reminder = await service.create_reminder(
            db, principal.user_id, body, unlocked=viewer.unlocked_secret_tag_ids
        )
        return await _answer(
            db, viewer, reminder, 201, Location=f"{request.url.path}/{reminder.id}"
        )

    answer = await idempotent(
        db, user_id=principal.user_id, key=idempotency_key, request=request, produce=produce
    )
    return await _as_seen_now(db, viewer, answer)


@router.get("", response_model=ReminderPage)
async def list_reminders(
    db: DbSession,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    page: Page,
    status: Literal["pending", "completed", "all"] = "pending",
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
) -> ReminderPage:
    """By `next_fire_at` (soonest first; fired or completed ones, with none, last).
    `from`/`to` bound `next_fire_at` (from inclusive, to exclusive)."""
    filters = {"status": status, "from": from_, "to": to}
    page = bind_page(page, filters)
    stmt = REMINDERS.apply(
        service.list_query(principal.user_id, status=status, from_=from_, to=to), page
    )
    rows = (await db.scalars(stmt)).all()
    items, next_cursor = REMINDERS.split(rows, page, service.sort_key)
    next_cursor = seal_cursor(next_cursor, filters)
    hidden = await _hidden(db, viewer, items)
    return ReminderPage(
        items=[
            ReminderRead.model_validate(r).model_copy(update={"journal_id": None})
            if r.journal_id in hidden
            else ReminderRead.model_validate(r)
            for r in items
        ],
        next_cursor=next_cursor,
    )


@router.get("/{reminder_id}", response_model=ReminderRead)
async def get_reminder(
    reminder: OwnedReminder,
    db: DbSession,
    viewer: CurrentViewer,
    if_none_match: IfNoneMatchHeader = None,
) -> Response:
    if if_none_match_hits(if_none_match, reminder.version):
        return not_modified(reminder.version)
    return await _answer(db, viewer, reminder)


@router.patch("/{reminder_id}", response_model=ReminderRead)
async def update_reminder(
    reminder: LockedReminder,
    body: ReminderUpdate,
    db: DbSession,
    viewer: CurrentViewer,
    if_match: IfMatchHeader = None,
) -> Response:
    check_if_match(if_match, reminder.version)
    await service.update_reminder(db, reminder, body, unlocked=viewer.unlocked_secret_tag_ids)
    return await _answer(db, viewer, reminder)


@router.delete("/{reminder_id}", status_code=204)
async def delete_reminder(
    reminder: LockedReminder, db: DbSession, if_match: IfMatchHeader = None
) -> Response:
    check_if_match(if_match, reminder.version)
    await service.delete_reminder(db, reminder)
    return Response(status_code=204)


@router.post("/{reminder_id}/complete", response_model=ReminderRead)
async def complete_reminder(
    request: Request,
    reminder: LockedReminder,
    db: DbSession,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Done with this occurrence: a recurring reminder moves to its next one."""

    async def produce() -> Response:
        check_if_match(if_match, reminder.version)
        await service.complete_reminder(db, reminder)
        return await _answer(db, viewer, reminder)

    answer = await idempotent(
        db, user_id=principal.user_id, key=idempotency_key, request=request, produce=produce
    )
    return await _as_seen_now(db, viewer, answer)


@router.post("/{reminder_id}/snooze", response_model=ReminderRead)
async def snooze_reminder(
    request: Request,
    reminder: LockedReminder,
    body: SnoozeRequest,
    db: DbSession,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Delay this occurrence (`until` an instant, or by `minutes`); later ones keep their time."""

    async def produce() -> Response:
        check_if_match(if_match, reminder.version)
        await service.snooze_reminder(db, reminder, until=body.until, minutes=body.minutes)
        return await _answer(db, viewer, reminder)

    answer = await idempotent(
        db, user_id=principal.user_id, key=idempotency_key, request=request, produce=produce
    )
    return await _as_seen_now(db, viewer, answer)
