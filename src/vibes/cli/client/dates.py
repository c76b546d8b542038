"""Dates as people type them (`yesterday 21:00`, `tomorrow 9am`, `friday`, `in 2h`,
`2026-12-01`), durations (`30m`, `1h30m`, `2d`), and dates as people like to read them
(`today 14:03`, `yesterday`, `in 3 h`), in the user's time zone.

python-dateutil reads the date and time itself; this module adds the words around it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta

Prefer = Literal["past", "future"]

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "week": "weeks",
}
_PARTS_OF_DAY = {
    "midnight": dt.time(0),
    "morning": dt.time(9),
    "noon": dt.time(12),
    "midday": dt.time(12),
    "afternoon": dt.time(15),
    "evening": dt.time(19),
    "night": dt.time(21),
}
_PERIODS = {
    "week": relativedelta(weeks=1),
    "month": relativedelta(months=1),
    "year": relativedelta(years=1),
}
_AMOUNT = re.compile(r"(\d+)\s*([a-z]+?)s?(?![a-z])")
_RELATIVE = re.compile(r"^(?:in\s+(?P<ahead>.+)|(?P<back>.+?)\s+ago)$")


class DateError(ValueError):
    pass


def zone(name: str | None) -> dt.tzinfo:
    """The user's zone; the machine's own when the account has none (or an unknown one)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    local = dt.datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def parse_duration(text: str) -> dt.timedelta:
    """`30m`, `2h`, `1h30m`, `90 minutes`, `1d`, a bare number is minutes."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return dt.timedelta(minutes=int(cleaned))
    total = dt.timedelta()
    position = 0
    for match in _AMOUNT.finditer(cleaned):
        if cleaned[position : match.start()].strip(" ,and"):
            raise DateError(f"not a duration: {text!r}")
        unit = _UNITS.get(match.group(2))
        if unit is None:
            raise DateError(f"unknown unit {match.group(2)!r} in {text!r}")
        total += dt.timedelta(**{unit: int(match.group(1))})
        position = match.end()
    if position == 0 or cleaned[position:].strip():
        raise DateError(f"not a duration: {text!r} (try 30m, 2h, 1h30m, 1d)")
    return total


def parse_date(
    text: str,
    *,
    tz: dt.tzinfo,
    prefer: Prefer = "past",
    now: dt.datetime | None = None,
    end_of_day: bool = False,
    day_time: dt.time = dt.time(),
) -> dt.datetime:
    """An aware datetime. A day without a time is at `day_time` (midnight unless told:
    a reminder for "friday" says 09:00), or the end of that day with `end_of_day`, for
    `--to`; a weekday alone is the last one (`prefer="past"`) or the next one
    (`"future"`); `next`/`last` pick explicitly."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
    words = " ".join(text.strip().lower().split())
    if not words:
        raise DateError("empty date")
    if words == "now":
        return now
    relative = _RELATIVE.match(words)
    if relative:
        amount = parse_duration(relative.group("ahead") or relative.group("back"))
        return now + amount if relative.group("ahead") else now - amount

    day: dt.date | None = None
    rest = words
    first, _, after = words.partition(" ")
    if first in ("today", "tonight"):
        day, rest = now.date(), after + (" 21:00" if first == "tonight" and not after else "")
    elif first == "yesterday":
        day, rest = now.date() - dt.timedelta(days=1), after
    elif first == "tomorrow":
        day, rest = now.date() + dt.timedelta(days=1), after
    elif first in ("next", "last") and after in _PERIODS:
        step = _PERIODS[after] if first == "next" else -_PERIODS[after]
        day, rest = now.date() + step, ""
    else:
        direction: Prefer | None = None
        if first in ("next", "last", "this") and after:
            direction = "future" if first == "next" else "past" if first == "last" else prefer
            first, _, after = after.partition(" ")
        name = _weekday(first)
        if name is not None:
            day, rest = _weekday_date(now.date(), name, direction or prefer), after
        elif direction is not None:
            raise DateError(f"not a date: {text!r}")

    rest = rest.strip().removeprefix("at ").strip()
    if rest in _PARTS_OF_DAY:
        return dt.datetime.combine(day or now.date(), _PARTS_OF_DAY[rest], tzinfo=tz)
    if day is not None and rest.isdigit() and int(rest) < 24:  # "tomorrow at 9"
        return dt.datetime.combine(day, dt.time(int(rest)), tzinfo=tz)
    if day is not None and not rest:
        moment = dt.datetime.combine(day, day_time, tzinfo=tz)
        return _day_end(moment) if end_of_day else moment
    # dateutil takes the time from here when the text has none ("2026-12-10").
    default = dt.datetime.combine(day or now.date(), day_time, tzinfo=tz)
    try:
        parsed = dateparser.parse(rest if day is not None else text, default=default)
    except (ValueError, OverflowError):
        raise DateError(
            f"not a date: {text!r} (try 2026-12-01, yesterday 21:00, friday, tomorrow 9am)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    if end_of_day and not _has_time(rest if day is not None else text):
        return _day_end(parsed)
    return parsed


def _weekday(word: str) -> int | None:
    if len(word) < 3:
        return None
    for index, name in enumerate(_WEEKDAYS):
        if name.startswith(word):
            return index
    return None


def _weekday_date(today: dt.date, weekday: int, prefer: Prefer) -> dt.date:
    if prefer == "future":
        ahead = (weekday - today.weekday()) % 7 or 7
        return today + dt.timedelta(days=ahead)
    back = (today.weekday() - weekday) % 7 or 7
    return today - dt.timedelta(days=back)


def _has_time(text: str) -> bool:
    return bool(re.search(r"\d:\d|\d\s*(am|pm)\b|\bnoon\b|\bmidnight\b", text.lower()))


def _day_end(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=23, minute=59, second=59, microsecond=999_999)


# -- reading -------------------------------------------------------------------------


def parse_instant(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def humanize(value: str | None, tz: dt.tzinfo, now: dt.datetime | None = None) -> str:
    """`today 14:03`, `yesterday 21:00`, `Mon 09:00`, `in 3 h`, `3 Dec 21:00`, `3 Dec 2025`."""
    if not value:
        return ""
    moment = parse_instant(value).astimezone(tz)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
    days = (moment.date() - now.date()).days
    clock = moment.strftime("%H:%M")
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    if 0 <= seconds < 3600:
        return f"in {max(1, round(seconds / 60))} min"
    if -3600 < seconds < 0:
        return f"{max(1, round(-seconds / 60))} min ago"
    if days == 0:
        return f"today {clock}"
    if days == -1:
        return f"yesterday {clock}"
    if days == 1:
        return f"tomorrow {clock}"
    if -6 <= days <= 6:
        return f"{moment.strftime('%a')} {clock}"
    if moment.year == now.year:
        return f"{moment.day} {moment.strftime('%b')} {clock}"
    return f"{moment.day} {moment.strftime('%b %Y')}"


def age(value: str, now: dt.datetime | None = None) -> str:
    """`5 minutes ago`, `3 days ago`: for timestamps (created, updated)."""
    delta = relativedelta((now or dt.datetime.now(dt.UTC)), parse_instant(value))
    for unit in ("years", "months", "days", "hours", "minutes"):
        amount = getattr(delta, unit)
        if amount > 0:
            return f"{amount} {unit[:-1] if amount == 1 else unit} ago"
    return "just now"
