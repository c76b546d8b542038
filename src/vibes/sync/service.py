"""Multi-device sync: the user's change log read as a feed, through the vault rule.

A page is the next `limit` rows of the log after the cursor, by position (commit order,
`recording.record`). Each row says which object changed; its `data` is the object as it
is now, rendered by the renderer of its own GET. Rows that this viewer may not see are
left out, and several rows of one object in a page fold into the last one. An object that
is gone (or hidden) by the time the page is rendered is left out too: the change that
removed it is later in the log, and comes as a tombstone on a later page.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.errors import Gone
from vibes.journals import reads
from vibes.journals.visibility import Viewer
from vibes.platform.pagination import InvalidCursor
from vibes.platform.sealing import SealBroken, seal, unseal
from vibes.recording.models import Change, SyncCounter
from vibes.reminders import service as reminders
from vibes.tags import service as tags

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
# Sealed cursors are about 100 characters; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 512


class ResyncRequired(Gone):
    """410: the cursor is older than the history kept; the device starts over."""

    title, type_suffix = "Resync required", "resync-required"

    def __init__(self) -> None:
        super().__init__(
            "This cursor is older than the history the server keeps: "
            "pull again without a cursor and replace the local copy."
        )


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a device is in the log: every change up to `position` is applied. A device
    that started without a cursor also carries `fresh_until`, the position the log had
    then: deletions up to it concern objects it never had, so they are left out."""

    position: int
    fresh_until: int = 0


def _context(user_id: uuid.UUID) -> bytes:
    return b"vibes.sync-cursor:" + user_id.bytes


def seal_cursor(key: bytes, user_id: uuid.UUID, cursor: Cursor) -> str:
    """Opaque to the client, and bound to its user: another user's cursor does not open."""
    return seal(key, json.dumps([cursor.position, cursor.fresh_until]), context=_context(user_id))


def open_cursor(key: bytes, user_id: uuid.UUID, sealed: str) -> Cursor:
    """The cursor, or 422 for anything this server did not give this user."""
    if len(sealed) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        position, fresh_until = json.loads(unseal(key, sealed, context=_context(user_id)))
    except (SealBroken, ValueError, TypeError):
        raise InvalidCursor() from None
    if not isinstance(position, int) or not isinstance(fresh_until, int):
        raise InvalidCursor()
    return Cursor(position, fresh_until)


Op = Literal["upsert", "delete"]


@dataclass(frozen=True, slots=True)
class FeedChange:
    kind: str
    id: uuid.UUID
    op: Op
    version: int
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Page:
    changes: list[FeedChange]
    cursor: Cursor
    has_more: bool


def seen_as(viewer: Viewer, change: Any) -> Op | None:
    """What a change means to this viewer, by the vault rule (`Viewer.sees`): None when
    it is none of its business. An entry leaving what the viewer sees (into a locked
    vault) is a deletion to it; one coming in (out of the vault) an upsert. A tag or
    reminder change caused by a secret entry (a tag's count) names that entry's tag."""
    if change.kind != "journal":
        return change.op if viewer.sees(change.secret_tag_id) else None
    now_seen = viewer.sees(change.secret_tag_id)
    if change.op == "delete":
        return "delete" if now_seen or viewer.sees(change.previous_secret_tag_id) else None
    if now_seen:
        return "upsert"
    return "delete" if viewer.sees(change.previous_secret_tag_id) else None


async def _counter(session: AsyncSession, user_id: uuid.UUID) -> tuple[int, int]:
    row = (
        await session.execute(
            select(SyncCounter.position, SyncCounter.horizon).where(SyncCounter.user_id == user_id)
        )
    ).first()
    return (0, 0) if row is None else (int(row.position), int(row.horizon))


async def pull(session: AsyncSession, viewer: Viewer, cursor: Cursor | None, limit: int) -> Page:
    """The page after `cursor` (None: from the start of the kept log, as a new device)."""
    user_id = viewer.user_id
    last, horizon = await _counter(session, user_id)
    if cursor is None:
        cursor = Cursor(0, fresh_until=last)
    elif cursor.position < horizon:
        raise ResyncRequired()
    rows = (
        await session.execute(
            select(
                Change.position,
                Change.kind,
                Change.entity_id,
                Change.op,
                Change.version,
                Change.secret_tag_id,
                Change.previous_secret_tag_id,
            )
            .where(Change.user_id == user_id, Change.position > cursor.position)
            .order_by(Change.position)
            .limit(limit + 1)
        )
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    # The last change of each object this viewer may see, in log order.
    folded: dict[tuple[str, uuid.UUID], tuple[Op, int]] = {}
    for row in rows:
        op = seen_as(viewer, row)
        if op is None:
            continue
        key = (row.kind, row.entity_id)
        folded.pop(key, None)  # re-inserted last: the answer follows the log's order
        if op == "upsert" or row.position > cursor.fresh_until:
            folded[key] = (op, row.version)
    upserts = [key for key, (op, _) in folded.items() if op == "upsert"]
    views = await _render(session, viewer, upserts)
    changes: list[FeedChange] = []
    for (kind, entity_id), (op, version) in folded.items():
        if op == "delete":
            changes.append(FeedChange(kind, entity_id, "delete", version, None))
        elif (data := views.get((kind, entity_id))) is not None:
            changes.append(FeedChange(kind, entity_id, "upsert", int(data["version"]), data))
    end = rows[-1].position if rows else cursor.position
    return Page(changes, Cursor(end, cursor.fresh_until), has_more)


async def _render(
    session: AsyncSession, viewer: Viewer, keys: Sequence[tuple[str, uuid.UUID]]
) -> dict[tuple[str, uuid.UUID], dict[str, Any]]:
    """Each object as its own GET renders it now, for those the viewer may still see."""
    wanted: dict[str, list[uuid.UUID]] = {"journal": [], "tag": [], "reminder": []}
    for kind, entity_id in keys:
        wanted[kind].append(entity_id)
    views: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
    if wanted["journal"]:
        conn = await session.connection()
        for entity_id, view in (await reads.views_by_id(conn, viewer, wanted["journal"])).items():
            views[("journal", entity_id)] = dict(view)
    for kind, render in (("tag", tags.views_by_id), ("reminder", reminders.views_by_id)):
        if wanted[kind]:
            for entity_id, data in (await render(session, viewer, wanted[kind])).items():
                views[(kind, entity_id)] = data
    return views
