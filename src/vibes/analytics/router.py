"""HTTP routes of the analytics domain: parse, call the service, choose the status code."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, TypeAdapter

from vibes.accounts.dependencies import CurrentPrincipal
from vibes.analytics import service
from vibes.analytics.cache import cached, seconds_left_today
from vibes.analytics.schemas import CalendarDay, Dashboard, Period
from vibes.journals.dependencies import CurrentViewer
from vibes.journals.schemas import JournalRead
from vibes.platform.fields import Day
from vibes.platform.responses import json_response
from vibes.platform.runtime import CurrentRuntime, DbSession

router = APIRouter(tags=["analytics"])

# Years a zone's midnight converts to an instant and back without leaving datetime's range.
MIN_YEAR, MAX_YEAR = 1000, 9000
_CALENDAR = TypeAdapter(list[CalendarDay])


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


class OnThisDay(BaseModel):
    date: dt.date
    items: list[JournalRead]


@router.get("/analytics/dashboard", response_model=Dashboard)
async def dashboard(
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    runtime: CurrentRuntime,
    period: Annotated[Period, Query()] = "month",
) -> Response:
    """Totals, streaks and charts over the entries you can see, by local day in your
    account's time zone. A streak is a run of consecutive days with at least one entry;
    the current one is alive while its last day is today or yesterday."""

    async def compute() -> tuple[bytes, int]:
        board = await service.dashboard(db, viewer, period)
        return board.model_dump_json().encode(), seconds_left_today(board)

    return _json(await cached(runtime.user_cache, viewer, f"dashboard:{period}", compute))


@router.get("/analytics/calendar", response_model=list[CalendarDay])
async def calendar(
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    runtime: CurrentRuntime,
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> Response:
    """Each day of `year` (in your time zone) with entries: a year heatmap."""

    async def compute() -> tuple[bytes, int]:
        return _CALENDAR.dump_json(await service.calendar(db, viewer, year)), 3600

    return _json(await cached(runtime.user_cache, viewer, f"calendar:{year}", compute))


@router.get("/analytics/on-this-day", response_model=OnThisDay)
async def on_this_day(
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    date: Annotated[Day | None, Query(description="Defaults to today, your time.")] = None,
) -> Any:
    """Entries written on the same month and day in earlier years, newest first."""
    day, items = await service.on_this_day(db, viewer, date)
    return json_response({"date": day, "items": items})


@router.get(
    "/analytics/export",
    response_model=None,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export(
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
) -> Any:
    """Per-day rows of all time (`date, entries, words, avg_mood`), oldest first."""
    rows = await service.export_days(db, viewer)
    if format == "json":
        return json_response(rows)
    return StreamingResponse(
        service.csv_lines(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="vibes-analytics.csv"'},
    )
