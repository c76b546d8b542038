"""Request and response bodies of the tags API."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vibes.journals.tagnames import TagName
from vibes.platform.fields import Color, not_nullable


class TagUpdate(BaseModel):
    """`name` renames (onto an existing name: the two merge); `color` null clears it."""

    model_config = ConfigDict(extra="forbid")

    # Optional but not nullable: null is refused (below), so the schema does not offer it.
    name: TagName | None = Field(default=None, json_schema_extra=not_nullable)
    color: Color | None = Field(default=None, description='"#rrggbb", or null for none.')

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("name cannot be null")
        return value


class TagRead(BaseModel):
    id: uuid.UUID
    name: str
    color: str | None
    journal_count: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
