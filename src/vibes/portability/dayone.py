"""Reading a Day One JSON export: a zip with one `<Journal>.json` per journal
(`entries[]` with `uuid`, `text`, `creationDate`, `modifiedDate`, `timeZone`, `tags`,
`starred`, `photos`…) beside its media folders. An entry keeps its uuid as its source
identity and its instant; its first Markdown heading becomes the title; Day One's
backslash-escaped punctuation is unescaped. The journal's name becomes a tag (two
journals stay told apart) and a starred entry gets the tag `starred`. Media is not
imported: it is counted under `skipped`."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Annotated, Any

import ijson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
)

from vibes.journals.schemas import MAX_TAGS
from vibes.journals.tagnames import TagName, clean_tag_name
from vibes.portability.archive import open_archive
from vibes.portability.records import (
    CHUNK,
    Chunk,
    EntryRecord,
    first_line_title,
    invalid,
    malformed,
)
from vibes.portability.schemas import Content
from vibes.reminders.recurrence import load_zone
from vibes.reminders.schemas import _check_zone

STARRED = "starred"
_MEDIA_KEYS = ("photos", "videos", "audios", "pdfAttachments")
# Day One escapes Markdown punctuation it did not mean as markup: `1\. not a list`.
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|=])")
# Where a photo sat in the text: the media is not imported, so neither is its link.
_MOMENT = re.compile(r"!\[\]\(dayone-moment:[^)]*\)\n?")
_HEADING = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$")


class DayOneEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uuid: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
    text: Content = ""
    creationDate: AwareDatetime
    modifiedDate: AwareDatetime | None = None
    timeZone: Annotated[str | None, AfterValidator(_check_zone)] = None
    tags: Annotated[list[TagName], Field(max_length=MAX_TAGS)] = Field(default_factory=list)
    starred: StrictBool = False


def unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def split_title(text: str) -> tuple[str, str]:
    """(title, content): the first Markdown heading, taken out of the text, or (with no
    heading) the first line, left in it."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        heading = _HEADING.match(line)
        if heading is None:
            break
        rest = lines[index + 1 :]
        while rest and not rest[0].strip():
            rest = rest[1:]
        return " ".join(heading.group(1).split())[:500], "\n".join(rest)
    return first_line_title(text), text


def _record(entry: DayOneEntry, journal: str, where: tuple[str | int, ...]) -> EntryRecord:
    created = entry.creationDate
    if entry.timeZone is not None:
        # The same instant, at the offset the writer saw on their clock.
        created = created.astimezone(load_zone(entry.timeZone))
    title, content = split_title(unescape(_MOMENT.sub("", entry.text)))
    tags = [*entry.tags, journal]
    if entry.starred:
        tags.append(STARRED)
    return EntryRecord(
        source_key=f"dayone:{entry.uuid}",
        title=title,
        content=content,
        entry_date=created,
        timezone=entry.timeZone,
        tags=tags,
        created_at=entry.creationDate,
        updated_at=entry.modifiedDate or entry.creationDate,
        where=where,
    )


def _media(item: Any) -> int:
    if not isinstance(item, dict):
        return 0
    return sum(len(item[key]) for key in _MEDIA_KEYS if isinstance(item.get(key), list))


def _journal_name(member: str) -> str:
    try:
        return clean_tag_name(PurePosixPath(member).stem)
    except ValueError:
        return "Day One"


def read_dayone(file: IO[bytes], skipped: dict[str, int], *, max_bytes: int) -> Iterator[Chunk]:
    archive = open_archive(file, max_bytes=max_bytes)
    journals = sorted(
        m.filename
        for m in archive.infolist()
        if not m.is_dir() and m.filename.lower().endswith(".json")
    )
    if not journals:
        raise malformed([], "a Day One export holds one <Journal>.json per journal; none found")
    pending: list[EntryRecord] = []
    for member in journals:
        journal = _journal_name(member)
        try:
            with archive.open(member) as stream:
                for index, item in enumerate(ijson.items(stream, "entries.item", use_float=True)):
                    where: tuple[str | int, ...] = (member, "entries", index)
                    try:
                        entry = DayOneEntry.model_validate(item)
                    except ValidationError as exc:
                        raise invalid(exc, where) from None
                    skipped["media"] = skipped.get("media", 0) + _media(item)
                    pending.append(_record(entry, journal, where))
                    if len(pending) >= CHUNK:
                        yield pending
                        pending = []
        except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
            raise malformed([member], f"not valid JSON ({exc})") from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise malformed([member], f"a damaged archive member ({exc})") from None
    if pending:
        yield pending
