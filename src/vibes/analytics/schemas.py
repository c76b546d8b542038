"""Answers of the analytics routes (API.md "Search and analytics")."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

Period = Literal["week", "month", "quarter", "year"]
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class Summary(BaseModel):
    total_journals: int
    total_words: int
    avg_mood: float | None
    writing_streak: int
    longest_streak: int
    most_active_weekday: Weekday | None
    total_reminders: int
    completed_reminders: int


class ActivityPoint(BaseModel):
    date: dt.date
    count: int
    word_count: int


class MoodPoint(BaseModel):
    date: dt.date
    avg_mood: float


class TagShare(BaseModel):
    tag: str
    count: int
    percentage: float


class Charts(BaseModel):
    journal_activity: list[ActivityPoint]
    mood_trend: list[MoodPoint]
    tag_usage: list[TagShare]


class Dashboard(BaseModel):
    """`summary` covers all time (streaks need it); `journal_activity` and `mood_trend`
    cover the period's local days up to today (mood per day for a week or a month, per
    ISO week, dated by its Monday, for a quarter or a year); `tag_usage` is each tag's
    share of all tag uses on visible entries."""

    period: Period
    timezone: str
    today: dt.date
    summary: Summary
    charts: Charts


class CalendarDay(BaseModel):
    date: dt.date
    count: int
    word_count: int
    avg_mood: float | None
