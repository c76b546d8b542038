"""The rules of reminders: scheduling, completing, snoozing, and firing occurrences.

State of a reminder, in three columns:
- `occurrence_at`: the occurrence of the rule that is pending (or, once a one-off has
  fired, the one that fired);
- `snoozed_until`: set while the user has delayed an occurrence;
- `next_fire_at`: when the dispatcher fires next: `snoozed_until` or `occurrence_at`,
  NULL when nothing is left.

Firing an occurrence writes one `reminder.due` event keyed by
`reminder.due:<id>:<occurrence>` (plus `:snoozed:<until>` for a snoozed re-fire), so one
occurrence can only ever become one event, whatever the number of dispatchers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import structlog
from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.db import UTCDateTime, utcnow
from vibes.errors import Conflict, NotFound, Unprocessable
from vibes.journals.models import Journal
from vibes.journals.visibility import Viewer, visible_journals
from vibes.platform.portable import lock_rows
from vibes.recording.record import EventType, delete_recorded, record_write
from vibes.reminders.models import Reminder
from vibes.reminders.recurrence import RecurrenceError, Schedule, load_zone
from vibes.reminders.schemas import ReminderCreate, ReminderUpdate, dump

log = structlog.get_logger("vibes.reminders")

Status = Literal["pending", "completed", "all"]
# NULL next_fire_at (fired one-offs, completed reminders) sorts after every instant, the
# same way on both databases.
FAR_FUTURE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def schedule_of(reminder: Reminder) -> Schedule:
    return Schedule(reminder.remind_at, reminder.timezone, reminder.recurrence)


def _field_error(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        message, errors=[{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


def expand_next(
    work: Sequence[tuple[Schedule, dt.datetime]],
) -> list[dt.datetime | RecurrenceError | None]:
    """For each (schedule, instant): its first occurrence strictly after the instant, None
    when the rule has ended, or the RecurrenceError when it cannot be expanded. CPU-bound
    (bounded, but up to a few milliseconds a rule): callers run it in a thread."""
    results: list[dt.datetime | RecurrenceError | None] = []
    for schedule, instant in work:
        try:
            results.append(schedule.next_after(instant))
        except RecurrenceError as exc:
            results.append(exc)
    return results


async def _first_occurrence(schedule: Schedule, now: dt.datetime) -> dt.datetime:
    """Where a new or rescheduled reminder starts: a one-off at remind_at (even if past:
    it is overdue and fires at once); a recurring one at its first occurrence that is
    not already behind us."""
    if schedule.recurrence is None:
        return schedule.remind_at
    start = max(schedule.remind_at, now)
    try:
        first = await asyncio.to_thread(
            lambda: next(schedule.occurrences_after(start, inclusive=True), None)
        )
    except RecurrenceError as exc:
        raise _field_error("recurrence", str(exc)) from None
    if first is None:
        raise _field_error(
            "recurrence", "The recurrence has no occurrence at or after remind_at (or now)."
        )
    return first


def _viewer(user_id: uuid.UUID, unlocked: frozenset[uuid.UUID]) -> Viewer:
    return Viewer(user_id=user_id, unlocked_secret_tag_ids=unlocked)


async def _check_journal(
    session: AsyncSession,
    user_id: uuid.UUID,
    journal_id: uuid.UUID,
    unlocked: frozenset[uuid.UUID] = frozenset(),
) -> None:
    # One answer for "missing", "someone else's" and "in a locked secret tag": the journals'
    # visibility rule decides, so the id's existence never leaks.
    visible = visible_journals(_viewer(user_id, unlocked))
    found = await session.scalar(
        select(Journal.id).where(Journal.id == journal_id, visible.clause), visible.params
    )
    if found is None:
        raise _field_error("journal_id", "journal_id does not name one of your journal entries.")


def record_reminder(
    session: AsyncSession,
    reminder: Reminder,
    *,
    event: EventType | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    record_write(
        session,
        user_id=reminder.user_id,
        kind="reminder",
        entity_id=reminder.id,
        op="upsert",
        version=reminder.version,
        event=event,
        data=data,
    )


async def hidden_journal_ids(
    session: AsyncSession,
    user_id: uuid.UUID,
    unlocked: frozenset[uuid.UUID],
    journal_ids: set[uuid.UUID],
) -> set[uuid.UUID]:
    """Which of these linked entries the request may not see (secret entries of locked
    tags): their reminders answer `journal_id: null`, as if the entry did not exist."""
    if not journal_ids:
        return set()
    visibility = visible_journals(_viewer(user_id, unlocked))
    visible = await session.scalars(
        select(Journal.id).where(Journal.id.in_(sorted(journal_ids)), visibility.clause),
        visibility.params,
    )
    return journal_ids - set(visible)


async def render(
    session: AsyncSession, viewer: Viewer, reminders: Sequence[Reminder]
) -> list[dict[str, Any]]:
    """Reminders as JSON-ready dicts as the API shows them to this viewer: a link to an
    entry it may not see is null."""
    hidden = await hidden_journal_ids(
        session,
        viewer.user_id,
        viewer.unlocked_secret_tag_ids,
        {r.journal_id for r in reminders if r.journal_id is not None},
    )
    bodies = []
    for reminder in reminders:
        body = dump(reminder)
        if reminder.journal_id in hidden:
            body["journal_id"] = None  # a locked secret entry, as if it did not exist
        bodies.append(body)
    return bodies


async def views_by_id(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The user's reminders among `ids`, rendered as `GET /reminders/{id}` renders them."""
    if not ids:
        return {}
    found = list(
        await session.scalars(
            select(Reminder).where(
                Reminder.user_id == viewer.user_id, Reminder.id.in_(sorted(set(ids)))
            )
        )
    )
    bodies = await render(session, viewer, found)
    return {reminder.id: body for reminder, body in zip(found, bodies, strict=True)}


