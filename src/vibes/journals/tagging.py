"""An entry's tags: created on first use (case-insensitively unique per user), linked,
replaced. Only public entries have tag links; a secret entry keeps its tag names inside
its ciphertext."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningDelete

from vibes.db import new_id, utcnow
from vibes.journals.models import JournalTag, Tag
from vibes.journals.tagnames import clean_tag_name, tag_key
from vibes.platform.portable import bulk_insert_shared, insert_ignoring_conflicts
from vibes.recording.record import record_change, record_write


def unique_names(names: Iterable[str]) -> list[str]:
    """Cleaned names, one per key, in first-seen order and spelling."""
    seen: dict[str, str] = {}
    for raw in dict.fromkeys(names):  # distinct, first-seen order
        name = clean_tag_name(raw)
        seen.setdefault(tag_key(name), name)
    return list(seen.values())


# Statements built once (their compiled form is then found in SQLAlchemy's cache instead
# of being rebuilt on every write); expanding IN lists take their values per execution.
_tags = cast(Table, Tag.__table__)
_links = cast(Table, JournalTag.__table__)


@functools.cache
def _tags_named() -> Select[Any]:
    return select(_tags.c.name_key, _tags.c.id, _tags.c.name, _tags.c.version).where(
        _tags.c.user_id == bindparam("user_id"),
        _tags.c.name_key.in_(bindparam("keys", expanding=True)),
    )


@functools.cache
def _tag_versions() -> Select[Any]:
    return select(_tags.c.id, _tags.c.version).where(
        _tags.c.id.in_(bindparam("ids", expanding=True))
    )


@functools.cache
def _tag_ids_named() -> Select[Any]:
    return select(_tags.c.id).where(
        _tags.c.user_id == bindparam("user_id"),
        _tags.c.name_key.in_(bindparam("keys", expanding=True)),
    )


@functools.cache
def _names_of() -> Select[Any]:
    return (
        select(_tags.c.name)
        .join(_links, _links.c.tag_id == _tags.c.id)
        .where(_links.c.journal_id == bindparam("journal_id"))
        .order_by(_tags.c.name_key)
    )


@functools.cache
def _unlink() -> ReturningDelete[Any]:
    return (
        delete(_links)
        .where(_links.c.journal_id.in_(bindparam("journal_ids", expanding=True)))
        .returning(_links.c.tag_id)
    )


async def ensure_tags(
    session: AsyncSession, user_id: uuid.UUID, names: Sequence[str]
) -> dict[str, tuple[uuid.UUID, str]]:
    """`{name_key: (id, stored name)}` for the user's tags with these names, creating the
    missing ones (their events and changes are recorded in the same transaction).

    The existing tags are looked up first: when all exist (the common case) nothing is
    inserted. Otherwise race-safe: `INSERT … ON CONFLICT DO NOTHING` on (user_id,
    name_key) for the missing ones, then a select. Of two requests creating the same new
    name at once, one inserts and the other (on PostgreSQL after waiting for the first to
    commit) finds it. Keys are inserted in sorted order so two overlapping batches cannot
    deadlock.
    """
    cleaned = {tag_key(name): name for name in unique_names(names)}
    if not cleaned:
        return {}
    found = (
        await session.execute(_tags_named(), {"user_id": user_id, "keys": list(cleaned)})
    ).all()
    if len(found) < len(cleaned):
        existing = {row[0] for row in found}
        await _insert_tags(
            session, user_id, {k: v for k, v in cleaned.items() if k not in existing}
        )
        found = (
            await session.execute(_tags_named(), {"user_id": user_id, "keys": list(cleaned)})
        ).all()
    tags = {}
    for key, tag_id, name, version in found:
        tags[key] = (tag_id, name)
        # Its journal_count changes for the entries about to be linked.
        record_change(
            session, user_id=user_id, kind="tag", entity_id=tag_id, op="upsert", version=version
        )
    return tags


async def _insert_tags(session: AsyncSession, user_id: uuid.UUID, cleaned: dict[str, str]) -> None:
    """Create the tags `{name_key: name}` that no one has created meanwhile, recording
    the creations."""
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "user_id": user_id,
            "name": cleaned[key],
            "name_key": key,
            "color": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for key in sorted(cleaned)
    ]
    stmt = insert_ignoring_conflicts(session, Tag, rows, on=["user_id", "name_key"])
    created = list((await session.scalars(stmt.returning(Tag.id))).all())
    for tag_id in created:
        record_write(
            session,
            user_id=user_id,
            kind="tag",
            entity_id=tag_id,
            op="upsert",
            version=1,
            event="tag.created",
            data={"id": str(tag_id)},
        )


async def link_tags(
    session: AsyncSession,
    user_id: uuid.UUID,
    links: Sequence[tuple[uuid.UUID, Sequence[str]]],
) -> dict[uuid.UUID, list[str]]:
    """Link each entry to the tags named (created on first use); returns each entry's tag
    names as stored, sorted. Entries must be new or have had their links cleared."""
    all_names = [name for _, names in links for name in names]
    result: dict[uuid.UUID, list[str]] = {journal_id: [] for journal_id, _ in links}
    if not all_names:
        return result
    ids = await ensure_tags(session, user_id, all_names)
    # A batch repeats a few names many times: clean and fold each distinct name once.
    keys = {name: tag_key(name) for name in set(all_names)}
    now = utcnow()
    rows = []
    for journal_id, names in links:
        for key in sorted({keys[name] for name in names}):
            tag_id, stored_name = ids[key]
            result[journal_id].append(stored_name)
            rows.append({"journal_id": journal_id, "tag_id": tag_id})
    await bulk_insert_shared(
        session,
        cast(Table, JournalTag.__table__),
        rows,
        {"user_id": user_id, "created_at": now, "updated_at": now},
    )
    return result


async def replace_tags(
    session: AsyncSession, user_id: uuid.UUID, journal_id: uuid.UUID, names: Sequence[str]
) -> list[str]:
    """Make the entry's tag set exactly `names`; returns the stored names, sorted."""
    await unlink_all(session, user_id, [journal_id])
    return (await link_tags(session, user_id, [(journal_id, names)]))[journal_id]


