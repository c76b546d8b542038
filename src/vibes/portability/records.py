"""What every import format is read into before it is written: one shape for all of them,
and the 422 that names the entry and field a file got wrong."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from vibes.errors import Unprocessable

# Records travel from a reader to the writer in chunks of this many.
CHUNK = 1000


@dataclass(slots=True)
class TagRecord:
    name: str
    color: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass(slots=True)
class EntryRecord:
    """`source_key`: the entry's identity in its source (`<format>:<id or hash>`);
    `source_id`: our own id when the file is one of our exports (an entry still in this
    account is not imported twice)."""

    source_key: str
    title: str
    content: str
    entry_date: dt.datetime
    tags: list[str] = field(default_factory=list)
    mood_rating: int | None = None
    secret_tag: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    source_id: uuid.UUID | None = None
    # The IANA zone it was written in, where the source says (its local day follows it).
    timezone: str | None = None
    # Where the entry is in the file, for the error that names it.
    where: tuple[str | int, ...] = ()
    # Worked out in the reader's thread (`prepare`), while the writer waits on the
    # database: the content's word count, the tags' keys (sorted, once each).
    word_count: int | None = None
    tag_keys: list[str] | None = None


@dataclass(slots=True)
class ReminderRecord:
    source_key: str
    source_id: uuid.UUID
    title: str
    notes: str | None
    priority: int
    remind_at: dt.datetime
    timezone: str
    recurrence: str | None
    is_completed: bool
    completed_at: dt.datetime | None
    snoozed_until: dt.datetime | None
    occurrence_at: dt.datetime | None
    next_fire_at: dt.datetime | None
    last_fired_at: dt.datetime | None
    journal_source_key: str | None
    journal_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


Chunk = list[TagRecord] | list[EntryRecord] | list[ReminderRecord]


def malformed(where: Sequence[str | int], message: str) -> Unprocessable:
    """A 422 naming the place in the file (`["file", <entry index or member>, …, field]`)."""
    place = "/".join(str(part) for part in where)
    return Unprocessable(
        f"The file is malformed at {place}: {message}",
        errors=[{"loc": ["file", *where], "msg": message, "type": "value_error"}],
    )


def invalid(exc: ValidationError, where: Sequence[str | int]) -> Unprocessable:
    """A pydantic error of one item, as the 422 naming that item and its first bad field."""
    first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    return malformed([*where, *first["loc"]], first["msg"])


def first_line_title(text: str, *, limit: int = 100) -> str:
    """A title for an entry its source left untitled: its first non-blank line."""
    for line in text.splitlines():
        line = " ".join(line.lstrip("#>*- ").split())
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return "Untitled"