async def create_reminder(
    session: AsyncSession,
    user_id: uuid.UUID,
    data: ReminderCreate,
    *,
    now: dt.datetime | None = None,
    unlocked: frozenset[uuid.UUID] = frozenset(),
) -> Reminder:
    now = now or utcnow()
    zone = data.timezone
    if zone is None:
        zone = await session.scalar(select(User.timezone).where(User.id == user_id)) or "UTC"
        try:
            load_zone(zone)
        except RecurrenceError:
            zone = "UTC"
    if data.journal_id is not None:
        await _check_journal(session, user_id, data.journal_id, unlocked)
    schedule = Schedule(data.remind_at.astimezone(dt.UTC), zone, data.recurrence)
    first = await _first_occurrence(schedule, now)
    reminder = Reminder(
        user_id=user_id,
        title=data.title,
        notes=data.notes,
        priority=data.priority,
        remind_at=schedule.remind_at,
        timezone=zone,
        recurrence=data.recurrence,
        journal_id=data.journal_id,
        occurrence_at=first,
        next_fire_at=first,
        is_completed=False,
    )
    session.add(reminder)
    await session.flush()
    record_reminder(
        session,
        reminder,
        event="reminder.created",
        data={"reminder_id": str(reminder.id), "next_fire_at": iso(first)},
    )
    return reminder


async def get_reminder(
    session: AsyncSession, user_id: uuid.UUID, reminder_id: uuid.UUID, *, for_update: bool = False
) -> Reminder:
    """The user's reminder or 404. `for_update` locks its row until the transaction ends,
    so concurrent unconditional writes take turns instead of failing the version check."""
    stmt = select(Reminder).where(Reminder.id == reminder_id, Reminder.user_id == user_id)
    if for_update:
        stmt = lock_rows(stmt, session)
    reminder = await session.scalar(stmt)
    if reminder is None:
        raise NotFound()
    return reminder


def list_query(
    user_id: uuid.UUID,
    *,
    status: Status = "pending",
    from_: dt.datetime | None = None,
    to: dt.datetime | None = None,
) -> Select[Reminder]:
    """Reminders of one user by next_fire_at; the router pages it with the keyset below."""
    stmt = select(Reminder).where(Reminder.user_id == user_id)
    if status == "pending":
        stmt = stmt.where(Reminder.is_completed.is_(False))
    elif status == "completed":
        stmt = stmt.where(Reminder.is_completed.is_(True))
    if from_ is not None:
        stmt = stmt.where(Reminder.next_fire_at >= from_)
    if to is not None:
        stmt = stmt.where(Reminder.next_fire_at < to)
    return stmt


def sort_key_column() -> Any:
    return func.coalesce(Reminder.next_fire_at, literal(FAR_FUTURE, type_=UTCDateTime()))


def sort_key(reminder: Reminder) -> tuple[dt.datetime, uuid.UUID]:
    return (reminder.next_fire_at or FAR_FUTURE, reminder.id)


