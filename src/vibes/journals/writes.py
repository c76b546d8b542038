"""Writing entries: create (one or a batch), update, delete, each recording its change
and, where a locked observer may see it, its event in the same transaction."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Delete,
    Integer,
    Select,
    Table,
    Update,
    Uuid,
    bindparam,
    column,
    delete,
    inspect,
    select,
    table,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.dml import ReturningUpdate

from vibes.db import UTCDateTime, new_id, utcnow
from vibes.errors import NotFound, PayloadTooLarge
from vibes.journals import tagging
from vibes.journals.models import Journal
from vibes.journals.rendering import EntryView, render_journal, reveal
from vibes.journals.schemas import MAX_CONTENT_BYTES, JournalCreate
from vibes.journals.tagnames import tag_key
from vibes.journals.visibility import (
    Viewer,
    check_secret_tag,
    visibility_template,
    visible_journals,
)
from vibes.platform.concurrency import check_if_match
from vibes.platform.portable import (
    bulk_insert,
    insert_statement,
    is_postgres,
    locking,
    new_ids,
)
from vibes.recording.record import (
    SAME,
    EventType,
    Written,
    record_change,
    record_write,
    record_writes,
)
from vibes.vault.entries import (
    SecretContent,
    UnlockedTag,
    forget_public_plaintext,
    seal_entry,
)

# Apostrophes (straight and typographic) and hyphens join word parts: "don't" is one word.
# A word is `\w+(?:['\u2019\-]\w+)*`. Its first character is a word character that
# neither follows one nor follows a joiner that follows one: counting those counts the
# words without building each word as a string (a fifth faster than findall of whole
# words; a batch counts ~100,000 of them).
_WORD_START = re.compile(r"(?<!\w)(?<!\w['\u2019\-])\w", re.UNICODE)


# The same count for ASCII text (most entries) without the regex's two look-behinds at
# every character (a fifth of an import's server time): each byte becomes "w" (a word
# character), "-" (a joiner) or " ", then word starts are counted as substrings.
_ASCII_CLASSES = bytes(
    ord("w") if chr(c).isalnum() or c == ord("_") else ord("-") if chr(c) in "'-" else ord(" ")
    for c in range(128)
) + bytes(128)
_JOINED = re.compile(rb"w-(?=w)")


def count_words(content: str) -> int:
    """Words in Markdown: runs of letters/digits (joined by ' or -), markup ignored."""
    if not content.isascii():
        return len(_WORD_START.findall(content))
    classes = content.encode("ascii").translate(_ASCII_CLASSES)
    starts = classes.count(b" w") + classes.count(b"-w") + classes.startswith(b"w")
    if starts and b"-" in classes:
        starts -= len(_JOINED.findall(classes))
    return starts


def check_content_size(content: str) -> None:
    if len(content) > MAX_CONTENT_BYTES // 4 and len(content.encode()) > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(f"An entry's content is limited to {MAX_CONTENT_BYTES} bytes.")


def _seal_into(
    journal: Journal,
    unlocked: UnlockedTag,
    *,
    version: int,
    title: str,
    content: str,
    tags: Sequence[str],
) -> list[str]:
    """Make `journal` a secret entry of `unlocked` holding these fields, sealed for the
    version the row will have once written. Returns the tag names as stored."""
    names = sorted(tagging.unique_names(tags), key=tag_key)
    journal.nonce, journal.ciphertext = seal_entry(
        unlocked.data_key,
        user_id=journal.user_id,
        journal_id=journal.id,
        version=version,
        title=title,
        content=content,
        tags=names,
    )
    journal.secret_tag_id = unlocked.id
    journal.title = ""
    journal.content = ""
    return names


def _record(
    session: AsyncSession,
    journal: Journal,
    *,
    secret_tag_id: uuid.UUID | None = None,
    previous_secret_tag_id: uuid.UUID | Any | None = SAME,
    event: EventType | None = None,
) -> None:
    """The entry's change (naming its secret tag, if any, and the one it left) and, if
    given, its event."""
    record_write(
        session,
        user_id=journal.user_id,
        kind="journal",
        entity_id=journal.id,
        op="upsert",
        version=journal.version,
        secret_tag_id=secret_tag_id,
        previous_secret_tag_id=previous_secret_tag_id,
        event=event,
    )


# Reminders link to entries; that domain sits beside this one and imports it, so the link
# column is reached by table name here, as its foreign key reaches `journals`.
_reminders = table(
    "reminders",
    column("id", Uuid()),
    column("user_id", Uuid()),
    column("journal_id", Uuid()),
    column("version", Integer()),
    column("updated_at", UTCDateTime()),
)


def _linked() -> ColumnElement[bool]:
    return (_reminders.c.user_id == bindparam("owner_id")) & _reminders.c.journal_id.in_(
        bindparam("entry_ids", expanding=True)
    )


@functools.cache
def _unlink_reminders() -> ReturningUpdate[Any]:
    return (
        update(_reminders)
        .where(_linked())
        .values(
            journal_id=None,
            version=_reminders.c.version + 1,
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
        .returning(_reminders.c.id, _reminders.c.version)
    )


@functools.cache
def _linked_reminders() -> Select[Any]:
    return select(_reminders.c.id, _reminders.c.version).where(_linked())


async def relink_reminders(
    session: AsyncSession, user_id: uuid.UUID, journal_ids: Sequence[uuid.UUID], *, unlink: bool
) -> None:
    """Log a sync change for the reminders linked to these entries, whose `journal_id`
    a viewer sees changes: with `unlink` the entries are going away and the link is
    cleared (a new version, as the foreign key's SET NULL would do silently); otherwise
    the entries moved into or out of the vault, and the link shows or hides by viewer."""
    if not journal_ids:
        return
    params = {"owner_id": user_id, "entry_ids": list(journal_ids)}
    if unlink:
        result = await session.execute(_unlink_reminders(), {**params, "now": utcnow()})
    else:
        result = await session.execute(_linked_reminders(), params)
    for reminder_id, version in result.all():
        record_change(
            session,
            user_id=user_id,
            kind="reminder",
            entity_id=reminder_id,
            op="upsert",
            version=version,
        )


@functools.cache
def _owned_journal(postgres: bool, unlocked: bool) -> Select[Journal]:
    """The locking read of `get_owned_journal`, built once per shape (cached compiled)."""
    stmt = select(Journal).where(
        Journal.id == bindparam("journal_id", type_=Uuid()),
        visibility_template(unlocked=unlocked),
    )
    return locking(stmt, postgres=postgres)


async def get_owned_journal(
    session: AsyncSession, viewer: Viewer, journal_id: uuid.UUID
) -> Journal:
    """The entry for writing, if the viewer may see it; otherwise 404 (same answer as a
    missing one).

    The row is locked until the request's transaction ends: concurrent unconditional
    writes to one entry take turns instead of failing the version check (a 412 is only
    for a failed `If-Match`, RFC 9110).
    """
    visible = visible_journals(viewer)
    stmt = _owned_journal(is_postgres(session), bool(viewer.unlocked_secret_tag_ids))
    journal = await session.scalar(stmt, {**visible.params, "journal_id": journal_id})
    if journal is None:
        raise NotFound()
    return journal


_JOURNALS = cast(Table, Journal.__table__)


def _journal_row(journal: Journal) -> dict[str, Any]:
    return {
        "id": journal.id,
        "user_id": journal.user_id,
        "title": journal.title,
        "content": journal.content,
        "entry_date": journal.entry_date,
        "mood_rating": journal.mood_rating,
        "word_count": journal.word_count,
        "secret_tag_id": None,
        "ciphertext": None,
        "nonce": None,
        "version": journal.version,
        "created_at": journal.created_at,
        "updated_at": journal.updated_at,
    }


async def create_journal(session: AsyncSession, viewer: Viewer, data: JournalCreate) -> EntryView:
    """Create one entry (tags by name, created on first use); returns it rendered.

    A secret entry (`secret_tag_id`, unlocked) is sealed whole — title, content, tag
    names — and makes no tag rows or links, no index text and no event (a locked observer
    of the event stream must learn nothing); its change-log row names its secret tag.
    """
    unlocked = check_secret_tag(viewer, data.secret_tag_id, ())
    check_content_size(data.content)
    now = utcnow()
    journal = Journal(
        id=new_id(),
        user_id=viewer.user_id,
        title=data.title,
        content=data.content,
        entry_date=data.entry_date or now,
        mood_rating=data.mood_rating,
        word_count=count_words(data.content),
        version=1,
        created_at=now,
        updated_at=now,
    )
    if unlocked is not None:
        tags = _seal_into(
            journal, unlocked, version=1, title=data.title, content=data.content, tags=data.tags
        )
        session.add(journal)
        await session.flush()
        _record(session, journal, secret_tag_id=unlocked.id)
        await tagging.touch_tag_names(session, viewer.user_id, tags, unlocked.id)
        opened = SecretContent(title=data.title, content=data.content, tags=tuple(tags))
        return render_journal(journal, tags, (unlocked, opened))
    # A cached Core INSERT of the row, not a unit-of-work flush: the object is only
    # rendered (the row is the one `create_batch` writes, so both spell it alike).
    await session.execute(insert_statement(_JOURNALS), _journal_row(journal))
    tags = (await tagging.link_tags(session, viewer.user_id, [(journal.id, data.tags)]))[journal.id]
    _record(session, journal, event="journal.created")
    return render_journal(journal, tags)


async def create_batch(
    session: AsyncSession, viewer: Viewer, items: Sequence[JournalCreate]
) -> list[uuid.UUID]:
    """Create many entries in the caller's transaction: all of them or (on any error)
    none. Bulk writes per table instead of one ORM object per row; the change-log and
    outbox rows are the same ones `record_write` writes. Secret items
    (unlocked tags only) are sealed as in `create_journal`: no links, no events."""
    vaults = [
        check_secret_tag(viewer, item.secret_tag_id, ("items", index))
        for index, item in enumerate(items)
    ]
    for item in items:
        check_content_size(item.content)
    now = utcnow()
    user_id = viewer.user_id
    ids = new_ids(len(items))
    rows = []
    for journal_id, item, unlocked in zip(ids, items, vaults, strict=True):
        row: dict[str, Any] = {
            "id": journal_id,
            "user_id": user_id,
            "title": item.title,
            "content": item.content,
            "entry_date": item.entry_date or now,
            "mood_rating": item.mood_rating,
            "word_count": count_words(item.content),
            "secret_tag_id": None,
            "ciphertext": None,
            "nonce": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        if unlocked is not None:
            names = sorted(tagging.unique_names(item.tags), key=tag_key)
            row["nonce"], row["ciphertext"] = seal_entry(
                unlocked.data_key,
                user_id=user_id,
                journal_id=journal_id,
                version=1,
                title=item.title,
                content=item.content,
                tags=names,
            )
            row.update(secret_tag_id=unlocked.id, title="", content="")
        rows.append(row)
    await bulk_insert(session, cast(Table, Journal.__table__), rows)
    await tagging.link_tags(
        session,
        user_id,
        [
            (journal_id, item.tags)
            for journal_id, item, unlocked in zip(ids, items, vaults, strict=True)
            if unlocked is None
        ],
    )
    for item, unlocked in zip(items, vaults, strict=True):
        if unlocked is not None:
            await tagging.touch_tag_names(session, user_id, item.tags, unlocked.id)
    await record_writes(
        session,
        user_id=user_id,
        kind="journal",
        op="upsert",
        written=[
            # A secret entry's creation is recorded for sync only: no event.
            Written(journal_id, 1, None, "journal.created")
            if unlocked is None
            else Written(journal_id, 1, unlocked.id)
            for journal_id, unlocked in zip(ids, vaults, strict=True)
        ],
    )
    return ids


def _unchanged(
    journal: Journal, name: str, value: Any, title: str, content: str, tags: list[str]
) -> bool:
    """Whether a PATCH field would leave the entry as it is (tags: the same set of keys,
    since an existing tag keeps its stored spelling)."""
    if name == "title":
        return bool(value == title)
    if name == "content":
        return bool(value == content)
    if name == "tags":
        return {tag_key(n) for n in value} == {tag_key(n) for n in tags}
    if name in ("entry_date", "mood_rating", "secret_tag_id"):
        return bool(getattr(journal, name) == value)
    return False


# The columns a PATCH may change (the version is bumped by the UPDATE itself).
_UPDATABLE = (
    "title",
    "content",
    "word_count",
    "entry_date",
    "mood_rating",
    "secret_tag_id",
    "ciphertext",
    "nonce",
    "updated_at",
)
_UNSET = object()


@functools.cache
def _update_journal(columns: tuple[str, ...]) -> Update:
    """`UPDATE journals SET <columns>, version = version + 1 WHERE id AND version =
    <loaded>`, built once per set of changed columns."""
    return (
        update(_JOURNALS)
        .where(_JOURNALS.c.id == bindparam("b_id"), _JOURNALS.c.version == bindparam("b_version"))
        .values(
            {
                **{name: bindparam(name, type_=_JOURNALS.c[name].type) for name in columns},
                "version": _JOURNALS.c.version + 1,
            }
        )
    )


async def _write_changes(session: AsyncSession, journal: Journal) -> None:
    """What the unit of work's flush of the loaded entry would write, as a cached Core
    UPDATE of the columns whose values changed: the same `WHERE version = <loaded>` and
    StaleDataError (412) if a concurrent change won; the object is then clean at the
    new version."""
    state = inspect(journal)
    committed = state.committed_state
    changed = tuple(
        name
        for name in _UPDATABLE
        if committed.get(name, _UNSET) is not _UNSET and committed[name] != getattr(journal, name)
    )
    version = journal.version
    values = {name: getattr(journal, name) for name in changed}
    # Without autoflush: the flush would write the same changes through the unit of work.
    with session.no_autoflush:
        result = await session.execute(
            _update_journal(changed), {**values, "b_id": journal.id, "b_version": version}
        )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise StaleDataError("journals: the entry changed or went away meanwhile")
    for name in _UPDATABLE:
        set_committed_value(journal, name, getattr(journal, name))
    set_committed_value(journal, "version", version + 1)


async def update_journal(
    session: AsyncSession,
    viewer: Viewer,
    journal: Journal,
    changes: dict[str, Any],
    *,
    if_match: str | None = None,
) -> EntryView:
    """Apply a PATCH (`changes` holds only the fields sent). `tags` replaces the set.

    Concurrency: the UPDATE carries `WHERE version = <loaded>`; a writer that lost the
    race gets StaleDataError → 412, and `If-Match` against a newer version → 412 too.

    Secret entries: every change re-seals the whole entry for its next version (the
    ciphertext is bound to it), under the target tag's key. `secret_tag_id` moves an entry
    between unlocked secret tags, into the vault (its tag links are dropped) or out of it
    (null: its fields and tag links become ordinary ones). Events follow what a locked
    observer may see: nothing while the entry stays secret, `journal.deleted` when it
    enters the vault, `journal.created` when it leaves.
    """
    check_if_match(if_match, journal.version)
    was_secret = journal.secret_tag_id is not None
    previous_tag = journal.secret_tag_id
    current: SecretContent | None = None
    target: UnlockedTag | None = None
    if journal.secret_tag_id is not None:
        target, current = reveal(viewer, journal)
    if "secret_tag_id" in changes:
        target = check_secret_tag(viewer, changes["secret_tag_id"], ())
    if current is not None:
        title, content, tags = current.title, current.content, list(current.tags)
    else:
        title, content = journal.title, journal.content
        tags = await tagging.names_of(session, journal.id)
    # A PATCH that changes nothing keeps the version and updated_at (no 304 miss, no sync).
    changes = {
        k: v for k, v in changes.items() if not _unchanged(journal, k, v, title, content, tags)
    }
    if not changes:
        secret = (target, current) if current is not None and target is not None else None
        return render_journal(journal, tags, secret)
    if "title" in changes:
        title = changes["title"]
    if "content" in changes:
        check_content_size(changes["content"])
        content = changes["content"]
        journal.word_count = count_words(content)
    if "tags" in changes:
        tags = list(changes["tags"])
    if "entry_date" in changes:
        journal.entry_date = changes["entry_date"]
    if "mood_rating" in changes:
        journal.mood_rating = changes["mood_rating"]
    # Always touch the row, so a tags-only change still bumps the version (and races).
    journal.updated_at = utcnow()
    if target is not None:
        if not was_secret:
            # Without autoflush: flushing the entry's pending changes before this DELETE
            # would write (and version) it once here and again when sealed: one change, +1.
            with session.no_autoflush:
                await tagging.replace_tags(session, viewer.user_id, journal.id, [])
        tags = _seal_into(
            journal, target, version=journal.version + 1, title=title, content=content, tags=tags
        )
        await session.flush()
        # Entering the vault looks like a deletion to a locked observer.
        _record(
            session,
            journal,
            secret_tag_id=target.id,
            previous_secret_tag_id=previous_tag,
            event=None if was_secret else "journal.deleted",
        )
        if current is not None and previous_tag is not None:
            await tagging.touch_tag_names(session, viewer.user_id, current.tags, previous_tag)
        await tagging.touch_tag_names(session, viewer.user_id, tags, target.id)
        if previous_tag != target.id:
            await relink_reminders(session, viewer.user_id, [journal.id], unlink=False)
        if not was_secret:
            await forget_public_plaintext(session)
        opened = SecretContent(title=title, content=content, tags=tuple(tags))
        return render_journal(journal, tags, (target, opened))
    journal.title, journal.content = title, content
    journal.secret_tag_id = journal.nonce = journal.ciphertext = None
    await _write_changes(session, journal)
    if was_secret or "tags" in changes:
        tags = await tagging.replace_tags(session, viewer.user_id, journal.id, tags)
    # Leaving the vault looks like a creation to a locked observer.
    _record(
        session,
        journal,
        previous_secret_tag_id=previous_tag,
        event="journal.created" if was_secret else "journal.updated",
    )
    if current is not None and previous_tag is not None:
        await tagging.touch_tag_names(session, viewer.user_id, current.tags, previous_tag)
        await relink_reminders(session, viewer.user_id, [journal.id], unlink=False)
    return render_journal(journal, tags)


@functools.cache
def _delete_journal() -> Delete:
    return delete(_JOURNALS).where(
        _JOURNALS.c.id == bindparam("id"), _JOURNALS.c.version == bindparam("version")
    )


async def delete_journal(
    session: AsyncSession, viewer: Viewer, journal: Journal, *, if_match: str | None = None
) -> None:
    """Delete the entry and record its tombstone; its tags' counts change and the
    reminders linked to it lose their link (each logged for sync)."""
    check_if_match(if_match, journal.version)
    secret_tag_id = journal.secret_tag_id
    if secret_tag_id is None:
        await tagging.unlink_all(session, viewer.user_id, [journal.id])
    else:
        _, opened = reveal(viewer, journal)
        await tagging.touch_tag_names(session, viewer.user_id, opened.tags, secret_tag_id)
    await relink_reminders(session, viewer.user_id, [journal.id], unlink=True)
    # What `delete_recorded` does, with a cached Core DELETE instead of a unit-of-work
    # flush: the same `WHERE version = <loaded>`, the same StaleDataError (412) if a
    # concurrent change won, and the object leaves the session as a deleted one does.
    version = journal.version
    deleted = await session.execute(_delete_journal(), {"id": journal.id, "version": version})
    if cast(CursorResult[Any], deleted).rowcount != 1:
        raise StaleDataError("journals: the entry changed or went away meanwhile")
    session.expunge(journal)
    record_write(
        session,
        user_id=journal.user_id,
        kind="journal",
        entity_id=journal.id,
        op="delete",
        version=version + 1,
        secret_tag_id=secret_tag_id,
        # A secret entry's deletion is no one else's business.
        event="journal.deleted" if secret_tag_id is None else None,
    )
