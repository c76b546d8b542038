"""Per-day figures: the one query every analytics answer is built from.

Entries count on their stored local day (`journals.days`: the entry's own zone where an
import knew it, else the account's), summed per day by the database from `entry_days`,
which triggers keep in step with every write. The vault rule: public entries' rows plus
those of the secret tags the request has unlocked, so a locked viewer reads exactly the
rows of the account without its vault. What follows from the day rows (streaks, weekdays,
weekly means) is arithmetic over at most one row per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Uuid, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.journals.days import account_zone
from vibes.journals.models import PUBLIC_VAULT, EntryDay
from vibes.journals.visibility import Viewer

__all__ = ["Day", "account_zone", "day_rows", "streaks", "today_in"]


@dataclass(frozen=True, slots=True)
class Day:
    date: dt.date
    count: int
    word_count: int
    mood_sum: int
    mood_count: int

    @property
    def avg_mood(self) -> float | None:
        return round(self.mood_sum / self.mood_count, 2) if self.mood_count else None


def _day_statement(ranged: bool) -> Any:
    vaults = bindparam("day_vaults", type_=Uuid(), expanding=True)
    stmt = select(
        EntryDay.local_date,
        func.sum(EntryDay.entries),
        func.sum(EntryDay.words),
        func.sum(EntryDay.mood_sum),
        func.sum(EntryDay.mood_count),
    ).where(EntryDay.user_id == bindparam("day_user", type_=Uuid()), EntryDay.vault_id.in_(vaults))
    if ranged:
        stmt = stmt.where(
            EntryDay.local_date >= bindparam("day_first", type_=Date()),
            EntryDay.local_date < bindparam("day_end", type_=Date()),
        )
    return stmt.group_by(EntryDay.local_date).order_by(EntryDay.local_date)


_ALL_TIME = _day_statement(ranged=False)
_RANGED = _day_statement(ranged=True)


async def day_rows(
    session: AsyncSession,
    viewer: Viewer,
    *,
    first: dt.date | None = None,
    end: dt.date | None = None,
) -> list[Day]:
    """One row per local day with visible entries, oldest first; `[first, end)` limits
    the days, else all time."""
    params: dict[str, Any] = {
        "day_user": viewer.user_id,
        "day_vaults": [PUBLIC_VAULT, *sorted(viewer.unlocked_secret_tag_ids)],
    }
    if first is not None and end is not None:
        params.update(day_first=first, day_end=end)
        stmt = _RANGED
    else:
        stmt = _ALL_TIME
    rows = await session.execute(stmt, params)
    return [
        Day(d, int(n), int(words), int(mood_sum), int(moods))
        for d, n, words, mood_sum, moods in rows
        if n
    ]


def today_in(zone: str, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(zone)).date()


def streaks(dates: list[dt.date], today: dt.date) -> tuple[int, int]:
    """(current, longest) runs of consecutive days. The current run is alive while its
    last day is today or yesterday; days after today (future-dated entries) do not
    extend it."""
    longest = run = 0
    previous: dt.date | None = None
    for date in dates:
        run = run + 1 if previous is not None and date - previous == dt.timedelta(1) else 1
        longest = max(longest, run)
        previous = date
    present = set(dates)
    one = dt.timedelta(days=1)
    day = today if today in present else today - one
    current = 0
    while day in present:
        current += 1
        day -= one
    return current, longest
