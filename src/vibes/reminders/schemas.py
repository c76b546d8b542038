"""Request and response bodies of the reminders API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from vibes.platform.fields import (
    JSON_INT,
    RequiredLine,
    ScheduleInstant,
    Text,
    Unicode,
    not_nullable,
)
from vibes.reminders.recurrence import RecurrenceError, load_zone, normalize_rule

# As a journal's title: trimmed, blank refused (422).
Title = Annotated[RequiredLine, Field(max_length=500)]
Notes = Annotated[Text, Field(max_length=10_000)]
# "5" and true are refused rather than read as numbers.
Priority = Annotated[int, Field(ge=1, le=5), JSON_INT]
ZoneName = Annotated[Unicode, Field(min_length=1, max_length=64, examples=["Europe/Berlin"])]
Rule = Annotated[
    Unicode,
    Field(
        min_length=1,
        max_length=500,
        description="An RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=21`) or one of "
        "`daily`, `weekdays`, `weekends`, `weekly`, `monthly`.",
    ),
]


def _check_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            load_zone(value)
        except RecurrenceError as exc:
            raise ValueError(str(exc)) from None
    return value


def _check_rule(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_rule(value)
    except RecurrenceError as exc:
        raise ValueError(str(exc)) from None


class ReminderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    notes: Notes | None = None
    priority: Priority = 2
    remind_at: ScheduleInstant
    timezone: ZoneName | None = Field(
        default=None, description="IANA zone the recurrence runs in; default: the user's."
    )
    recurrence: Rule | None = None
    journal_id: uuid.UUID | None = None

    _zone = field_validator("timezone")(_check_zone)
    _rule = field_validator("recurrence")(_check_rule)


class ReminderUpdate(BaseModel):
    """Any subset of the create fields; `notes`, `recurrence` and `journal_id` may be null."""

    model_config = ConfigDict(extra="forbid")

    # Optional but not nullable: null is refused (below), so the schema does not offer it.
    title: Title | None = Field(default=None, json_schema_extra=not_nullable)
    notes: Notes | None = None
    priority: Priority | None = Field(default=None, json_schema_extra=not_nullable)
    remind_at: ScheduleInstant | None = Field(default=None, json_schema_extra=not_nullable)
    timezone: ZoneName | None = Field(default=None, json_schema_extra=not_nullable)
    recurrence: Rule | None = None
    journal_id: uuid.UUID | None = None

    _zone = field_validator("timezone")(_check_zone)
    _rule = field_validator("recurrence")(_check_rule)

    @model_validator(mode="after")
    def _required_not_null(self) -> ReminderUpdate:
        for name in ("title", "priority", "remind_at", "timezone"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class SnoozeRequest(BaseModel):
    """Delay the current occurrence: until an instant, or by a number of minutes."""

    model_config = ConfigDict(extra="forbid")

    until: ScheduleInstant | None = None
    minutes: Annotated[int, Field(ge=1, le=60 * 24 * 30), JSON_INT] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> SnoozeRequest:
        if (self.until is None) == (self.minutes is None):
            raise ValueError("give exactly one of `until` or `minutes`")
        return self


class ReminderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    notes: str | None
    priority: int
    remind_at: dt.datetime
    timezone: str
    recurrence: str | None
    is_completed: bool
    completed_at: dt.datetime | None
    snoozed_until: dt.datetime | None
    journal_id: uuid.UUID | None
    next_fire_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ReminderPage(BaseModel):
    items: list[ReminderRead]
    next_cursor: str | None


def dump(reminder: Any) -> dict[str, Any]:
    """A reminder as the JSON-ready dict the API answers with."""
    return ReminderRead.model_validate(reminder).model_dump(mode="json")
