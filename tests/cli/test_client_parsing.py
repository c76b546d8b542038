"""The client's pure pieces: dates as typed, durations, jrnl's quick syntax, the editor form."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from vibes.cli.client.dates import DateError, humanize, parse_date, parse_duration
from vibes.cli.client.text import from_editable, quick, tags_in, to_editable

BERLIN = ZoneInfo("Europe/Berlin")
# A Thursday, 10:30 in Berlin.
NOW = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("typed", "prefer", "expected"),
    [
        ("yesterday 21:00", "past", at(2, 21)),
        ("tomorrow 9am", "future", at(4, 9)),
        ("today", "past", at(3)),
        ("Tuesday", "past", at(1)),
        ("thursday", "past", at(26, month=11)),
        ("friday 18:00", "future", at(4, 18)),
        ("mon", "future", at(7)),
        ("next monday 8:15", "past", at(7, 8, 15)),
        ("last fri", "future", at(27, month=11)),
        ("2026-11-20 07:00", "past", at(20, 7, month=11)),
        ("in 2h", "future", NOW.astimezone(BERLIN) + dt.timedelta(hours=2)),
        ("3 days ago", "past", NOW.astimezone(BERLIN) - dt.timedelta(days=3)),
        ("2026-06-01T12:00:00Z", "past", dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)),
        # "at 9" after a day is 09:00, not the 9th of the month.
        ("tomorrow at 9", "future", at(4, 9)),
        ("tomorrow at 9:30", "future", at(4, 9, 30)),
        ("yesterday evening", "past", at(2, 19)),
        ("friday at noon", "future", at(4, 12)),
        ("tonight", "future", at(3, 21)),
        ("last week", "past", at(26, month=11)),
        ("next month", "future", dt.datetime(2027, 1, 3, tzinfo=BERLIN)),
    ],
)
def test_dates_as_people_type_them(typed: str, prefer: str, expected: dt.datetime) -> None:
    assert parse_date(typed, tz=BERLIN, prefer=prefer, now=NOW) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("next friday", at(4, 9)),
        ("tomorrow", at(4, 9)),
        ("2026-12-10", at(10, 9)),
        ("friday 18:00", at(4, 18)),
        ("tomorrow evening", at(4, 19)),
        ("in 2h", NOW.astimezone(BERLIN) + dt.timedelta(hours=2)),
    ],
)
def test_a_day_without_a_time_takes_the_time_asked_for(typed: str, expected: dt.datetime) -> None:
    nine = dt.time(9)
    assert parse_date(typed, tz=BERLIN, prefer="future", now=NOW, day_time=nine) == expected


def test_a_day_as_an_upper_bound_means_its_end() -> None:
    end = parse_date("2026-01-10", tz=BERLIN, now=NOW, end_of_day=True)
    assert (end.date(), end.hour, end.minute) == (dt.date(2026, 1, 10), 23, 59)
    assert parse_date("yesterday 21:00", tz=BERLIN, now=NOW, end_of_day=True) == at(2, 21)


@pytest.mark.parametrize("typed", ["", "whenever", "next", "the day after never"])
def test_what_is_not_a_date_says_so(typed: str) -> None:
    with pytest.raises(DateError):
        parse_date(typed, tz=BERLIN, now=NOW)


def test_durations() -> None:
    assert parse_duration("30m") == dt.timedelta(minutes=30)
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration("2 hours") == dt.timedelta(hours=2)
    assert parse_duration("1d") == dt.timedelta(days=1)
    assert parse_duration("45") == dt.timedelta(minutes=45)
    for bad in ("soon", "3 fortnights", "tomorrow 9am"):
        with pytest.raises(DateError):
            parse_duration(bad)


def test_dates_read_relative_to_now_in_the_users_zone() -> None:
    assert humanize("2026-12-03T09:30:20Z", BERLIN, NOW) == "just now"
    assert humanize("2026-12-03T12:00:00Z", BERLIN, NOW) == "today 13:00"
    assert humanize("2026-12-02T20:00:00Z", BERLIN, NOW) == "yesterday 21:00"
    assert humanize("2026-12-04T08:00:00Z", BERLIN, NOW) == "tomorrow 09:00"
    assert humanize("2026-12-07T08:00:00Z", BERLIN, NOW) == "Mon 09:00"
    assert humanize("2026-10-01T08:00:00Z", BERLIN, NOW) == "1 Oct 10:00"
    assert humanize("2025-10-01T08:00:00Z", BERLIN, NOW) == "1 Oct 2025"
    assert humanize("2026-12-03T09:50:00Z", BERLIN, NOW) == "in 20 min"


def test_quick_syntax_title_body_and_tags() -> None:
    draft = quick("Went to the sea. It was cold @sea and @Family-, mail me@example.com.")
    assert draft.title == "Went to the sea"
    assert draft.content == "It was cold @sea and @Family-, mail me@example.com."
    assert draft.tags == ["sea", "Family"]
    assert quick("What a day! Really @x").title == "What a day!"
    assert quick("Line one\nline two").title == "Line one"
    assert quick("Just a title @t").content == ""
    assert tags_in("@a @A @b") == ["a", "b"]
    long = quick("word " * 200)
    assert len(long.title) <= 500
    assert long.content.startswith("word word")


def test_the_editor_form_round_trips_and_refuses_what_it_cannot_read() -> None:
    text = to_editable("T", "Body\n\nmore", date="2026-12-01 10:00", tags=["a", "b"], mood=None)
    form = from_editable(text)
    assert (form.title, form.content, form.date, form.tags, form.mood) == (
        "T",
        "Body\n\nmore",
        "2026-12-01 10:00",
        ["a", "b"],
        None,
    )
    assert from_editable("No front matter. Body @t").tags == ["t"]
    for bad in ("---\ntitle: x\n", "---\ntitle:\n---\n", "---\nmood: high\ntitle: x\n---\n"):
        with pytest.raises(ValueError, match=r"."):
            from_editable(bad)
