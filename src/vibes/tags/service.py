"""Tags: created on first use, case-insensitively unique per user, renamed, merged, deleted.

Tag links exist only for public entries (a secret entry keeps its tags inside its
ciphertext), and every count goes through the journals' visibility rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import new_id, utcnow
from vibes.errors import NotFound
from vibes.events.outbox import record_event
from vibes.journals import service as journal_service
from vibes.journals.models import Journal
from vibes.platform.concurrency import check_if_match
from vibes.sync.service import record_change
from vibes.tags.models import JournalTag, Tag
from vibes.tags.schemas import clean_tag_name, tag_key


@dataclass(frozen=True, slots=True)
class TagWithCount:
    tag: Tag
    journal_count: int


def _dialect_insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def unique_names(names: Iterable[str]) -> list[str]:
    """Cleaned names, one per key, in first-seen order and spelling."""
    seen: dict[str, str] = {}
    for raw in dict.fromkeys(names):  # distinct, first-seen order
        name = clean_tag_name(raw)
        seen.setdefault(tag_key(name), name)
    return list(seen.values())


async def ensure_tags(
    session: AsyncSession, user_id: uuid.UUID, names: Sequence[str]
) -> dict[str, tuple[uuid.UUID, str]]:
    """`{name_key: (id, stored name)}` for the user's tags with these names, creating the
    missing ones (their events and changes are recorded in the same transaction).

    Race-safe: `INSERT … ON CONFLICT DO NOTHING` on (user_id, name_key), then a select.
    Of two requests creating the same new name at once, one inserts and the other (on
    PostgreSQL after waiting for the first to commit) finds it. Keys are inserted in
    sorted order so two overlapping batches cannot deadlock.
    """
    cleaned = {tag_key(name): name for name in unique_names(names)}
    if not cleaned:
        return {}
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
    stmt = (
        _dialect_insert(session)(Tag)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["user_id", "name_key"])
        .returning(Tag.id)
    )
    created = list((await session.scalars(stmt)).all())
    for tag_id in created:
        record_change(
            session, user_id=user_id, kind="tag", entity_id=tag_id, op="upsert", version=1
        )
        record_event(session, user_id=user_id, type="tag.created", data={"id": str(tag_id)})
    found = await session.execute(
        select(Tag.name_key, Tag.id, Tag.name).where(
            Tag.user_id == user_id, Tag.name_key.in_(list(cleaned))
        )
    )
    return {key: (tag_id, name) for key, tag_id, name in found}


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
            rows.append(
                {
                    "journal_id": journal_id,
                    "tag_id": tag_id,
                    "user_id": user_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    await journal_service.bulk_insert(session, cast(Table, JournalTag.__table__), rows)
    return result


async def replace_tags(
    session: AsyncSession, user_id: uuid.UUID, journal_id: uuid.UUID, names: Sequence[str]
) -> list[str]:
    """Make the entry's tag set exactly `names`; returns the stored names, sorted."""
    await session.execute(delete(JournalTag).where(JournalTag.journal_id == journal_id))
    return (await link_tags(session, user_id, [(journal_id, names)]))[journal_id]


async def names_of(session: AsyncSession, journal_id: uuid.UUID) -> list[str]:
    """The entry's tag names, sorted case-insensitively."""
    rows = await session.scalars(
        select(Tag.name)
        .join(JournalTag, JournalTag.tag_id == Tag.id)
        .where(JournalTag.journal_id == journal_id)
        .order_by(Tag.name_key)
    )
    return list(rows.all())


async def list_tags(session: AsyncSession, viewer: journal_service.Viewer) -> list[TagWithCount]:
    """The user's tags by name, each with the number of entries the viewer can see."""
    count = (
        select(func.count())
        .select_from(JournalTag)
        .join(Journal, Journal.id == JournalTag.journal_id)
        .where(JournalTag.tag_id == Tag.id, journal_service.visible_journals(viewer))
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Tag, count).where(Tag.user_id == viewer.user_id).order_by(Tag.name_key, Tag.id)
    )
    return [TagWithCount(tag, int(n)) for tag, n in rows]


async def count_for(
    session: AsyncSession, viewer: journal_service.Viewer, tag_id: uuid.UUID
) -> int:
    n = await session.scalar(
        select(func.count())
        .select_from(JournalTag)
        .join(Journal, Journal.id == JournalTag.journal_id)
        .where(JournalTag.tag_id == tag_id, journal_service.visible_journals(viewer))
    )
    return int(n or 0)


