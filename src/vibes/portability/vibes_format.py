"""Reading our own `vibes` JSON export, streamed: one item at a time off the spooled
file (ijson), checked against its schema, handed on in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson
from pydantic import BaseModel, ValidationError

from vibes.portability.records import (
    CHUNK,
    Chunk,
    EntryRecord,
    ReminderRecord,
    TagRecord,
    invalid,
    malformed,
)
from vibes.portability.schemas import (
    FORMAT,
    VERSION,
    ExportedJournal,
    ExportedProfile,
    ExportedReminder,
    ExportedTag,
    ExportedWebhook,
)

_SECTIONS: dict[str, type[BaseModel]] = {
    "tags": ExportedTag,
    "journals": ExportedJournal,
    "reminders": ExportedReminder,
    "webhooks": ExportedWebhook,
}
_HEADER = {"format", "version", "exported_at", "profile"}


def _values(file: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """(top-level key, value) for the header, (section, item) for each section item,
    built one at a time from the parser's events. The items are built here rather than
    by ijson's `ObjectBuilder`: a method call per event was a third of reading a file."""
    stack: list[Any] = []  # the containers of the item being built, innermost last
    item: Any = None
    key: Any = None
    name = ""
    for prefix, event, value in ijson.parse(file, use_float=True):
        if stack:
            if event == "map_key":
                key = value
                continue
            top = stack[-1]
            if event == "end_map" or event == "end_array":
                stack.pop()
                if not stack:
                    yield name, item
                continue
            if event == "start_map":
                value = {}
                stack.append(value)
            elif event == "start_array":
                value = []
                stack.append(value)
            if type(top) is dict:
                top[key] = value
            else:
                top.append(value)
            continue
        if prefix == "" and event == "map_key":
            if value not in _SECTIONS and value not in _HEADER:
                raise malformed([value], "not a field of a vibes export")
            continue
        if prefix == "" or (prefix in _SECTIONS and event in ("start_array", "end_array")):
            if prefix == "" and event not in ("start_map", "end_map", "map_key"):
                raise malformed([], "a vibes export is a JSON object")
            continue
        name = prefix.removesuffix(".item")
        if event == "start_map" or event == "start_array":
            item = {} if event == "start_map" else []
            stack.append(item)
            continue
        yield name, value  # a scalar header field, or a scalar where an item should be


def _check(model: type[BaseModel], value: Any, where: list[str | int]) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid(exc, where) from None


def read_vibes(file: IO[bytes], skipped: dict[str, int]) -> Iterator[Chunk]:
    """Chunks of tags, then entries, then reminders (in the file's order); webhooks are
    counted under `skipped` (see `ExportedWebhook`)."""
    header: dict[str, Any] = {}
    index = dict.fromkeys(_SECTIONS, 0)
    pending: list[Any] = []
    pending_kind = ""
    try:
        for key, value in _values(file):
            if key in _HEADER:
                header[key] = value
                continue
            if header.get("format") != FORMAT:
                raise malformed(["format"], f'must be "{FORMAT}", before the data')
            if header.get("version") != VERSION:
                raise malformed(
                    ["version"], f"must be {VERSION} (the only version this server reads)"
                )
            where: list[str | int] = [key, index[key]]
            index[key] += 1
            item = _check(_SECTIONS[key], value, where)
            if key == "webhooks":
                skipped["webhooks"] = skipped.get("webhooks", 0) + 1
                continue
            if pending and (pending_kind != key or len(pending) >= CHUNK):
                yield pending
                pending = []
            pending_kind = key
            pending.append(_record(item, where))
    except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
        raise malformed([], f"not valid JSON ({exc})") from None
    if header.get("format") != FORMAT:
        raise malformed(["format"], f'must be "{FORMAT}"')
    if "profile" in header:
        _check(ExportedProfile, header["profile"], ["profile"])
    if pending:
        yield pending


def _record(item: Any, where: list[str | int]) -> TagRecord | EntryRecord | ReminderRecord:
    if isinstance(item, ExportedTag):
        return TagRecord(item.name, item.color, item.created_at, item.updated_at)
    if isinstance(item, ExportedJournal):
        return EntryRecord(
            source_key=f"vibes:{item.id}",
            source_id=item.id,
            title=item.title,
            content=item.content,
            entry_date=item.entry_date,
            tags=list(item.tags),
            mood_rating=item.mood_rating,
            secret_tag=item.secret_tag,
            created_at=item.created_at,
            updated_at=item.updated_at,
            where=tuple(where),
        )
    assert isinstance(item, ExportedReminder)
    return ReminderRecord(
        source_key=f"vibes:{item.id}",
        source_id=item.id,
        title=item.title,
        notes=item.notes,
        priority=item.priority,
        remind_at=item.remind_at,
        timezone=item.timezone,
        recurrence=item.recurrence,
        is_completed=item.is_completed,
        completed_at=item.completed_at,
        snoozed_until=item.snoozed_until,
        occurrence_at=item.occurrence_at,
        next_fire_at=item.next_fire_at,
        last_fired_at=item.last_fired_at,
        journal_source_key=None if item.journal_id is None else f"vibes:{item.journal_id}",
        journal_id=item.journal_id,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
