"""Response bodies of the global search."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

ResultType = Literal["journal", "reminder", "tag"]


class SearchHit(BaseModel):
    type: ResultType
    id: uuid.UUID
    title: str
    snippet: str
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) character offsets of matched words within `snippet`."
    )
    score: float = Field(description="Higher is better; comparable within one type.")
    created_at: dt.datetime


class SearchPage(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None
