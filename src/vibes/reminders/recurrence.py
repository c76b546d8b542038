"""Recurrence: RFC 5545 RRULEs (python-dateutil) expanded on local wall time in an IANA zone.

Occurrences are computed on naive local times and only then turned into UTC instants, so
"every day at 21:00" in Europe/Berlin is 21:00 local on both sides of a DST change (20:00
UTC in winter, 19:00 UTC in summer), which an expansion in UTC would get wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

SHORTHANDS = {
    "daily": "FREQ=DAILY",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekends": "FREQ=WEEKLY;BYDAY=SA,SU",
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
}
# Expansion walks from the reminder's start, so very fine rules would cost CPU per step.
_REFUSED_FREQS = {"SECONDLY", "MINUTELY"}
_UNTIL_UTC = re.compile(r"^(\d{8}T\d{6})Z$")
# How far back of a local time an expansion starts, so an instant inside a repeated
# (fall-back) hour still finds the occurrence that follows it.
_LOOKBACK = dt.timedelta(hours=3)
# The Gregorian calendar repeats every 400 years (146,097 days, a whole number of weeks):
# a rule with no occurrence in that span has none at all (its calendar filters see the
# same days again), so that span, not a step count, bounds every search. Rare rules
# (Monday 29 February: 2044, 2072, …) are found; a search never reaches the year 9999.
_HORIZON = dt.timedelta(days=146097)
# Bounds that keep every expansion small: dateutil never advances with INTERVAL=0 (an
# endless loop) and walks every occurrence from the start of a COUNT rule.
MAX_INTERVAL = 1000
MAX_COUNT = 1000
# With FREQ=HOURLY the finest, a rule gives at most a few occurrences an hour.
_MAX_BYMINUTE = 12
_MAX_BYSECOND = 1
# A hard stop: no expansion walks more occurrences than this (far more than any rule the
# bounds above let through needs), so even a row stored before them cannot spin.
_MAX_STEPS = 20_000
_UNTIL_MIN_YEAR = 1970
_UNTIL_MAX_YEAR = 9100
_DAY_RULES = ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYEASTER")


class RecurrenceError(ValueError):
    """A rule or zone the API refuses; the message is shown to the user as is."""


@functools.cache
def _zone_names() -> frozenset[str]:
    # The host's own alias files are not zones a user can mean.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or a RecurrenceError saying what is accepted."""
    # Only names of the IANA database: never a path, never the host's "localtime".
    if name not in _zone_names():
        raise RecurrenceError(f"Unknown time zone {name!r}: use an IANA name like 'Europe/Berlin'.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # pragma: no cover - listed above
        raise RecurrenceError(f"Unknown time zone {name!r}.") from None


def to_local(instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The naive wall-clock time of a UTC instant in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def to_instant(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of a naive wall-clock time in `zone`.

    A time that falls in a spring-forward gap is read with the offset before the change
    (02:30 becomes 03:30 summer time); a repeated fall-back time takes its first instance.
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)


def normalize_rule(value: str) -> str:
    """The stored form of a recurrence: a lower-case shorthand, or the RRULE upper-cased
    without its optional `RRULE:` prefix. Raises RecurrenceError when it is not valid."""
    text = value.strip()
    if text.lower() in SHORTHANDS:
        return text.lower()
    if "\n" in text or "\r" in text:
        raise RecurrenceError(
            "Give one RRULE line, without DTSTART: the reminder's remind_at is its start."
        )
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    text = text.upper()
    if not text:
        raise RecurrenceError("The recurrence is empty.")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, val = part.partition("=")
        if not sep or not name or not val:
            raise RecurrenceError(
                f"Not an RRULE: {part!r} is not NAME=VALUE. Example:"
                " 'FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=21', or one of: " + ", ".join(SHORTHANDS) + "."
            )
        if name == "DTSTART":
            raise RecurrenceError("DTSTART is not allowed: remind_at is the reminder's start.")
        parts[name] = val
    if "FREQ" not in parts:
        raise RecurrenceError("An RRULE needs FREQ (for example 'FREQ=DAILY').")
    if parts["FREQ"] in _REFUSED_FREQS:
        raise RecurrenceError(f"FREQ={parts['FREQ']} is not supported; the finest is HOURLY.")
    _check_bounds(parts)
    _check_satisfiable(parts)
    # Check it with dateutil now so the error names the fault.
    try:
        _build(text, dt.datetime(2026, 1, 1, 9, 0), ZoneInfo("UTC"))
    except RecurrenceError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError(f"Invalid RRULE {text!r}: {exc}.") from None
    return text


_MONTH_DAYS = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}


def _whole(parts: dict[str, str], name: str, default: str) -> int:
    try:
        return int(parts.get(name, default))
    except ValueError:
        raise RecurrenceError(f"{name} must be a whole number.") from None


def _check_bounds(parts: dict[str, str]) -> None:
    """Refuse rules whose expansion would never end or cost too much."""
    interval = _whole(parts, "INTERVAL", "1")
    if not 1 <= interval <= MAX_INTERVAL:
        raise RecurrenceError(f"INTERVAL must be between 1 and {MAX_INTERVAL}.")
    if "COUNT" in parts and not 1 <= _whole(parts, "COUNT", "1") <= MAX_COUNT:
        raise RecurrenceError(f"COUNT must be between 1 and {MAX_COUNT}.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("Give COUNT or UNTIL, not both.")
    for name, most in (("BYMINUTE", _MAX_BYMINUTE), ("BYSECOND", _MAX_BYSECOND)):
        if name in parts and len(parts[name].split(",")) > most:
            raise RecurrenceError(f"{name} takes at most {most} value(s); the finest is HOURLY.")
    until = parts.get("UNTIL")
    if until is not None:
        year = until[:4]
        if not year.isdigit() or not _UNTIL_MIN_YEAR <= int(year) <= _UNTIL_MAX_YEAR:
            raise RecurrenceError(
                f"UNTIL must be between the years {_UNTIL_MIN_YEAR} and {_UNTIL_MAX_YEAR}."
            )


def _check_satisfiable(parts: dict[str, str]) -> None:
    """Refuse day-of-month rules no month they name can meet (FEBRUARY 30th).

    dateutil searches period by period for a match and, finding none, would walk to the
    year 9999 (seconds of CPU per request), so such a rule is refused up front.
    """
    if "BYMONTHDAY" not in parts:
        return
    try:
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
        months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
    except ValueError:
        return  # dateutil names the fault
    months = months or list(_MONTH_DAYS)
    if not any(abs(d) <= _MONTH_DAYS.get(m, 31) for d in days for m in months if d):
        raise RecurrenceError(
            "The recurrence never occurs: no month it names has that day (BYMONTHDAY)."
        )


def _rebase(
    parts: dict[str, str], local_start: dt.datetime, near: dt.datetime
) -> tuple[dict[str, str], dt.datetime]:
    """The same rule with its start moved forward by whole periods to just before `near`.

    dateutil walks every occurrence from the start, so an hourly rule started years ago
    would cost hundreds of thousands of steps per expansion. Without COUNT, moving the start
    by a whole number of periods (FREQ x INTERVAL) gives the same occurrences from there
    on, once the defaults dateutil takes from the start (the day of the month, the month)
    are written into the rule.
    """
    if "COUNT" in parts or near <= local_start:
        return parts, local_start
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    if freq == "YEARLY":
        elapsed = near.year - local_start.year
    elif freq == "MONTHLY":
        elapsed = (near.year - local_start.year) * 12 + near.month - local_start.month
    elif freq == "WEEKLY":
        elapsed = (near - local_start).days // 7
    elif freq == "DAILY":
        elapsed = (near - local_start).days
    elif freq == "HOURLY":
        elapsed = int((near - local_start).total_seconds() // 3600)
    else:  # pragma: no cover - refused by _check_bounds' callers
        return parts, local_start
    periods = (elapsed // interval - 1) * interval
    if periods <= 0:
        return parts, local_start
    pinned = dict(parts)
    shift: relativedelta | dt.timedelta
    if freq in ("YEARLY", "MONTHLY"):
        if not any(name in parts for name in _DAY_RULES):
            pinned["BYMONTHDAY"] = str(local_start.day)
            if freq == "YEARLY":
                pinned.setdefault("BYMONTH", str(local_start.month))
        shift = relativedelta(years=periods) if freq == "YEARLY" else relativedelta(months=periods)
    elif freq == "WEEKLY":
        if not any(name in parts for name in _DAY_RULES):
            pinned["BYDAY"] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[local_start.weekday()]
        shift = dt.timedelta(weeks=periods)
    elif freq == "DAILY":
        shift = dt.timedelta(days=periods)
    else:
        shift = dt.timedelta(hours=periods)
    return pinned, local_start + shift


def _build(
    rule: str,
    local_start: dt.datetime,
    zone: ZoneInfo,
    cap: dt.datetime | None = None,
    near: dt.datetime | None = None,
) -> rrule | None:
    """The rule as a dateutil rrule on naive local time.

    With `cap`, it ends there: dateutil searches period by period until a match, so a rule
    that never matches (or no longer does) would otherwise scan to the year 9999. Returns
    None when a capped COUNT rule has no occurrence before the cap. With `near`, the start
    is moved forward by whole periods to just before it (see `_rebase`).
    """
    text = SHORTHANDS.get(rule, rule)
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, _, val = part.partition("=")
        parts[name] = val
    # Stored rows are checked again: a rule stored before a bound existed must not spin.
    _check_bounds(parts)
    if "UNTIL" in parts and (match := _UNTIL_UTC.match(parts["UNTIL"])):
        # The expansion runs on naive local time, so a UTC UNTIL becomes local time.
        until = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
        parts["UNTIL"] = to_local(until, zone).strftime("%Y%m%dT%H%M%S")
    if near is not None:
        parts, local_start = _rebase(parts, local_start, near)
    if cap is not None:
        capped = dict(parts)
        capped.pop("COUNT", None)
        cap_text = cap.strftime("%Y%m%dT%H%M%S")
        capped["UNTIL"] = min(capped.get("UNTIL", cap_text), cap_text)
        if "COUNT" not in parts:
            parts = capped
        elif _parse(capped, local_start).after(local_start, inc=True) is None:
            return None
    return _parse(parts, local_start)


def _parse(parts: dict[str, str], local_start: dt.datetime) -> rrule:
    text = ";".join(f"{name}={val}" for name, val in parts.items())
    built = rrulestr(text, dtstart=local_start, cache=False)
    if not isinstance(built, rrule):  # pragma: no cover - a single RRULE line gives an rrule
        raise RecurrenceError("Give a single RRULE.")
    return built


_LAST_LOCAL = dt.datetime(9998, 12, 31)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PLAIN_DAY = re.compile(r"^[+-]?\d{0,2}(MO|TU|WE|TH|FR|SA|SU)$")


def _first_candidate_day(
    rule: str, local_start: dt.datetime, start: dt.datetime, cap: dt.datetime
) -> dt.datetime | None:
    """Where an expansion from `start` can begin: the first day at or after it that the
    rule's calendar filters allow, or None when no day up to `cap` does (or when the
    rule can never line up with the filters it names: see `_never_aligned`).

    dateutil searches a sub-yearly rule period by period, so a rule that matches rarely
    costs one step per hour or day in between (seconds of CPU for a few years). The same
    filters as a YEARLY rule (every weekday it names, no BYSETPOS, every day of the
    months named when no day is) select a superset of the days the rule can occur on,
    found year by year: at most 400 cheap steps. Jumping there loses no occurrence.
    """
    text = SHORTHANDS.get(rule, rule)
    parts = dict(part.partition("=")[::2] for part in text.split(";"))
    if _never_aligned(parts, local_start):
        return None
    if parts.get("FREQ") == "YEARLY" or "BYEASTER" in parts:
        return start
    yearly = {"FREQ": "YEARLY"}
    for name in ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "WKST"):
        if name in parts:
            yearly[name] = parts[name]
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        if not all(_PLAIN_DAY.match(day) for day in days):
            return start  # dateutil names the fault
        yearly["BYDAY"] = ",".join(sorted({day[-2:] for day in days}))
    if not any(name in yearly for name in ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY")):
        if "BYMONTH" not in yearly:
            return start  # every day is a candidate
        yearly["BYDAY"] = ",".join(_WEEKDAYS)  # every day of the months named
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    yearly["UNTIL"] = cap.strftime("%Y%m%dT%H%M%S")
    found = _parse(yearly, dt.datetime(day.year, 1, 1)).after(day, inc=True)
    if found is None:
        return None
    return max(start, found)


def _never_aligned(parts: dict[str, str], local_start: dt.datetime) -> bool:
    """Whether the rule's steps can never reach the hours or weekdays it filters on
    (FREQ=HOURLY;INTERVAL=24;BYHOUR=5 from a 09:00 start; FREQ=DAILY;INTERVAL=7;BYDAY=TU
    from a Monday): such a rule would otherwise walk all 400 years to find nothing."""
    try:
        interval = int(parts.get("INTERVAL", "1"))
        if parts.get("FREQ") == "HOURLY" and "BYHOUR" in parts:
            step = math.gcd(interval, 24)
            hours = {int(h) for h in parts["BYHOUR"].split(",")}
            return all((h - local_start.hour) % step for h in hours)
        if parts.get("FREQ") == "DAILY" and "BYDAY" in parts and interval % 7 == 0:
            days = {day[-2:] for day in parts["BYDAY"].split(",")}
            return _WEEKDAYS[local_start.weekday()] not in days
    except ValueError:
        return False  # dateutil names the fault
    return False


@dataclass(frozen=True)
class Schedule:
    """A reminder's timing: the start instant, its zone, and an optional rule."""

    remind_at: dt.datetime
    timezone: str
    recurrence: str | None

    def occurrences_after(
        self, instant: dt.datetime, *, inclusive: bool = False
    ) -> Iterator[dt.datetime]:
        """Occurrences (UTC instants) after `instant`, in order."""
        zone = load_zone(self.timezone)
        if self.recurrence is None:
            if self.remind_at > instant or (inclusive and self.remind_at == instant):
                yield self.remind_at
            return
        try:
            local_start = to_local(self.remind_at, zone)
            start = max(to_local(instant, zone) - _LOOKBACK, local_start)
            cap = min(start + _HORIZON, _LAST_LOCAL)
            near = _first_candidate_day(self.recurrence, local_start, start, cap)
            if near is None:
                return
            rule = _build(self.recurrence, local_start, zone, cap=cap, near=near)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            if isinstance(exc, RecurrenceError):
                raise
            raise RecurrenceError(f"The recurrence cannot be expanded: {exc}.") from None
        if rule is None:
            return
        # Walked by hand rather than with xafter() so the number of steps has a hard bound.
        for step, local in enumerate(rule):
            if step >= _MAX_STEPS:
                raise RecurrenceError("The recurrence is too expensive to expand.")
            if local < start:
                continue
            if local > cap:
                return
            try:
                occurrence = to_instant(local, zone)
            except OverflowError:
                return
            if occurrence > instant or (inclusive and occurrence == instant):
                yield occurrence

    def first(self) -> dt.datetime | None:
        """The first occurrence at or after remind_at (None when the rule yields none)."""
        return next(self.occurrences_after(self.remind_at, inclusive=True), None)

    def next_after(self, instant: dt.datetime) -> dt.datetime | None:
        """The first occurrence strictly after `instant`, or None when there is none."""
        if self.recurrence is None:
            return None
        return next(self.occurrences_after(instant), None)
