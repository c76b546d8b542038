"""The `vibes` export document (format version 1), checked on import item by item, and
the import's answer. `vibes-export.schema.json` beside this file is generated from
`VibesDocument` (a test keeps them equal)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from vibes.journals.schemas import MAX_CONTENT_BYTES, Mood, TagList, Title
from vibes.journals.tagnames import TagName
from vibes.platform.fields import Color, Text
from vibes.reminders.schemas import Notes, Priority, Rule, ZoneName, _check_rule, _check_zone

FORMAT = "vibes"
VERSION = 1


def _within_entry_limit(value: str) -> str:
    if len(value) > MAX_CONTENT_BYTES // 4 and len(value.encode()) > MAX_CONTENT_BYTES:
        raise ValueError(f"an entry's content is limited to {MAX_CONTENT_BYTES} bytes")
    return value


Content = Annotated[Text, AfterValidator(_within_entry_limit)]


class _Item(BaseModel):
    # Unknown fields are refused: a file from a newer version says so instead of losing data.
    model_config = ConfigDict(extra="forbid")


class ExportedProfile(_Item):
    email: str
    display_name: str | None
    timezone: str
    created_at: AwareDatetime


class ExportedTag(_Item):
    name: TagName
    color: Color | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ExportedJournal(_Item):
    id: uuid.UUID
    title: Title
    content: Content
    entry_date: AwareDatetime
    tags: TagList = Field(default_factory=list)
    mood_rating: Mood | None = None
    secret_tag: TagName | None = Field(
        default=None, description="The secret tag's name, for a secret entry (exported unlocked)."
    )
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ExportedReminder(_Item):
    id: uuid.UUID
    title: Title
    notes: Notes | None = None
    priority: Priority = 2
    remind_at: AwareDatetime
    timezone: Annotated[ZoneName, AfterValidator(_check_zone)]
    recurrence: Annotated[Rule | None, AfterValidator(_check_rule)] = None
    is_completed: bool = False
    completed_at: AwareDatetime | None = None
    snoozed_until: AwareDatetime | None = None
    # The occurrence pending (or last fired) and when the reminder fires next.
    occurrence_at: AwareDatetime | None = None
    next_fire_at: AwareDatetime | None = None
    last_fired_at: AwareDatetime | None = None
    journal_id: uuid.UUID | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ExportedWebhook(_Item):
    """A webhook without its signing secret (an import does not re-create webhooks: a
    new one needs a secret shown once to its owner)."""

    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    is_active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime


class VibesDocument(_Item):
    """A whole account. Streamed in this key order; imported section by section."""

    format: Literal["vibes"]
    version: Literal[1]
    exported_at: AwareDatetime
    profile: ExportedProfile
    tags: list[ExportedTag]
    journals: list[ExportedJournal]
    reminders: list[ExportedReminder]
    webhooks: list[ExportedWebhook]


class Counts(BaseModel):
    journals: StrictInt = 0
    tags: StrictInt = 0
    reminders: StrictInt = 0


class SkippedCounts(Counts):
    media: StrictInt = Field(default=0, description="Photos and other media (not imported).")
    webhooks: StrictInt = 0


class ImportSummary(BaseModel):
    format: Literal["vibes", "markdown", "jrnl", "dayone"]
    imported: Counts
    skipped: SkippedCounts = Field(
        description="Already imported (the same file twice), already present, or not importable."
    )


ImportFormat = Literal["vibes", "markdown", "jrnl", "dayone"]
ExportFormat = Literal["json", "markdown"]


SCHEMA_FILE = "vibes-export.schema.json"


def document_schema() -> dict[str, object]:
    """The JSON Schema of the `vibes` document (what `vibes-export.schema.json` holds)."""
    schema = VibesDocument.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://vibes.dev/schemas/export/v{VERSION}.json"
    return schema