async def get_owned_tag(session: AsyncSession, user_id: uuid.UUID, tag_id: uuid.UUID) -> Tag:
    tag = await session.scalar(select(Tag).where(Tag.id == tag_id, Tag.user_id == user_id))
    if tag is None:
        raise NotFound()
    return tag


async def _touch_entries(
    session: AsyncSession, user_id: uuid.UUID, tag_ids: Sequence[uuid.UUID]
) -> None:
    """Bump the version (and updated_at) of every entry linked to these tags and log a
    sync change for each: their `tags` change with a rename, merge or delete, so their
    ETags and sync versions must too. One UPDATE, done before the links change."""
    linked = select(JournalTag.journal_id).where(JournalTag.tag_id.in_(list(tag_ids)))
    table = cast(Table, Journal.__table__)
    # Core, not ORM: version_id_col is not involved, so the bump is written out explicitly.
    result = await session.execute(
        update(table)
        .where(
            table.c.id.in_(linked),
            table.c.user_id == user_id,
            table.c.secret_tag_id.is_(None),
        )
        .values(version=table.c.version + 1, updated_at=utcnow())
        .returning(table.c.id, table.c.version)
    )
    for journal_id, version in result.all():
        record_change(
            session,
            user_id=user_id,
            kind="journal",
            entity_id=journal_id,
            op="upsert",
            version=version,
        )


async def update_tag(
    session: AsyncSession,
    tag: Tag,
    changes: dict[str, Any],
    *,
    if_match: str | None = None,
) -> Tag:
    """Rename and/or recolour. Renaming onto another tag's name merges that tag into this
    one: its entries are relinked here (no duplicate links) and it is deleted."""
    check_if_match(if_match, tag.version)
    if "name" in changes and clean_tag_name(changes["name"]) == tag.name:
        changes = {k: v for k, v in changes.items() if k != "name"}
    if "color" in changes and changes["color"] == tag.color:
        changes = {k: v for k, v in changes.items() if k != "color"}
    if not changes:
        # Nothing would change: the version and updated_at stay as they are.
        return tag
    if "name" in changes:
        name = clean_tag_name(changes["name"])
        key = tag_key(name)
        other = None
        if key != tag.name_key:
            other = await session.scalar(
                select(Tag).where(Tag.user_id == tag.user_id, Tag.name_key == key, Tag.id != tag.id)
            )
        if name != tag.name:
            # Entries show tag names: theirs change (and with a merge, the other tag's).
            await _touch_entries(
                session, tag.user_id, [tag.id] if other is None else [tag.id, other.id]
            )
        if other is not None:
            await _merge_into(session, survivor=tag, merged=other)
        tag.name = name
        tag.name_key = key
    if "color" in changes:
        tag.color = changes["color"]
    tag.updated_at = utcnow()
    await session.flush()
    record_change(
        session, user_id=tag.user_id, kind="tag", entity_id=tag.id, op="upsert", version=tag.version
    )
    return tag


async def _merge_into(session: AsyncSession, *, survivor: Tag, merged: Tag) -> None:
    already = select(JournalTag.journal_id).where(JournalTag.tag_id == survivor.id)
    now = utcnow()
    moved = select(
        JournalTag.journal_id,
        JournalTag.user_id,
    ).where(JournalTag.tag_id == merged.id, JournalTag.journal_id.not_in(already))
    journal_ids = [row.journal_id for row in (await session.execute(moved)).all()]
    if journal_ids:
        await session.execute(
            insert(JournalTag),
            [
                {
                    "journal_id": journal_id,
                    "tag_id": survivor.id,
                    "user_id": survivor.user_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for journal_id in journal_ids
            ],
        )
    version = merged.version
    # The merged tag's links go with it (ON DELETE CASCADE).
    await session.execute(delete(Tag).where(Tag.id == merged.id))
    session.expunge(merged)
    record_change(
        session,
        user_id=merged.user_id,
        kind="tag",
        entity_id=merged.id,
        op="delete",
        version=version + 1,
    )


async def delete_tag(session: AsyncSession, tag: Tag, *, if_match: str | None = None) -> None:
    """Remove the tag from every entry; no entry is deleted."""
    check_if_match(if_match, tag.version)
    version = tag.version
    await _touch_entries(session, tag.user_id, [tag.id])
    await session.delete(tag)
    await session.flush()
    record_change(
        session, user_id=tag.user_id, kind="tag", entity_id=tag.id, op="delete", version=version + 1
    )
