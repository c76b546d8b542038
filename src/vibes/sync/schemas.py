"""The documented shape of `GET /sync` (the answer itself is rendered by orjson from the
services' dicts, so each object's `data` has the bytes of its own GET)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field


class SyncChange(BaseModel):
    kind: Literal["journal", "tag", "reminder"]
    id: uuid.UUID
    op: Literal["upsert", "delete"]
    version: int
    data: dict[str, Any] | None = Field(
        description="The object exactly as its own GET answers it; null for a deletion."
    )


class SyncPage(BaseModel):
    changes: list[SyncChange]
    cursor: str = Field(description="Opaque; send it back as `cursor` on the next pull.")
    has_more: bool