async def names_of(session: AsyncSession, journal_id: uuid.UUID) -> list[str]:
    """The entry's tag names, sorted case-insensitively."""
    rows = await session.scalars(_names_of(), {"journal_id": journal_id})
    return list(rows.all())


async def touch_tags(
    session: AsyncSession,
    user_id: uuid.UUID,
    tag_ids: Iterable[uuid.UUID],
    *,
    secret_tag_id: uuid.UUID | None = None,
) -> None:
    """Log a sync change for each tag whose `journal_count` changes (its version stays).
    With `secret_tag_id`, only viewers who see that vault's entries count the change."""
    ids = sorted(set(tag_ids))
    if not ids:
        return
    rows = await session.execute(_tag_versions(), {"ids": ids})
    for tag_id, version in rows:
        record_change(
            session,
            user_id=user_id,
            kind="tag",
            entity_id=tag_id,
            op="upsert",
            version=version,
            secret_tag_id=secret_tag_id,
        )


async def touch_tag_names(
    session: AsyncSession, user_id: uuid.UUID, names: Iterable[str], secret_tag_id: uuid.UUID
) -> None:
    """A secret entry with these tag names was written: with its vault unlocked, the tags
    of those names count it (`tags.service`), so they change for that viewer."""
    keys = sorted({tag_key(name) for name in names})
    if not keys:
        return
    found = await session.scalars(_tag_ids_named(), {"user_id": user_id, "keys": keys})
    await touch_tags(session, user_id, list(found), secret_tag_id=secret_tag_id)


async def unlink_all(
    session: AsyncSession, user_id: uuid.UUID, journal_ids: Sequence[uuid.UUID]
) -> None:
    """Remove every tag link of these entries (their tags' counts change)."""
    unlinked = await session.scalars(_unlink(), {"journal_ids": list(journal_ids)})
    await touch_tags(session, user_id, list(unlinked))
