"""Cached statements on the driver connection: the queue for a connection is bounded."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select
from sqlalchemy.exc import TimeoutError as PoolTimeout

from vibes.db import Database
from vibes.platform import statements

STATEMENT = select(literal(1).label("one"))


async def test_a_hot_read_waits_for_a_connection_no_longer_than_the_pool_would(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.read_engine.dialect.name != "postgresql":
        pytest.skip("the driver path and its queue exist on PostgreSQL only")
    monkeypatch.setattr(statements, "POOL_TIMEOUT_SECONDS", 0.2)
    slots = database.driver_slots
    taken = 0
    while not slots.locked():
        await slots.acquire()
        taken += 1
    try:
        with pytest.raises(PoolTimeout):
            await statements.fetch(database, STATEMENT, {})
    finally:
        for _ in range(taken):
            slots.release()
    rows = await statements.fetch(database, STATEMENT, {})
    assert [row.one for row in rows] == [1]
    assert not slots.locked()
