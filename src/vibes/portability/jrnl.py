"""Reading jrnl's JSON export (`jrnl --format json`): `entries[]` with `title`, `body`,
`date` and `time` (local wall time: read in the account's time zone), `tags` with their
`@` prefix, `starred`. jrnl entries have no ids: each is known by a hash of its content.
A starred entry gets the tag `starred`."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import IO, Annotated

import ijson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from vibes.journals.schemas import MAX_TAGS
from vibes.journals.tagnames import TagName
from vibes.portability.records import (
    CHUNK,
    Chunk,
    EntryRecord,
    first_line_title,
    invalid,
    malformed,
)
from vibes.portability.schemas import Content
from vibes.reminders.recurrence import RecurrenceError, load_zone

STARRED = "starred"


class JrnlEntry(BaseModel):
    # jrnl adds fields over versions (e.g. its own metadata): read what we know.
    model_config = ConfigDict(extra="ignore")

    title: Annotated[str, Field(max_length=500)]
    body: Content
    date: dt.date
    time: dt.time
    tags: Annotated[list[TagName], Field(max_length=MAX_TAGS)] = Field(default_factory=list)
    starred: StrictBool = False

    @field_validator("tags", mode="before")
    @classmethod
    def _without_at(cls, value: object) -> object:
        if isinstance(value, list):
            return [v.removeprefix("@") if isinstance(v, str) else v for v in value]
        return value

    @field_validator("date", "time", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # jrnl writes both as text (YYYY-MM-DD, HH:MM); a number is not read as a time.
        if not isinstance(value, str):
            raise ValueError("jrnl writes dates as YYYY-MM-DD and times as HH:MM")
        return value


def _record(entry: JrnlEntry, index: int, zone: dt.tzinfo) -> EntryRecord:
    title = " ".join(entry.title.split())
    local = dt.datetime.combine(entry.date, entry.time.replace(tzinfo=None))
    tags = list(entry.tags)
    if entry.starred:
        tags.append(STARRED)
    digest = hashlib.sha256(
        "\x1f".join((entry.date.isoformat(), entry.time.isoformat(), title, entry.body)).encode()
    ).hexdigest()
    return EntryRecord(
        source_key=f"jrnl:sha256:{digest}",
        title=title or first_line_title(entry.body),
        content=entry.body,
        entry_date=local.replace(tzinfo=zone).astimezone(dt.UTC),
        tags=tags,
        where=("entries", index),
    )


def read_jrnl(file: IO[bytes], *, zone: str) -> Iterator[Chunk]:
    try:
        tz: dt.tzinfo = load_zone(zone)
    except RecurrenceError:
        tz = dt.UTC
    pending: list[EntryRecord] = []
    count = 0
    try:
        for index, item in enumerate(ijson.items(file, "entries.item", use_float=True)):
            count += 1
            try:
                entry = JrnlEntry.model_validate(item)
            except ValidationError as exc:
                raise invalid(exc, ["entries", index]) from None
            pending.append(_record(entry, index, tz))
            if len(pending) >= CHUNK:
                yield pending
                pending = []
    except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
        raise malformed([], f"not valid JSON ({exc})") from None
    if count == 0:
        _check_shape(file)
    if pending:
        yield pending


def _check_shape(file: IO[bytes]) -> None:
    """No entry read: an empty export is fine; a file without `entries` is not jrnl's."""
    file.seek(0)
    try:
        for prefix, event, _ in ijson.parse(file):
            if prefix == "entries" and event == "start_array":
                return
    except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
        raise malformed([], f"not valid JSON ({exc})") from None
    raise malformed(["entries"], "a jrnl JSON export has an `entries` list")
