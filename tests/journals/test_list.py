"""Listing entries: order, keyset pages, filters, and a fixed number of statements."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.factories import AuthedUser, journal_read
from tests.journals.conftest import API, create_entry, is_problem
from vibes.db import Database
from vibes.journals.tagnames import tag_key

DAY0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _at(days: int) -> str:
    return (DAY0 + dt.timedelta(days=days)).isoformat()


async def _batch(client: httpx.AsyncClient, user: AuthedUser, items: list[dict[str, Any]]) -> None:
    response = await client.post(
        f"{API}/journals/batch", json={"items": items}, headers=user.headers
    )
    assert response.status_code == 201, response.text


async def _all_pages(
    client: httpx.AsyncClient, user: AuthedUser, query: str = "", limit: int = 7
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        url = f"{API}/journals?limit={limit}{query}"
        if cursor:
            url += f"&cursor={cursor}"
        response = await client.get(url, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(journal_read(item) for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_newest_entry_date_first_across_pages_with_ties(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    # Two entries per day: the id breaks ties, and no entry is skipped or repeated.
    await _batch(
        client,
        alice,
        [{"title": f"e{i}", "content": "c", "entry_date": _at(i // 2)} for i in range(23)],
    )
    items = await _all_pages(client, alice, limit=5)
    assert len(items) == 23
    assert len({i["id"] for i in items}) == 23
    keys = [(i["entry_date"], i["id"]) for i in items]
    assert keys == sorted(keys, reverse=True)


async def test_default_limit_is_20_and_more_than_100_is_422(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await _batch(client, alice, [{"title": f"e{i}", "content": "c"} for i in range(25)])
    first = await client.get(f"{API}/journals", headers=alice.headers)
    assert len(first.json()["items"]) == 20
    assert first.json()["next_cursor"]
    assert is_problem(await client.get(f"{API}/journals?limit=101", headers=alice.headers), 422)
    assert is_problem(await client.get(f"{API}/journals?limit=0", headers=alice.headers), 422)


async def test_page_is_stable_under_concurrent_inserts(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await _batch(
        client, alice, [{"title": f"e{i}", "content": "c", "entry_date": _at(i)} for i in range(6)]
    )
    first = (await client.get(f"{API}/journals?limit=3", headers=alice.headers)).json()
    await create_entry(client, alice, title="newer", entry_date=_at(100))
    await create_entry(client, alice, title="between", entry_date=_at(4))
    second = (
        await client.get(
            f"{API}/journals?limit=3&cursor={first['next_cursor']}", headers=alice.headers
        )
    ).json()
    assert [i["title"] for i in first["items"]] == ["e5", "e4", "e3"]
    assert [i["title"] for i in second["items"]] == ["e2", "e1", "e0"]


@pytest.mark.parametrize("cursor", ["nope", "eyJrIjoiam91cm5hbHMiLCJ2IjpbXX0", "%00"])
async def test_malformed_cursor_is_422_problem(
    client: httpx.AsyncClient, alice: AuthedUser, cursor: str
) -> None:
    response = await client.get(f"{API}/journals?cursor={cursor}", headers=alice.headers)
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_cursor_of_another_list_is_422(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    await create_entry(client, alice, content="fox fox")
    await create_entry(client, alice, content="fox")
    search = await client.get(f"{API}/search?q=fox&limit=1", headers=alice.headers)
    cursor = search.json()["next_cursor"]
    assert cursor
    response = await client.get(f"{API}/journals?cursor={cursor}", headers=alice.headers)
    assert is_problem(response, 422)


async def test_tag_filters_must_all_match_case_insensitively(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, title="both", tags=["Work", "Travel"])
    await create_entry(client, alice, title="work", tags=["work"])
    await create_entry(client, alice, title="none")

    async def titles(query: str) -> list[str]:
        response = await client.get(f"{API}/journals?{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        return sorted(i["title"] for i in response.json()["items"])

    assert await titles("tag=WORK") == ["both", "work"]
    assert await titles("tag=work&tag=travel") == ["both"]
    assert await titles("tag=work&tag=unknown") == []
    assert await titles("tag=unknown") == []
    assert is_problem(await client.get(f"{API}/journals?tag=%20", headers=alice.headers), 422)


async def test_date_and_mood_filters(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    await _batch(
        client,
        alice,
        [
            {"title": f"d{i}", "content": "c", "entry_date": _at(i), "mood_rating": i + 1}
            for i in range(10)
        ],
    )

    async def titles(query: str) -> list[str]:
        response = await client.get(f"{API}/journals?{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        return [i["title"] for i in response.json()["items"]]

    assert await titles("from=2026-01-08") == ["d9", "d8", "d7"]
    # A bare `to` date includes that whole day.
    assert await titles("to=2026-01-02") == ["d1", "d0"]
    assert await titles("from=2026-01-03T12:00:00Z&to=2026-01-04T12:00:00%2B00:00") == [
        "d3",
        "d2",
    ]
    assert await titles("mood_min=4&mood_max=5") == ["d4", "d3"]
    for bad in ("from=yesterday", "to=2026-01-01T00:00:00", "mood_min=0", "mood_max=11"):
        assert is_problem(await client.get(f"{API}/journals?{bad}", headers=alice.headers), 422)


async def test_full_text_filter_matches_title_and_content(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, title="Walk", content="A fox crossed the road.")
    await create_entry(client, alice, title="Fox den", content="nothing else")
    await create_entry(client, alice, title="Other", content="cats and dogs")

    async def titles(q: str) -> list[str]:
        response = await client.get(f"{API}/journals", params={"q": q}, headers=alice.headers)
        assert response.status_code == 200, response.text
        return sorted(i["title"] for i in response.json()["items"])

    assert await titles("fox") == ["Fox den", "Walk"]
    assert await titles("FOX road") == ["Walk"]
    assert await titles('"fox crossed"') == ["Walk"]
    assert await titles("fox -road") == ["Fox den"]
    assert await titles("cats or road") == ["Other", "Walk"]
    assert await titles("zebra") == []
    # Query syntax characters are just text, never an error.
    assert await titles('"unbalanced AND (NEAR* ^') == []


@asynccontextmanager
async def count_statements(database: Database) -> AsyncIterator[list[str]]:
    """Every statement sent to the database meanwhile, BEGIN/COMMIT included.

    On PostgreSQL counted by the driver itself (asyncpg's query logger on each connection
    checked out of the pool), since the hot reads run on the pooled asyncpg connection
    without SQLAlchemy's execution events; on SQLite by SQLAlchemy's cursor events.
    """
    statements: list[str] = []
    engine = database.engine.sync_engine
    if engine.dialect.name != "postgresql":

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return

    def log(query: Any) -> None:
        statements.append(query.query)

    watched: list[Any] = []

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in watched:
            driver.add_query_logger(log)
            watched.append(driver)

    event.listen(engine, "checkout", checkout)
    try:
        yield statements
        await asyncio.sleep(0)  # the driver reports each query in a loop callback
    finally:
        event.remove(engine, "checkout", checkout)
        for driver in watched:
            driver.remove_query_logger(log)


async def test_a_page_costs_one_statement_whatever_its_size(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    await _batch(
        client,
        alice,
        [{"title": f"e{i}", "content": "c", "tags": [f"t{i % 7}", "all"]} for i in range(60)],
    )
    counts = {}
    for limit in (5, 50):
        async with count_statements(database) as statements:
            response = await client.get(f"{API}/journals?limit={limit}", headers=alice.headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        assert all(len(i["tags"]) == 2 for i in response.json()["items"])
        counts[limit] = [s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]
    assert len(counts[5]) == len(counts[50]) == 1
    async with count_statements(database) as statements:
        filtered = await client.get(f"{API}/journals?limit=50&tag=all&q=c", headers=alice.headers)
    assert filtered.status_code == 200
    assert len(statements) == 1


async def test_get_by_id_is_one_statement_without_a_transaction(
    client: httpx.AsyncClient, alice: AuthedUser, database: Database
) -> None:
    entry = await create_entry(client, alice, tags=["a", "b"])
    async with count_statements(database) as statements:
        response = await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert len(statements) == 1, statements
    assert not any(s.upper().startswith(("BEGIN", "COMMIT")) for s in statements)


async def test_tags_come_in_tag_key_order_on_every_read(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    """Every read gives the names in `tag_key` order, whatever the case or script."""
    names = ["Zeta", "alpha", "Émile", "émile2", "_under", "123", "Straße", "STRASSE-2", "ångström"]
    entry = await create_entry(client, alice, tags=names)
    expected = sorted(names, key=tag_key)
    assert entry["tags"] == expected
    one = await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)
    assert one.json()["tags"] == expected
    page = await client.get(f"{API}/journals", headers=alice.headers)
    assert page.json()["items"][0]["tags"] == expected


@pytest.mark.parametrize(
    "bound",
    [
        "0.5",
        "0.5Z",
        "20260101",
        "20260101T000000Z",
        "2026-W01",
        "2026-001",
        "2026-01-01T10Z",
        "2026-01-01T10:00:00+01",
        "2026-01-01 10:00:00Z",
        "2026-01-01T10:00:00,5Z",
        "+2026-01-01",
        " 2026-01-01",
        "2026-01-01\n",
    ],
)
async def test_date_bounds_that_are_not_rfc_3339_are_422(
    client: httpx.AsyncClient, alice: AuthedUser, bound: str
) -> None:
    # Issue 12: `fromisoformat` reads forms RFC 3339 does not have (`20260101`, week dates,
    # an hour alone, `+01` offsets); the API takes a date-time or a plain date only.
    for name in ("from", "to"):
        response = await client.get(f"{API}/journals", params={name: bound}, headers=alice.headers)
        assert is_problem(response, 422), (name, bound, response.text)
        assert response.json()["errors"][0]["loc"] == ["query", name]


async def test_rfc_3339_date_bounds_are_accepted(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    for bound in (
        "2026-01-01",
        "2026-01-01T10:00:00Z",
        "2026-01-01t10:00:00z",
        "2026-01-01T10:00:00.123456+05:30",
        "2026-01-01T10:00:00-00:00",
    ):
        for name in ("from", "to"):
            response = await client.get(
                f"{API}/journals", params={name: bound}, headers=alice.headers
            )
            assert response.status_code == 200, (name, bound, response.text)


@pytest.mark.parametrize("instant", ["0.5", "1700000000", 0.5, 1700000000])
async def test_numbers_are_not_read_as_unix_time_anywhere(
    client: httpx.AsyncClient, alice: AuthedUser, instant: str | float
) -> None:
    # Issue 12: pydantic reads `0.5` (or "0.5") as a Unix time, 1970-01-01T00:00:00.5Z.
    if isinstance(instant, str):
        for url, name in (
            (f"{API}/search?q=x", "to"),
            (f"{API}/search?q=x", "from"),
            (f"{API}/reminders", "from"),
            (f"{API}/reminders", "to"),
        ):
            response = await client.get(url, params={name: instant}, headers=alice.headers)
            assert is_problem(response, 422), (url, name, response.text)
    created = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "entry_date": instant},
        headers=alice.headers,
    )
    assert is_problem(created, 422), created.text
    reminder = await client.post(
        f"{API}/reminders",
        json={"title": "t", "remind_at": instant, "timezone": "UTC"},
        headers=alice.headers,
    )
    assert is_problem(reminder, 422), reminder.text
    # The same bodies with an RFC 3339 instant are fine.
    for url, body in (
        (f"{API}/journals", {"title": "t", "content": "c", "entry_date": "2026-01-01T10:00:00Z"}),
        (
            f"{API}/reminders",
            {"title": "t", "remind_at": "2099-01-01T10:00:00Z", "timezone": "UTC"},
        ),
    ):
        response = await client.post(url, json=body, headers=alice.headers)
        assert response.status_code == 201, response.text
