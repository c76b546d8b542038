"""Request and response bodies of the journals API.

`entry_date` is an instant (RFC 3339 with an offset, stored in UTC). A bare date
(`2026-11-27`) is accepted too and means midnight UTC of that day, which is what importers
of day-based journals send; a date-time without an offset is refused (422) rather than
guessed. `content` is limited to 1 MiB of UTF-8 by the service, which answers 413.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from vibes.journals.tagnames import TagName
from vibes.platform.fields import JSON_INT, Instant, RequiredLine, Text, not_nullable

MAX_CONTENT_BYTES = 1024 * 1024
MAX_TAGS = 50
MAX_BATCH = 1000
# Tag filters on one list request (`tag=` repeated).
MAX_TAG_FILTERS = 20
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bare_date_is_midnight_utc(value: Any) -> Any:
    if isinstance(value, str) and _BARE_DATE.match(value):
        return f"{value}T00:00:00Z"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


EntryDate = Annotated[Instant, BeforeValidator(_bare_date_is_midnight_utc)]
# Trimmed; blank (spaces only) is a 422, never stored as "".
Title = Annotated[RequiredLine, Field(max_length=500)]
# "5" and true are refused rather than read as numbers.
Mood = Annotated[int, Field(ge=1, le=10), JSON_INT]
TagList = Annotated[list[TagName], Field(max_length=MAX_TAGS)]


class JournalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    content: Text = Field(description="Markdown, up to 1 MiB of UTF-8 (bigger: 413).")
    entry_date: EntryDate | None = Field(
        default=None, description="The day the entry is about; defaults to now."
    )
    tags: TagList = Field(default_factory=list, description="Tag names; new ones are created.")
    mood_rating: Mood | None = None
    secret_tag_id: uuid.UUID | None = Field(
        default=None, description="Put the entry in this (unlocked) secret tag."
    )


class JournalUpdate(BaseModel):
    """Any subset of the create fields; `tags` replaces the whole set. `mood_rating` and
    `secret_tag_id` may be null to clear them; the other fields may not."""

    model_config = ConfigDict(extra="forbid")

    # Optional but not nullable: null is refused (below), so the schema does not offer it.
    title: Title | None = Field(default=None, json_schema_extra=not_nullable)
    content: Text | None = Field(default=None, json_schema_extra=not_nullable)
    entry_date: EntryDate | None = Field(default=None, json_schema_extra=not_nullable)
    tags: TagList | None = Field(default=None, json_schema_extra=not_nullable)
    mood_rating: Mood | None = None
    secret_tag_id: uuid.UUID | None = None

    @field_validator("title", "content", "entry_date", "tags")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("this field cannot be null")
        return value


class JournalBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[JournalCreate] = Field(min_length=1, max_length=MAX_BATCH)


class JournalBatchCreated(BaseModel):
    ids: list[uuid.UUID]


class SecretTagRef(BaseModel):
    id: uuid.UUID
    name: str


class JournalRead(BaseModel):
    id: uuid.UUID
    title: str
    content: str
    entry_date: dt.datetime
    tags: list[str]
    mood_rating: int | None
    word_count: int
    secret_tag: SecretTagRef | None = None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class JournalPage(BaseModel):
    items: list[JournalRead]
    next_cursor: str | None
