"""The local day an entry counts on, and the per-day figures kept from it (`EntryDay`).

One rule (`entry_local_date`): the calendar day of `entry_date` in the entry's own zone
where it is known (an import that names it, `Journal.timezone`), else in the account's
current zone; computed by the database (`vibes.db.local_date`: PostgreSQL's tz database,
on SQLite `vibes.db.local_day`). The triggers that keep `entry_days` (migration
20261203_0600) apply the same rule in SQL text. Entries without a zone of their own
follow their account: when its zone changes, the user's `entry_days` are rebuilt in the
same transaction (`rebuild_entry_days`); entries with a zone of their own keep their day.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from vibes.accounts.models import User
from vibes.db import local_date
from vibes.errors import NotFound
from vibes.journals.models import PUBLIC_VAULT, EntryDay, Journal


async def account_zone(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The account's IANA zone: where a human's day begins and ends."""
    zone = await session.scalar(select(User.timezone).where(User.id == user_id))
    if zone is None:
        raise NotFound()
    return zone


def entry_local_date(account_zone: ColumnElement[Any] | str) -> ColumnElement[Any]:
    """THE day of an entry, as SQL: `entry_date` in its own zone, else `account_zone`
    (a zone name, bound as the parameter `entry_zone`, or an SQL expression)."""
    zone = (
        bindparam("entry_zone", account_zone, type_=String())
        if isinstance(account_zone, str)
        else account_zone
    )
    return cast(
        ColumnElement[Any], local_date(Journal.entry_date, func.coalesce(Journal.timezone, zone))
    )


def day_summary(user_id: uuid.UUID, zone: str) -> Any:
    """The user's `entry_days` rows computed from scratch from their entries, in the
    table's column order (what the triggers keep, for a rebuild or a check)."""
    day = entry_local_date(zone).label("local_date")
    vault = func.coalesce(Journal.secret_tag_id, literal(PUBLIC_VAULT, Uuid())).label("vault_id")
    entries = (
        select(
            Journal.user_id,
            vault,
            day,
            Journal.word_count,
            Journal.mood_rating,
        )
        .where(Journal.user_id == bindparam("summary_user", user_id, type_=Uuid()))
        .subquery("summary_entries")
    )
    return select(
        entries.c.user_id,
        entries.c.vault_id,
        entries.c.local_date,
        func.count(),
        func.sum(entries.c.word_count),
        func.coalesce(func.sum(entries.c.mood_rating), 0),
        func.count(entries.c.mood_rating),
    ).group_by(entries.c.user_id, entries.c.vault_id, entries.c.local_date)


def _rebuild(session: Session, user_id: uuid.UUID, zone: str) -> None:
    table = cast(Table, EntryDay.__table__)
    session.execute(delete(table).where(table.c.user_id == user_id))
    session.execute(
        insert(table).from_select(
            [
                "user_id",
                "vault_id",
                "local_date",
                "entries",
                "words",
                "mood_sum",
                "mood_count",
            ],
            day_summary(user_id, zone),
        )
    )


async def rebuild_entry_days(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Recompute the user's per-day rows from their entries (in their account's zone)."""
    zone = await account_zone(session, user_id)
    await session.run_sync(_rebuild, user_id, zone)


@event.listens_for(Session, "after_flush")
def _follow_account_zone(session: Session, context: Any) -> None:
    """An account whose zone was just changed (flushed): its entries without a zone of
    their own move to their day in the new zone, whichever path changed it."""
    for obj in session.dirty:
        if not isinstance(obj, User):
            continue
        history = inspect(obj).attrs.timezone.history
        if not history.deleted or not history.added or history.added[0] == history.deleted[0]:
            continue
        _rebuild(session, obj.id, obj.timezone)
