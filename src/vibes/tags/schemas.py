"""Request and response bodies of the tags API."""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
import uuid
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from vibes.platform.fields import text_problem

TAG_NAME_MAX = 64


def clean_tag_name(value: str) -> str:
    """NFC, trimmed, inner whitespace collapsed; no control characters."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise ValueError("a tag name must not be blank")
    if len(name) > TAG_NAME_MAX:
        raise ValueError(f"a tag name has at most {TAG_NAME_MAX} characters")
    if text_problem(name, single_line=True) is not None:
        raise ValueError("a tag name must not contain control characters")
    return name


@functools.lru_cache(maxsize=8192)  # every listed entry's tags are sorted by it
def tag_key(name: str) -> str:
    """What makes two names one tag: case-folded, so "Work" and "WORK" are the same."""
    return clean_tag_name(name).casefold()[:TAG_NAME_MAX]


TagName = Annotated[
    str, StringConstraints(max_length=4 * TAG_NAME_MAX), AfterValidator(clean_tag_name)
]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class TagUpdate(BaseModel):
    """`name` renames (onto an existing name: the two merge); `color` null clears it."""

    model_config = ConfigDict(extra="forbid")

    name: TagName | None = None
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
