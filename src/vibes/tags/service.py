"""The user's tags as a whole: listed with counts, renamed, merged, recoloured, deleted.

Tags are created on first use by the entries that name them (`journals.tagging`). Tag
links exist only for public entries (a secret entry keeps its tags inside its
ciphertext), and every count goes through the journals' visibility rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import utcnow
from vibes.errors import NotFound
from vibes.journals.models import Journal, JournalTag, Tag, TagUse
from vibes.journals.rendering import reveal
from vibes.journals.tagnames import clean_tag_name, tag_key
from vibes.journals.visibility import Viewer
from vibes.platform.concurrency import check_if_match
from vibes.recording.record import delete_recorded, record_change
from vibes.tags.schemas import TagRead


@dataclass(frozen=True, slots=True)
class TagWithCount:
    tag: Tag
    journal_count: int


def render(tag: Tag, journal_count: int) -> TagRead:
    """A tag as every route (and sync) shows it."""
    return TagRead(
        id=tag.id,
        name=tag.name,
        color=tag.color,
        journal_count=journal_count,
        version=tag.version,
        created_at=tag.created_at,
        updated_at=tag.updated_at,
    )


async def list_tags(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID] | None = None
) -> list[TagWithCount]:
    """The user's tags by name (only those among `ids`, if given), each with the number
    of entries the viewer can see."""
    # Only public entries have links (a secret entry keeps its tag names inside its
    # ciphertext; moving one into the vault drops its links), so a tag's count for a
    # locked viewer is its number of links, which triggers keep in `tag_uses`: no pass
    # over the links or the entries. Unlocked vaults' counts are added below.
    query = (
        select(Tag, func.coalesce(TagUse.uses, 0))
        .outerjoin(TagUse, TagUse.tag_id == Tag.id)
        .where(Tag.user_id == viewer.user_id)
    )
    if ids is not None:
        query = query.where(Tag.id.in_(sorted(set(ids))))
    rows = await session.execute(query.order_by(Tag.name_key, Tag.id))
    secret = await _secret_counts(session, viewer)
    return [TagWithCount(tag, int(n) + secret.get(tag.name_key, 0)) for tag, n in rows]


async def views_by_id(
    session: AsyncSession, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The user's tags among `ids`, as JSON-ready dicts exactly as `GET /tags/{id}`
    answers them."""
    if not ids:
        return {}
    return {
        item.tag.id: render(item.tag, item.journal_count).model_dump(mode="json")
        for item in await list_tags(session, viewer, ids)
    }


async def _secret_counts(session: AsyncSession, viewer: Viewer) -> dict[str, int]:
    """Entries of the viewer's unlocked secret tags per tag key, so that with the vault
    unlocked a tag's count includes them, as `GET /journals?tag=` finds them. Their tag
    names are inside their ciphertext (no links), so they are read by decrypting; a name
    used only inside the vault has no tag of its own (a tag row would reveal it)."""
    if not viewer.unlocked_secret_tag_ids:
        return {}
    rows = await session.execute(
        select(
            Journal.id,
            Journal.version,
            Journal.secret_tag_id,
            Journal.nonce,
            Journal.ciphertext,
        ).where(
            Journal.user_id == viewer.user_id,
            Journal.secret_tag_id.in_(sorted(viewer.unlocked_secret_tag_ids)),
        )
    )
    counts: dict[str, int] = {}
    for row in rows:
        _, opened = reveal(viewer, row)
        for key in {tag_key(name) for name in opened.tags}:
            counts[key] = counts.get(key, 0) + 1
    return counts


async def count_for(session: AsyncSession, viewer: Viewer, tag_id: uuid.UUID) -> int:
    # As `list_tags`: the links are the public entries' (kept count, `TagUse`).
    n = await session.scalar(select(TagUse.uses).where(TagUse.tag_id == tag_id))
    if not viewer.unlocked_secret_tag_ids:
        return int(n or 0)
    key = await session.scalar(select(Tag.name_key).where(Tag.id == tag_id))
    return int(n or 0) + (await _secret_counts(session, viewer)).get(key or "", 0)


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
    await _touch_entries(session, tag.user_id, [tag.id])
    await delete_recorded(session, tag, kind="tag")
