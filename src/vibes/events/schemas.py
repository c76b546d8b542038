"""Request and response bodies of webhooks and their delivery log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vibes.platform.fields import Line, Unicode
from vibes.recording.record import ALL_EVENT_TYPES, EventType


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        Unicode, Field(min_length=8, max_length=2048, examples=["https://example.com/hook"])
    ]
    events: Annotated[
        list[EventType] | None,
        Field(
            min_length=1,
            max_length=20,
            description="Event types to send; omitted or null: all of them (an empty list is"
            " refused as ambiguous).",
        ),
    ] = None

    @field_validator("events", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one event type, or omit the field for all")
        return value

    description: Annotated[Line | None, Field(max_length=500)] = None


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[str] = Field(description="The event types sent (every type when all are).")
    description: str | None
    is_active: bool

    @field_validator("events", mode="after")
    @classmethod
    def _all_when_empty(cls, value: list[str]) -> list[str]:
        # Stored empty means "every type", including ones added later; shown explicitly.
        return value or list(ALL_EVENT_TYPES)

    disabled_reason: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookCreated(WebhookRead):
    """The answer to POST /webhooks: the only time the signing secret is shown."""

    secret: str


class WebhookPage(BaseModel):
    items: list[WebhookRead]
    next_cursor: str | None


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int | None
    created_at: dt.datetime


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    attempts: list[AttemptRead]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None
