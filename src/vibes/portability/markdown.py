"""Our Markdown export: a zip streamed as it is written, one
`YYYY/MM/DD-<slug>-<short id>.md` per entry (the day in the account's time zone) with
YAML front matter (`id`, `title`, `entry_date`, `tags`, `mood_rating`, `created_at`,
`updated_at`, and `secret_tag` for a secret entry) above the content, unchanged. Read
back by `read_markdown`, losslessly: the entry's id is its source identity, the same one
our JSON export gives it."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from vibes.accounts.models import User
from vibes.db import Database
from vibes.journals.schemas import Mood, TagList, Title
from vibes.journals.tagnames import TagName
from vibes.journals.visibility import Viewer
from vibes.platform.responses import json_bytes
from vibes.portability.archive import open_archive
from vibes.portability.export import journal_pages, snapshot
from vibes.portability.records import CHUNK, Chunk, EntryRecord, invalid, malformed
from vibes.portability.schemas import Content
from vibes.portability.zipwriter import ZipWriter
from vibes.reminders.recurrence import RecurrenceError, load_zone

_FENCE = "---\n"
# LibYAML's safe loader when PyYAML was built with it.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(title: str, *, limit: int = 50) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")
    return words[:limit].rstrip("-") or "entry"


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def member_name(entry: dict[str, Any], zone: dt.tzinfo) -> str:
    day = entry["entry_date"].astimezone(zone)
    short = uuid.UUID(str(entry["id"])).hex[-8:]  # the random end: the start is a clock
    return f"{day:%Y/%m/%d}-{slug(entry['title'])}-{short}.md"


def render(entry: dict[str, Any]) -> str:
    front: dict[str, Any] = {
        "id": str(entry["id"]),
        "title": entry["title"],
        "entry_date": _instant(entry["entry_date"]),
        "tags": entry["tags"],
        "mood_rating": entry["mood_rating"],
        "created_at": _instant(entry["created_at"]),
        "updated_at": _instant(entry["updated_at"]),
    }
    if entry["secret_tag"] is not None:
        front["secret_tag"] = entry["secret_tag"]
    # Each value as JSON, which is YAML too (its strings are YAML double-quoted scalars,
    # its escapes YAML's): a tenth of PyYAML's emitter's time, and every string quoted,
    # so a title like `yes` or `2026-01-01` stays a string for any YAML reader.
    matter = "".join(f"{key}: {json_bytes(value).decode()}\n" for key, value in front.items())
    return f"{_FENCE}{matter}{_FENCE}{entry['content']}"


async def export_markdown(database: Database, viewer: Viewer) -> AsyncIterator[bytes]:
    """The zip, a page of entries at a time (see `ZipWriter`: flat memory)."""
    async with snapshot(database) as session:
        zone_name = await session.scalar(select(User.timezone).where(User.id == viewer.user_id))
        try:
            zone: dt.tzinfo = load_zone(zone_name or "UTC")
        except RecurrenceError:
            zone = dt.UTC
        with ZipWriter() as archive:
            async for page in journal_pages(session, viewer):
                yield b"".join(
                    archive.add(
                        member_name(entry, zone),
                        render(entry).encode(),
                        entry["updated_at"].astimezone(dt.UTC),
                    )
                    for entry in page
                )
            for piece in archive.close():
                yield piece


class FrontMatter(BaseModel):
    # A file edited by hand may carry more keys: what we know is read, the rest kept out.
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    title: Title
    entry_date: AwareDatetime
    tags: TagList = Field(default_factory=list)
    mood_rating: Mood | None = None
    secret_tag: TagName | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


def parse(text: str, name: str) -> EntryRecord:
    if not text.startswith(_FENCE):
        raise malformed([name], "a file starts with YAML front matter between --- lines")
    end = text.find("\n" + _FENCE, len(_FENCE) - 1)
    if end < 0:
        raise malformed([name], "the front matter has no closing --- line")
    try:
        front = yaml.load(text[len(_FENCE) : end + 1], Loader=_Loader)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise malformed([name], f"the front matter is not YAML ({problem})") from None
    if not isinstance(front, dict):
        raise malformed([name], "the front matter is a mapping of fields")
    try:
        meta = FrontMatter.model_validate(front)
    except ValidationError as exc:
        raise invalid(exc, [name]) from None
    content = text[end + 1 + len(_FENCE) :]
    try:
        content = _check_content(content)
    except ValueError as exc:
        raise malformed([name, "content"], str(exc)) from None
    return EntryRecord(
        source_key=f"vibes:{meta.id}",
        source_id=meta.id,
        title=meta.title,
        content=content,
        entry_date=meta.entry_date,
        tags=list(meta.tags),
        mood_rating=meta.mood_rating,
        secret_tag=meta.secret_tag,
        created_at=meta.created_at,
        updated_at=meta.updated_at,
        where=(name,),
    )


class _Body(BaseModel):
    content: Content


def _check_content(content: str) -> str:
    try:
        return _Body(content=content).content
    except ValidationError as exc:
        raise ValueError(exc.errors(include_url=False)[0]["msg"]) from None


def read_markdown(file: IO[bytes], *, max_bytes: int) -> Iterator[Chunk]:
    archive = open_archive(file, max_bytes=max_bytes)
    names = sorted(
        m.filename for m in archive.infolist() if not m.is_dir() and m.filename.endswith(".md")
    )
    if not names:
        raise malformed([], "a Markdown export holds one .md file per entry; none found")
    pending: list[EntryRecord] = []
    for name in names:
        try:
            text = archive.read(name).decode("utf-8")
        except UnicodeDecodeError:
            raise malformed([name], "not UTF-8 text") from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise malformed([name], f"a damaged archive member ({exc})") from None
        pending.append(parse(text, name))
        if len(pending) >= CHUNK:
            yield pending
            pending = []
    if pending:
        yield pending
