"""Per-day figures: the one query every analytics answer is built from.

Entries are grouped by the local calendar day they were written on, in the account's
time zone, by the database (`vibes.db.local_date`), over exactly the entries the viewer
may see (`journals.visibility`, the vault rule). What follows from the day rows (streaks,
weekdays, weekly means) is arithmetic over at most one row per day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.db import UTCDateTime, local_date
from vibes.errors import NotFound
from vibes.journals.models import Journal
from vibes.journals.visibility import Viewer, visible_journals

_ZONE = "analytics_zone"


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


def local_day_of(zone: str) -> Any:
    """The SQL expression of an entry's local day in `zone` (bound by name)."""
    return local_date(Journal.entry_date, bindparam(_ZONE, zone, type_=String()))


async def account_zone(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The account's IANA zone: where a human's day begins and ends."""
    zone = await session.scalar(select(User.timezone).where(User.id == user_id))
    if zone is None:
        raise NotFound()
    return zone


def day_bounds(zone: str, first: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of local midnight on `first` and on `end` (exclusive), so a range
    of local days is one index range scan on `entry_date`."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    stop = dt.datetime.combine(end, dt.time(), tz).astimezone(dt.UTC)
    return start, stop


async def day_rows(
    session: AsyncSession,
    viewer: Viewer,
    zone: str,
    *,
    first: dt.date | None = None,
    end: dt.date | None = None,
) -> list[Day]:
    """One row per local day with visible entries, oldest first; `[first, end)` limits
    the days (local), else all time."""
    visible = visible_journals(viewer)
    conditions = [visible.clause]
    if first is not None and end is not None:
        start, stop = day_bounds(zone, first, end)
        conditions += [
            Journal.entry_date >= bindparam("analytics_start", start, type_=UTCDateTime()),
            Journal.entry_date < bindparam("analytics_stop", stop, type_=UTCDateTime()),
        ]
    # The day is computed once per entry in a subquery and grouped on by name: PostgreSQL
    # would not match a GROUP BY expression whose zone is a second bind parameter.
    entries = (
        select(
            local_day_of(zone).label("local_day"),
            Journal.word_count,
            Journal.mood_rating,
        )
        .where(*conditions)
        .subquery("visible_entries")
    )
    stmt = (
        select(
            entries.c.local_day,
            func.count(),
            func.coalesce(func.sum(entries.c.word_count), 0),
            func.coalesce(func.sum(entries.c.mood_rating), 0),
            func.count(entries.c.mood_rating),
        )
        .group_by(entries.c.local_day)
        .order_by(entries.c.local_day)
    )
    rows = await session.execute(stmt, visible.params)
    return [
        Day(d, int(n), int(words), int(mood_sum), int(moods))
        for d, n, words, mood_sum, moods in rows
        if d is not None
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