async def update_reminder(
    session: AsyncSession,
    reminder: Reminder,
    data: ReminderUpdate,
    *,
    now: dt.datetime | None = None,
    unlocked: frozenset[uuid.UUID] = frozenset(),
) -> Reminder:
    now = now or utcnow()
    # Fields given with their current value change nothing (and bump no version).
    changes = {
        name: value
        for name, value in data.model_dump(exclude_unset=True).items()
        if getattr(reminder, name) != value
    }
    if changes.get("journal_id") is not None and changes["journal_id"] != reminder.journal_id:
        await _check_journal(session, reminder.user_id, changes["journal_id"], unlocked)
    timing = {"remind_at", "timezone", "recurrence"} & changes.keys()
    for name, value in changes.items():
        if name == "remind_at":
            value = value.astimezone(dt.UTC)
        setattr(reminder, name, value)
    if timing and not reminder.is_completed:
        # A new schedule starts afresh: a pending snooze belonged to the old one.
        first = await _first_occurrence(schedule_of(reminder), now)
        reminder.occurrence_at = first
        reminder.next_fire_at = first
        reminder.snoozed_until = None
    elif timing:
        # Validate even when completed, so a bad rule is never stored.
        await _first_occurrence(schedule_of(reminder), now)
    if changes:
        await session.flush()
        record_reminder(session, reminder)
    return reminder


async def delete_reminder(session: AsyncSession, reminder: Reminder) -> None:
    await delete_recorded(session, reminder, kind="reminder")


async def complete_reminder(
    session: AsyncSession, reminder: Reminder, *, now: dt.datetime | None = None
) -> Reminder:
    """Mark the current occurrence done: a recurring reminder moves on to its next
    occurrence, a one-off one is completed. Completing twice changes nothing."""
    now = now or utcnow()
    if reminder.is_completed:
        return reminder
    completed_occurrence = reminder.occurrence_at
    if reminder.recurrence is None:
        reminder.is_completed = True
        reminder.next_fire_at = None
    else:
        fired_unacknowledged = reminder.last_fired_at is not None and (
            reminder.completed_at is None or reminder.completed_at < reminder.last_fired_at
        )
        if (
            fired_unacknowledged
            and reminder.occurrence_at is not None
            and reminder.occurrence_at > now
        ):
            # The occurrence that fired is the one being completed; the dispatcher has
            # already scheduled the next one, which must not be skipped.
            reminder.next_fire_at = reminder.occurrence_at
        else:
            base = max(reminder.occurrence_at or reminder.remind_at, now)
            [upcoming] = await asyncio.to_thread(expand_next, [(schedule_of(reminder), base)])
            if isinstance(upcoming, RecurrenceError):
                # A stored rule that cannot be expanded (kept from before a bound existed)
                # ends here rather than failing every completion.
                log.warning("reminder rule cannot be expanded", reminder_id=str(reminder.id))
                upcoming = None
            if upcoming is None:
                reminder.is_completed = True
                reminder.next_fire_at = None
            else:
                reminder.occurrence_at = upcoming
                reminder.next_fire_at = upcoming
    reminder.snoozed_until = None
    reminder.completed_at = now
    await session.flush()
    record_reminder(
        session,
        reminder,
        event="reminder.completed",
        data={
            "reminder_id": str(reminder.id),
            "occurrence_at": iso(completed_occurrence) if completed_occurrence else None,
            "next_fire_at": iso(reminder.next_fire_at) if reminder.next_fire_at else None,
        },
    )
    return reminder


async def snooze_reminder(
    session: AsyncSession,
    reminder: Reminder,
    *,
    until: dt.datetime | None = None,
    minutes: int | None = None,
    now: dt.datetime | None = None,
) -> Reminder:
    """Delay this occurrence only; the rule's later occurrences keep their times.

    Snoozing never makes a reminder fire earlier than it would have. Which time it
    delays: an occurrence that fired and was not completed is reminded of again (from
    now, or from a snooze of it still pending); otherwise the pending one is delayed
    from when it would fire (`minutes` count from then; an `until` before it is a 422).
    """
    now = now or utcnow()
    if reminder.is_completed:
        raise Conflict("A completed reminder cannot be snoozed.")
    fired_unacknowledged = reminder.last_fired_at is not None and (
        reminder.completed_at is None or reminder.completed_at < reminder.last_fired_at
    )
    would_fire = reminder.snoozed_until if fired_unacknowledged else reminder.next_fire_at
    floor = max(would_fire or now, now)
    target = (
        until.astimezone(dt.UTC)
        if until is not None
        else floor + dt.timedelta(minutes=minutes or 0)
    )
    if target <= now:
        raise _field_error("until", "until must be in the future.")
    if target < floor:
        raise _field_error(
            "until",
            f"until is before the reminder would fire ({iso(floor)}); "
            "snoozing never brings a reminder forward.",
        )
    if reminder.occurrence_at is None:
        reminder.occurrence_at = reminder.remind_at
    reminder.snoozed_until = target
    reminder.next_fire_at = target
    await session.flush()
    record_reminder(session, reminder)
    return reminder
