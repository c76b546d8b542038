"""Keyset pagination: opaque cursors, stable pages, limits and malformed cursors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query
from sqlalchemy import select

from tests.factories import make_user
from vibes.db import Database, new_id, utcnow
from vibes.platform.models import AuditLog
from vibes.platform.pagination import (
    InvalidCursor,
    KeyColumn,
    Keyset,
    Page,
    PageParams,
)

LOG = Keyset(
    "probe-log",
    KeyColumn(AuditLog.created_at, dt.datetime),
    KeyColumn(AuditLog.id, uuid.UUID),
)


def test_cursor_round_trips_and_is_opaque() -> None:
    when = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    ident = new_id()
    cursor = LOG.encode([when, ident])
    assert str(ident) not in cursor
    assert LOG.decode(cursor) == [when, ident]


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"k": "other", "v": []}).encode()).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"k": "probe-log", "v": ["yesterday", "x"]}).encode()
        ).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"k": "probe-log", "v": ["2026-11-27T09:00:00+00:00"]}).encode()
        ).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"k": "probe-log", "v": ["2026-11-27T09:00:00", str(uuid.uuid4())]}).encode()
        ).decode(),
        "",
    ],
)
def test_malformed_or_foreign_cursor_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        LOG.decode(cursor)
    assert caught.value.status == 422
    assert caught.value.extra["errors"][0]["loc"] == ["query", "cursor"]


async def _page_all(database: Database, user_id: uuid.UUID, limit: int) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    while True:
        page = PageParams(limit=limit, cursor=cursor)
        async with database.read_sessionmaker() as session:
            rows = (
                await session.scalars(
                    LOG.apply(select(AuditLog).where(AuditLog.user_id == user_id), page)
                )
            ).all()
        items, cursor = LOG.split(rows, page, lambda r: (r.created_at, r.id))
        seen.extend(r.id for r in items)
        if cursor is None:
            return seen


async def test_pages_cover_every_row_once_in_order_with_ties(database: Database) -> None:
    user = await make_user(database)
    base = utcnow().replace(microsecond=0)
    rows = [
        # Several rows share a timestamp: the id breaks the tie.
        AuditLog(user_id=user.id, action="probe", created_at=base - dt.timedelta(seconds=i // 3))
        for i in range(11)
    ]
    async with database.session_scope() as session:
        session.add_all(rows)
    expected = [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]
    for limit in (1, 3, 4, 11, 50):
        assert await _page_all(database, user.id, limit) == expected


async def test_rows_inserted_between_pages_do_not_shift_the_next_page(database: Database) -> None:
    user = await make_user(database)
    base = utcnow() - dt.timedelta(hours=1)
    rows = [
        AuditLog(user_id=user.id, action="probe", created_at=base - dt.timedelta(minutes=i))
        for i in range(6)
    ]
    async with database.session_scope() as session:
        session.add_all(rows)
    page = PageParams(limit=3)
    async with database.read_sessionmaker() as session:
        first = (await session.scalars(LOG.apply(select(AuditLog), page))).all()
    items, cursor = LOG.split(first, page, lambda r: (r.created_at, r.id))
    assert [r.id for r in items] == [r.id for r in rows[:3]]
    # A newer row arrives while the client reads page one.
    async with database.session_scope() as session:
        session.add(AuditLog(user_id=user.id, action="probe", created_at=utcnow()))
    second_page = PageParams(limit=3, cursor=cursor)
    async with database.read_sessionmaker() as session:
        second = (await session.scalars(LOG.apply(select(AuditLog), second_page))).all()
    items, cursor = LOG.split(second, second_page, lambda r: (r.created_at, r.id))
    assert [r.id for r in items] == [r.id for r in rows[3:]]
    assert cursor is None


def test_mixed_direction_keyset_uses_expanded_comparison() -> None:
    keyset = Keyset(
        "mixed",
        KeyColumn(AuditLog.action, str, descending=False),
        KeyColumn(AuditLog.id, uuid.UUID),
    )
    sql = str(keyset.after(["a", uuid.uuid4()]))
    assert " OR " in sql


@pytest.fixture
def probe_app(app: FastAPI) -> FastAPI:
    @app.get("/_probe/page")
    async def probe(page: Page, tag: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        if page.cursor is not None:
            LOG.decode(page.cursor)
        return {"limit": page.limit, "cursor": page.cursor}

    return app


async def test_limit_defaults_to_20_and_is_capped_at_100(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/_probe/page")).json()["limit"] == 20
    assert (await client.get("/_probe/page?limit=100")).json()["limit"] == 100
    for bad in ("0", "101", "-1", "ten"):
        response = await client.get(f"/_probe/page?limit={bad}")
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_bad_cursor_is_422_problem(probe_app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get("/_probe/page?cursor=garbage")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]
