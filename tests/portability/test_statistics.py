"""A large import leaves the planner's statistics fresh: planned on figures from before
the bulk load, look-ups by lists of ids read whole tables (an export right after a
100,000-entry import took four times as long)."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.factories import AuthedUser
from tests.portability.conftest import import_file
from vibes.db import Database
from vibes.portability import service


def _document(entries: int) -> bytes:
    return orjson.dumps(
        {
            "format": "vibes",
            "version": 1,
            "exported_at": "2026-03-01T00:00:00Z",
            "tags": [],
            "journals": [
                {
                    "id": str(uuid.uuid4()),
                    "title": f"Entry {i}",
                    "content": "Words.",
                    "entry_date": "2026-01-02T08:30:00Z",
                    "tags": ["a"],
                    "mood_rating": None,
                    "secret_tag": None,
                    "created_at": "2026-01-02T08:30:00Z",
                    "updated_at": "2026-01-02T08:30:00Z",
                }
                for i in range(entries)
            ],
            "reminders": [],
            "webhooks": [],
        }
    )


async def _analyzed(database: Database) -> dict[str, int]:
    """How often each table was analyzed by hand (ANALYZE, never autovacuum)."""
    async with database.engine.connect() as conn:
        rows = await conn.execute(text("SELECT relname, analyze_count FROM pg_stat_user_tables"))
        return {str(row[0]): int(row[1]) for row in rows}


async def test_a_large_import_analyzes_the_tables_it_filled(
    client: httpx.AsyncClient,
    database: Database,
    alice: AuthedUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite gathers no statistics: its planner goes by the indexes")
    monkeypatch.setattr(service, "ANALYZE_FROM", 3)
    before = await _analyzed(database)
    response = await import_file(client, alice.headers, "vibes", _document(2))
    assert response.status_code == 200, response.text
    assert await _analyzed(database) == before  # a small import: nothing

    response = await import_file(client, alice.headers, "vibes", _document(3))
    assert response.status_code == 200, response.text
    after = await _analyzed(database)
    for table in ("journals", "journal_tags", "imported_objects", "changes"):
        assert after[table] == before[table] + 1, table
    assert after["users"] == before["users"]
