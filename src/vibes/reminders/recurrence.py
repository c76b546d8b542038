"""Recurrence: RFC 5545 RRULEs (python-dateutil) expanded on local wall time in an IANA zone.

Occurrences are computed on naive local times and only then turned into UTC instants, so
"every day at 21:00" in Europe/Berlin is 21:00 local on both sides of a DST change (20:00
UTC in winter, 19:00 UTC in summer), which an expansion in UTC would get wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr

SHORTHANDS = {
    "daily": "FREQ=DAILY",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekends": "FREQ=WEEKLY;BYDAY=SA,SU",
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
}
# A reminder that fires every second would only flood every channel.
_REFUSED_FREQS = {"SECONDLY"}
_UNTIL_UTC = re.compile(r"^(\d{8}T\d{6})Z$")
# How far back of a local time an expansion starts, so an instant inside a repeated
# (fall-back) hour still finds the occurrence that follows it.
_LOOKBACK = dt.timedelta(hours=3)
# A rule with no occurrence this far ahead counts as finished; it also keeps a rule that
# never matches (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) from scanning until the year 9999.
_HORIZON = dt.timedelta(days=366 * 10)


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
        raise RecurrenceError("FREQ=SECONDLY is not supported; the finest is MINUTELY.")
    # Check it with dateutil now so the error names the fault.
    try:
        _build(text, dt.datetime(2026, 1, 1, 9, 0), ZoneInfo("UTC"))
    except RecurrenceError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RecurrenceError(f"Invalid RRULE {text!r}: {exc}.") from None
    return text


def _build(rule: str, local_start: dt.datetime, zone: ZoneInfo) -> rrule:
    text = SHORTHANDS.get(rule, rule)
    parts = []
    for part in text.split(";"):
        name, _, val = part.partition("=")
        match = _UNTIL_UTC.match(val) if name == "UNTIL" else None
        if match:
            # The expansion runs on naive local time, so a UTC UNTIL becomes local time.
            until = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
            val = to_local(until, zone).strftime("%Y%m%dT%H%M%S")
        parts.append(f"{name}={val}")
    built = rrulestr(";".join(parts), dtstart=local_start, cache=False)
    if not isinstance(built, rrule):  # pragma: no cover - a single RRULE line gives an rrule
        raise RecurrenceError("Give a single RRULE.")
    return built


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
        local_start = to_local(self.remind_at, zone)
        rule = _build(self.recurrence, local_start, zone)
        start = max(to_local(instant, zone) - _LOOKBACK, local_start)
        horizon = start + _HORIZON
        for local in rule.xafter(start, inc=True):
            if local > horizon:
                return
            occurrence = to_instant(local, zone)
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
