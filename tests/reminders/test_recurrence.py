"""Recurrence on local wall time: DST, shorthands, and the refusals users see."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from vibes.reminders.recurrence import RecurrenceError, Schedule, load_zone, normalize_rule

BERLIN = ZoneInfo("Europe/Berlin")


def _walk(schedule: Schedule, count: int) -> list[dt.datetime]:
    found: list[dt.datetime] = []
    current = schedule.first()
    while current is not None and len(found) < count:
        found.append(current)
        current = schedule.next_after(current)
    return found


@pytest.mark.parametrize(
    ("start_local", "change_day"),
    [
        (dt.datetime(2026, 3, 26, 21, 0), dt.date(2026, 3, 29)),  # CET -> CEST
        (dt.datetime(2026, 10, 22, 21, 0), dt.date(2026, 10, 25)),  # CEST -> CET
    ],
)
def test_daily_21h_in_berlin_stays_21h_local_across_dst(
    start_local: dt.datetime, change_day: dt.date
) -> None:
    start = start_local.replace(tzinfo=BERLIN).astimezone(dt.UTC)
    occurrences = _walk(Schedule(start, "Europe/Berlin", "daily"), 7)
    local = [o.astimezone(BERLIN) for o in occurrences]
    assert all((t.hour, t.minute) == (21, 0) for t in local)
    assert [t.date() for t in local] == [
        start_local.date() + dt.timedelta(days=i) for i in range(7)
    ]
    # The UTC instants shift by an hour on the change day: the expansion was local.
    offsets = {t.date(): t.utcoffset() for t in local}
    assert offsets[change_day - dt.timedelta(days=1)] != offsets[change_day]


def test_rrule_with_byday_and_byhour_runs_on_local_time() -> None:
    start = dt.datetime(2026, 3, 23, 8, 0, tzinfo=BERLIN).astimezone(dt.UTC)  # a Monday
    schedule = Schedule(start, "Europe/Berlin", normalize_rule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=21"))
    local = [o.astimezone(BERLIN) for o in _walk(schedule, 4)]
    assert [(t.strftime("%a"), t.hour) for t in local] == [
        ("Mon", 21),
        ("Wed", 21),
        ("Mon", 21),
        ("Wed", 21),
    ]
    assert local[2].utcoffset() == dt.timedelta(hours=2)


def test_until_in_utc_is_honoured() -> None:
    start = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    rule = normalize_rule("RRULE:freq=daily;until=20260103T090000Z")
    assert rule == "FREQ=DAILY;UNTIL=20260103T090000Z"
    assert len(_walk(Schedule(start, "Europe/Berlin", rule), 10)) == 3


@pytest.mark.parametrize(
    "shorthand", ["daily", "weekdays", "weekends", "weekly", "monthly", "Daily"]
)
def test_shorthands_are_accepted(shorthand: str) -> None:
    rule = normalize_rule(shorthand)
    assert rule == shorthand.lower()
    start = dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC)
    assert len(_walk(Schedule(start, "UTC", rule), 3)) == 3


def test_weekdays_skip_the_weekend() -> None:
    start = dt.datetime(2026, 5, 1, 7, 30, tzinfo=dt.UTC)  # a Friday
    days = [o.strftime("%a") for o in _walk(Schedule(start, "UTC", "weekdays"), 3)]
    assert days == ["Fri", "Mon", "Tue"]


@pytest.mark.parametrize(
    ("rule", "hint"),
    [
        ("FREQ=FORTNIGHTLY", "FREQ"),
        ("every day", "NAME=VALUE"),
        ("BYDAY=MO", "needs FREQ"),
        ("FREQ=DAILY;BYHOUR=25", "hour"),
        ("FREQ=SECONDLY", "SECONDLY"),
        ("FREQ=MINUTELY", "HOURLY"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "DTSTART"),
        ("FREQ=DAILY;DTSTART=20260101T000000", "DTSTART"),
    ],
)
def test_bad_rules_are_refused_with_a_helpful_message(rule: str, hint: str) -> None:
    with pytest.raises(RecurrenceError, match=hint):
        normalize_rule(rule)


@pytest.mark.parametrize(
    "rule", ["FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=-31"]
)
def test_a_rule_that_never_matches_is_refused_without_a_long_search(rule: str) -> None:
    with pytest.raises(RecurrenceError, match="never occurs"):
        normalize_rule(rule)


def test_a_rule_whose_occurrences_ended_has_none_left() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    schedule = Schedule(start, "UTC", normalize_rule("FREQ=DAILY;COUNT=2"))
    assert schedule.next_after(start + dt.timedelta(days=1)) is None
    schedule = Schedule(start, "UTC", normalize_rule("FREQ=DAILY;UNTIL=20260102T000000Z"))
    assert schedule.next_after(start) == start + dt.timedelta(days=1)  # UNTIL is inclusive
    assert schedule.next_after(start + dt.timedelta(days=1)) is None


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "localtime", "../etc/passwd", "", "europe/berlin"]
)
def test_unknown_zones_are_refused(zone: str) -> None:
    with pytest.raises(RecurrenceError, match="IANA"):
        load_zone(zone)


@pytest.mark.parametrize(
    ("rule", "first"),
    [
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", dt.datetime(2044, 2, 29, 9)),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", dt.datetime(2044, 2, 29, 9)),
        ("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=9", dt.datetime(2044, 2, 29, 9)),
        ("FREQ=DAILY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", dt.datetime(2112, 2, 29, 9)),
    ],
)
def test_a_rule_that_occurs_rarely_is_accepted_and_found(rule: str, first: dt.datetime) -> None:
    start = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    schedule = Schedule(start, "UTC", normalize_rule(rule))
    assert schedule.first() == first.replace(tzinfo=dt.UTC)
    assert schedule.next_after(first.replace(tzinfo=dt.UTC)) is not None


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;INTERVAL=24;BYHOUR=5",
        "FREQ=DAILY;INTERVAL=7;BYDAY=TU",
        "FREQ=DAILY;BYWEEKNO=53;BYMONTH=1;BYDAY=TH;BYMONTHDAY=1",
        "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30,31",
    ],
)
def test_rules_that_never_occur_have_no_occurrence(rule: str) -> None:
    """Found by a search bounded by the calendar's 400-year cycle (cheap: a yearly
    pre-filter of candidate days), not by a count of hourly or daily steps."""
    schedule = Schedule(dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC), "UTC", rule)
    assert schedule.first() is None
