"""Request and response bodies of webhooks and their delivery log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from vibes.platform.fields import Line, Unicode

EventType = Literal[
    "journal.created",
    "journal.updated",
    "journal.deleted",
    "reminder.created",
    "reminder.completed",
    "reminder.due",
    "tag.created",
    "user.updated",
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        Unicode, Field(min_length=8, max_length=2048, examples=["https://example.com/hook"])
    ]
    events: Annotated[
        list[EventType] | None,
        Field(max_length=20, description="Event types to send; omitted or empty: all of them."),
    ] = None
    description: Annotated[Line | None, Field(max_length=500)] = None


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    is_active: bool
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
