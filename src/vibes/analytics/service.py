"""The analytics rules: dashboard, calendar, on-this-day and the per-day export.

Every figure comes from `days.day_rows` (the per-day rows of the entries the viewer may
see, on each entry's stored local day) or from a service that applies the same
visibility rule (tag counts); "today" is the account's.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, bindparam, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.analytics.days import Day, account_zone, day_rows, streaks, today_in
from vibes.analytics.schemas import (
    ActivityPoint,
    CalendarDay,
    Charts,
    Dashboard,
    MoodPoint,
    Period,
    Summary,
    TagShare,
    Weekday,
)
from vibes.journals.days import entry_local_date
from vibes.journals.reads import read_matching
from vibes.journals.rendering import EntryView
from vibes.journals.visibility import Viewer
from vibes.reminders.models import Reminder
from vibes.tags import service as tags_service

PERIOD_DAYS: dict[str, int] = {"week": 7, "month": 30, "quarter": 91, "year": 365}
# Mood per day reads well over a week or a month; over a quarter or a year, per week.
_WEEKLY_MOOD = frozenset({"quarter", "year"})
WEEKDAYS: tuple[Weekday, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


async def dashboard(
    session: AsyncSession, viewer: Viewer, period: Period, *, now: dt.datetime | None = None
) -> Dashboard:
    zone = await account_zone(session, viewer.user_id)
    today = today_in(zone, now)
    days = await day_rows(session, viewer)
    first = today - dt.timedelta(days=PERIOD_DAYS[period] - 1)
    in_period = [d for d in days if first <= d.date <= today]
    current, longest = streaks([d.date for d in days], today)
    total_reminders, completed = await _reminder_totals(session, viewer)
    mood_sum = sum(d.mood_sum for d in days)
    mood_count = sum(d.mood_count for d in days)
    return Dashboard(
        period=period,
        timezone=zone,
        today=today,
        summary=Summary(
            total_journals=sum(d.count for d in days),
            total_words=sum(d.word_count for d in days),
            avg_mood=round(mood_sum / mood_count, 2) if mood_count else None,
            writing_streak=current,
            longest_streak=longest,
            most_active_weekday=_most_active_weekday(days),
            total_reminders=total_reminders,
            completed_reminders=completed,
        ),
        charts=Charts(
            journal_activity=_activity(in_period, first, today),
            mood_trend=_mood_trend(in_period, weekly=period in _WEEKLY_MOOD),
            tag_usage=await _tag_usage(session, viewer),
        ),
    )


def _most_active_weekday(days: list[Day]) -> Weekday | None:
    """The weekday with the most entries; a tie goes to the earlier day of the ISO week."""
    per_weekday: Counter[int] = Counter()
    for day in days:
        per_weekday[day.date.weekday()] += day.count
    if not per_weekday:
        return None
    best = max(range(7), key=lambda w: (per_weekday[w], -w))
    return WEEKDAYS[best]


def _activity(days: list[Day], first: dt.date, last: dt.date) -> list[ActivityPoint]:
    """Every day of the period, days without entries as zeros (a chart's x axis)."""
    by_date = {d.date: d for d in days}
    points = []
    date = first
    while date <= last:
        day = by_date.get(date)
        points.append(
            ActivityPoint(
                date=date,
                count=day.count if day else 0,
                word_count=day.word_count if day else 0,
            )
        )
        date += dt.timedelta(days=1)
    return points


def _mood_trend(days: list[Day], *, weekly: bool) -> list[MoodPoint]:
    """Mean mood per day (or per ISO week, dated by its Monday) over the rated entries."""
    sums: dict[dt.date, list[int]] = {}
    for day in days:
        if not day.mood_count:
            continue
        key = day.date - dt.timedelta(days=day.date.weekday()) if weekly else day.date
        total = sums.setdefault(key, [0, 0])
        total[0] += day.mood_sum
        total[1] += day.mood_count
    return [MoodPoint(date=k, avg_mood=round(s / n, 2)) for k, (s, n) in sorted(sums.items())]


async def _tag_usage(session: AsyncSession, viewer: Viewer) -> list[TagShare]:
    """Each tag's share of all tag uses on the entries the viewer can see (the counts are
    the tags service's, vault rule included), most used first."""
    counted = [(t.tag.name, t.journal_count) for t in await tags_service.list_tags(session, viewer)]
    used = [(name, n) for name, n in counted if n > 0]
    total = sum(n for _, n in used)
    used.sort(key=lambda item: (-item[1], item[0].casefold()))
    return [TagShare(tag=name, count=n, percentage=round(100 * n / total, 1)) for name, n in used]


async def _reminder_totals(session: AsyncSession, viewer: Viewer) -> tuple[int, int]:
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Reminder.is_completed.is_(True)),
            ).where(Reminder.user_id == viewer.user_id)
        )
    ).one()
    return int(row[0]), int(row[1])


async def calendar(session: AsyncSession, viewer: Viewer, year: int) -> list[CalendarDay]:
    """Each local day of `year` with visible entries (a year heatmap)."""
    days = await day_rows(session, viewer, first=dt.date(year, 1, 1), end=dt.date(year + 1, 1, 1))
    return [_calendar_day(d) for d in days]


def _calendar_day(day: Day) -> CalendarDay:
    return CalendarDay(
        date=day.date, count=day.count, word_count=day.word_count, avg_mood=day.avg_mood
    )


async def on_this_day(
    session: AsyncSession,
    viewer: Viewer,
    date: dt.date | None,
    *,
    now: dt.datetime | None = None,
) -> tuple[dt.date, list[EntryView]]:
    """The visible entries written on `date`'s month and day (local) in earlier years,
    newest first; `date` defaults to today in the account's zone."""
    zone = await account_zone(session, viewer.user_id)
    date = date or today_in(zone, now)
    local = entry_local_date(zone)
    condition = (
        (extract("month", local) == bindparam("otd_month", type_=Integer()))
        & (extract("day", local) == bindparam("otd_day", type_=Integer()))
        & (extract("year", local) < bindparam("otd_year", type_=Integer()))
    )
    params: dict[str, Any] = {"otd_month": date.month, "otd_day": date.day, "otd_year": date.year}
    return date, await read_matching(session, viewer, condition, params)


EXPORT_COLUMNS = ("date", "entries", "words", "avg_mood")


async def export_days(session: AsyncSession, viewer: Viewer) -> list[dict[str, Any]]:
    """The per-day rows of all time, oldest first."""
    return [
        {
            "date": d.date.isoformat(),
            "entries": d.count,
            "words": d.word_count,
            "avg_mood": d.avg_mood,
        }
        for d in await day_rows(session, viewer)
    ]


def csv_lines(rows: list[dict[str, Any]]) -> Iterator[str]:
    """The rows as CSV (RFC 4180 line ends), header first; no field needs quoting (dates
    and numbers only), an unrated day's mean mood is empty."""
    yield ",".join(EXPORT_COLUMNS) + "\r\n"
    for row in rows:
        yield ",".join("" if row[c] is None else str(row[c]) for c in EXPORT_COLUMNS) + "\r\n"
