"""What the dispatcher does to reminders: fire a due occurrence (its `reminder.due`
event data and dedupe key), move on to the next one, and word the mail."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import utcnow
from vibes.reminders.models import Reminder
from vibes.reminders.recurrence import load_zone
from vibes.reminders.service import iso, record_reminder

log = structlog.get_logger("vibes.reminders")


@dataclass(frozen=True)
class Due:
    """A fired occurrence: its event's dedupe key and (thin) data."""

    dedupe_key: str
    data: dict[str, Any]


def next_base(reminder: Reminder, now: dt.datetime) -> dt.datetime | None:
    """The instant after which `fire` needs the rule's next occurrence (computed by the
    caller with `expand_next`, off the event loop), or None when it needs none."""
    occurrence = reminder.occurrence_at or reminder.next_fire_at or now
    snoozed = reminder.snoozed_until
    if reminder.recurrence is None or (snoozed is not None and occurrence > snoozed):
        return None
    return max(occurrence, now)


def fire(reminder: Reminder, now: dt.datetime, upcoming: dt.datetime | None) -> Due:
    """Turn the reminder's due occurrence into its event and move the reminder on to
    `upcoming` (the rule's next occurrence after `next_base`, None when there is none).

    The caller holds the row (claimed), inserts the event with the dedupe key, and
    flushes; nothing here touches the database.
    """
    due_at = reminder.next_fire_at or now
    occurrence = reminder.occurrence_at or due_at
    snoozed = reminder.snoozed_until
    key = f"reminder.due:{reminder.id}:{iso(occurrence)}"
    if snoozed is not None:
        key += f":snoozed:{iso(snoozed)}"
    data = {
        "reminder_id": str(reminder.id),
        "occurrence_at": iso(occurrence),
        "due_at": iso(due_at),
        "priority": reminder.priority,
        "snoozed": snoozed is not None,
    }
    if snoozed is not None and occurrence > snoozed:
        # A re-fire of an occurrence that already fired: the pending one keeps its time.
        reminder.next_fire_at = occurrence
    else:
        if upcoming is not None:
            reminder.occurrence_at = upcoming
        reminder.next_fire_at = upcoming
    reminder.snoozed_until = None
    reminder.last_fired_at = now
    return Due(dedupe_key=key, data=data)


def record_fired(session: AsyncSession, reminders: list[Reminder]) -> None:
    """Sync change-log rows for reminders the dispatcher moved on (after its flush)."""
    for reminder in reminders:
        record_reminder(session, reminder)


async def due_email(session: AsyncSession, data: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of the email for a `reminder.due` event."""
    reminder = None
    raw_id = data.get("reminder_id")
    if isinstance(raw_id, str):
        try:
            reminder = await session.get(Reminder, uuid.UUID(raw_id))
        except ValueError:
            reminder = None
    if reminder is None:
        return "Reminder", "A reminder of yours is due.\n"
    due = dt.datetime.fromisoformat(str(data.get("due_at") or iso(utcnow())))
    local = due.astimezone(load_zone(reminder.timezone))
    body = (
        f"{reminder.title}\n\n"
        f"Due {local:%A %d %B %Y, %H:%M} ({reminder.timezone}). Priority {reminder.priority}.\n"
    )
    if reminder.notes:
        body += f"\n{reminder.notes}\n"
    return f"Reminder: {reminder.title}", body
