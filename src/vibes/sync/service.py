"""Multi-device sync: the user's change log read as a feed, through the vault rule.

A page is the next `limit` rows of the log after the cursor, by position (commit order,
`recording.record`). Each row says which object changed; its `data` is the object as it
is now, rendered by the renderer of its own GET. Rows that this viewer may not see are
left out, and several rows of one object in a page fold into the last one. An object that
is gone (or hidden) by the time the page is rendered is left out too: the change that
removed it is later in the log, and comes as a tombstone on a later page.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from vibes.errors import Gone
from vibes.journals import reads
from vibes.journals.models import Tag
from vibes.journals.visibility import Viewer
from vibes.platform.pagination import InvalidCursor
from vibes.platform.sealing import SealBroken, seal, unseal
from vibes.recording.models import Change, SyncCounter
from vibes.reminders import service as reminders
from vibes.reminders.models import Reminder
from vibes.tags import service as tags

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
# A sealed cursor is about 100 characters, plus about 45 per unlocked vault.
MAX_CURSOR_LENGTH = 4096


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
    """Where a device is in the log: every change up to `position` is applied, as seen
    with the secret tags `vaults` unlocked. A device that started without a cursor also
    carries `fresh_until`, the position the log had then: deletions up to it concern
    objects it never had, so they are left out."""

    position: int
    fresh_until: int = 0
    vaults: frozenset[uuid.UUID] = frozenset()


def _context(user_id: uuid.UUID) -> bytes:
    return b"vibes.sync-cursor:" + user_id.bytes


def seal_cursor(key: bytes, user_id: uuid.UUID, cursor: Cursor) -> str:
    """Opaque to the client, and bound to its user: another user's cursor does not open."""
    vaults = sorted(tag.hex for tag in cursor.vaults)
    plain = json.dumps([cursor.position, cursor.fresh_until, vaults])
    return seal(key, plain, context=_context(user_id))


def open_cursor(key: bytes, user_id: uuid.UUID, sealed: str) -> Cursor:
    """The cursor, or 422 for anything this server did not give this user."""
    if len(sealed) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        position, fresh_until, vaults = json.loads(unseal(key, sealed, context=_context(user_id)))
        return Cursor(int(position), int(fresh_until), frozenset(uuid.UUID(v) for v in vaults))
    except (SealBroken, ValueError, TypeError):
        raise InvalidCursor() from None


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
    vaults = viewer.unlocked_secret_tag_ids
    if cursor is None:
        cursor = Cursor(0, fresh_until=last, vaults=vaults)
    elif cursor.position < horizon:
        raise ResyncRequired()
    # Read before the log, so nothing written meanwhile is missed (at worst sent twice).
    again = await _seen_differently(session, user_id, cursor.vaults ^ vaults)
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
    folded: dict[tuple[str, uuid.UUID], tuple[Op, int]] = {
        key: ("upsert", version) for key, version in again.items()
    }
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
        elif (kind, entity_id) in again and kind == "journal":
            # An entry of a vault this device no longer has unlocked (or one gone).
            changes.append(FeedChange(kind, entity_id, "delete", version, None))
    end = rows[-1].position if rows else cursor.position
    return Page(changes, Cursor(end, cursor.fresh_until, vaults), has_more)


async def _seen_differently(
    session: AsyncSession, user_id: uuid.UUID, vaults: frozenset[uuid.UUID]
) -> dict[tuple[str, uuid.UUID], int]:
    """What looks different to a device since it last pulled with another set of vaults
    unlocked: the entries of the vaults it unlocked or locked since (found in the log),
    and every tag and reminder (their counts and links), each with its last version. They
    are sent again: an entry it may not see any more as a deletion (at its last version),
    everything else as it is now."""
    if not vaults:
        return {}
    ids = sorted(vaults)
    entries = await session.execute(
        select(Change.entity_id, func.max(Change.version))
        .where(
            Change.user_id == user_id,
            Change.kind == "journal",
            Change.secret_tag_id.in_(ids) | Change.previous_secret_tag_id.in_(ids),
        )
        .group_by(Change.entity_id)
    )
    keys = {("journal", entity_id): int(version) for entity_id, version in entries}
    for kind, table in (("tag", Tag), ("reminder", Reminder)):
        found = await session.execute(
            select(table.id, table.version).where(table.user_id == user_id)
        )
        keys.update({(kind, entity_id): int(version) for entity_id, version in found})
    return keys


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


async def compact(session: AsyncSession, now: dt.datetime, retention_days: int) -> int:
    """Delete the changes no device needs once it has pulled past them: tombstones, and
    changes a later one of the same object (for the same viewers) supersedes, when
    older than the retention. Each user's horizon rises to the last position deleted, so
    a cursor from before it answers 410 instead of skipping what was deleted. Returns
    the number of rows deleted."""
    cutoff = now - dt.timedelta(days=retention_days)
    later = aliased(Change)
    superseded = exists().where(
        later.user_id == Change.user_id,
        later.kind == Change.kind,
        later.entity_id == Change.entity_id,
        later.position > Change.position,
        # A tag's change seen only with a vault unlocked supersedes no public one.
        later.secret_tag_id.is_not_distinct_from(Change.secret_tag_id),
    )
    doomed = (Change.created_at < cutoff) & ((Change.op == "delete") | superseded)
    tops = (
        await session.execute(
            select(Change.user_id, func.max(Change.position)).where(doomed).group_by(Change.user_id)
        )
    ).all()
    for user_id, top in tops:
        await session.execute(
            update(SyncCounter)
            .where(SyncCounter.user_id == user_id, SyncCounter.horizon < top)
            .values(horizon=top)
        )
    horizon = (
        select(SyncCounter.horizon).where(SyncCounter.user_id == Change.user_id).scalar_subquery()
    )
    result = await session.execute(
        delete(Change)
        .where(doomed, Change.position <= horizon)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
