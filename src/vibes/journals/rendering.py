"""An entry as the API shows it: the `JournalRead` shape as a JSON-ready dict, secret
entries decrypted for the viewer who unlocked them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypedDict

from vibes.errors import NotFound
from vibes.journals.models import Journal
from vibes.journals.tagnames import tag_key
from vibes.journals.visibility import Viewer
from vibes.vault.entries import SecretContent, UnlockedTag, open_entry

# Separates tag names inside one aggregated column; tag names cannot contain control
# characters (see `tagnames.clean_tag_name`).
TAG_SEPARATOR = "\x1f"


class SecretTagRef(TypedDict):
    id: str
    name: str


class EntryView(TypedDict):
    """The `JournalRead` shape, for `json_response`: instants are UTC datetimes and the
    id a UUID, which orjson formats far faster than `isoformat` and `str` (they were the
    list route's largest cost)."""

    id: uuid.UUID
    title: str
    content: str
    entry_date: dt.datetime
    tags: list[str]
    mood_rating: int | None
    word_count: int
    secret_tag: SecretTagRef | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


def utc(value: dt.datetime) -> dt.datetime:
    """In UTC, which `platform.responses` writes as RFC 3339 with `Z`. Both drivers hand
    back UTC datetimes already; an `entry_date` just given may carry another offset."""
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def _render(
    entry: Any, title: str, content: str, tags: list[str], secret_tag: SecretTagRef | None
) -> EntryView:
    """An ORM entry or a read row (same attribute names), with its shown title, content
    and tags (decrypted ones for a secret entry)."""
    return {
        "id": entry.id,
        "title": title,
        "content": content,
        "entry_date": utc(entry.entry_date),
        "tags": tags,
        "mood_rating": entry.mood_rating,
        "word_count": entry.word_count,
        "secret_tag": secret_tag,
        "version": entry.version,
        "created_at": utc(entry.created_at),
        "updated_at": utc(entry.updated_at),
    }


def _ref(unlocked: UnlockedTag) -> SecretTagRef:
    return {"id": str(unlocked.id), "name": unlocked.name}


def render_journal(
    journal: Journal,
    tags: list[str],
    secret: tuple[UnlockedTag, SecretContent] | None = None,
) -> EntryView:
    """An ORM entry rendered; a secret one shows its decrypted fields (`secret`)."""
    if secret is None:
        return _render(journal, journal.title, journal.content, tags, None)
    unlocked, opened = secret
    return _render(journal, opened.title, opened.content, list(opened.tags), _ref(unlocked))


def unlocked_for(viewer: Viewer, secret_tag_id: uuid.UUID) -> UnlockedTag:
    unlocked = viewer.secret_tags.get(secret_tag_id)
    if unlocked is None:  # visibility admits only unlocked tags; never reached otherwise
        raise NotFound()
    return unlocked


def reveal(viewer: Viewer, row: Any) -> tuple[UnlockedTag, SecretContent]:
    """Decrypt a visible secret entry (a row or ORM object with id, version,
    secret_tag_id, nonce, ciphertext); VaultIntegrityError if it is not this row's."""
    unlocked = unlocked_for(viewer, row.secret_tag_id)
    opened = open_entry(
        unlocked.data_key,
        user_id=viewer.user_id,
        journal_id=row.id,
        version=row.version,
        nonce=row.nonce,
        ciphertext=row.ciphertext,
    )
    return unlocked, opened


def split_tags(joined: str | None) -> list[str]:
    """Tag names aggregated with TAG_SEPARATOR, sorted as the API lists them."""
    if not joined:
        return []
    names = joined.split(TAG_SEPARATOR)
    if len(names) == 1:
        return names
    if len(names) == 2:  # the common case, without sorted()'s machinery
        first, second = names
        return names if tag_key(first) <= tag_key(second) else [second, first]
    return sorted(names, key=tag_key)


def view_row(row: Any, viewer: Viewer, opened: SecretContent | None = None) -> EntryView:
    """A read row (with its `tag_names` aggregate) rendered for the viewer."""
    if row.secret_tag_id is None:
        return _render(row, row.title, row.content, split_tags(row.tag_names), None)
    if opened is None:
        _, opened = reveal(viewer, row)
    unlocked = unlocked_for(viewer, row.secret_tag_id)
    return _render(row, opened.title, opened.content, list(opened.tags), _ref(unlocked))
