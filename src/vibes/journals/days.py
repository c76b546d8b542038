"""The local day an entry counts on, written with it (`Journal.local_date`).

One rule (`vibes.db.local_day`): the calendar day of `entry_date` in the entry's own zone
where it is known (an import that names it, `Journal.timezone`), else in the account's
zone. An entry without a zone of its own follows its account: when the account's zone
changes, those entries move to their day in the new zone, in the same transaction (so do
their per-day figures, `EntryDay`, through the triggers); entries with a zone of their
own keep their day. Analytics group by the stored day and never convert instants again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import String, bindparam, event, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from vibes.accounts.models import User
from vibes.db import local_date, local_day
from vibes.errors import NotFound
from vibes.journals.models import Journal


async def account_zone(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The account's IANA zone: where a human's day begins and ends."""
    zone = await session.scalar(select(User.timezone).where(User.id == user_id))
    if zone is None:
        raise NotFound()
    return zone


def entry_day(entry_date: dt.datetime, own_zone: str | None, account: str) -> dt.date:
    """The day an entry dated `entry_date` counts on."""
    return local_day(entry_date, own_zone or account)


def _redate(zone: str) -> Any:
    return (
        update(Journal)
        .where(Journal.user_id == bindparam("redate_user"), Journal.timezone.is_(None))
        .values(local_date=local_date(Journal.entry_date, bindparam("redate_zone", zone, String())))
        .execution_options(synchronize_session=False)
    )


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
        session.execute(_redate(obj.timezone), {"redate_user": obj.id})
