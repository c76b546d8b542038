"""A statement cancelled halfway, as a stream is when its client leaves.

Starlette cancels a streamed answer's task group when the client goes (a HEAD, a closed
tab, a dropped connection); anyio then cancels every await inside it, so the connection
that was running a statement is thrown away mid-flight. What must hold afterwards: the
database serves the next request, and nothing is left behind that a cancel cannot stop
(the event loop's close, at a server's shutdown, cancels what is left and waits for it).
"""

from __future__ import annotations

import asyncio

import anyio
from sqlalchemy import text

from vibes.db import Database

# Long enough to be cancelled halfway: ~a second of work on either database.
_SLOW = {
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000)"
        " SELECT count(*) FROM c"
    ),
    "postgresql": "SELECT pg_sleep(2)",
}


async def _cancelled_halfway(database: Database, statement: str) -> None:
    with anyio.move_on_after(0.2) as scope:
        async with database.read_sessionmaker() as session:
            await session.execute(text(statement))
    assert scope.cancelled_caught, "the statement ended before it could be cancelled"


async def test_a_statement_cancelled_halfway_leaves_nothing_that_outlives_a_cancel(
    database: Database,
) -> None:
    before = asyncio.all_tasks()
    await _cancelled_halfway(database, _SLOW[database.engine.dialect.name])

    async with database.session_scope() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1

    # What the cancel left running (a connection's close) is cancelled, as the loop's
    # close would do, and must then end: one that does not hangs the server's shutdown.
    left = asyncio.all_tasks() - before
    for task in left:
        task.cancel()
    if left:
        _, pending = await asyncio.wait(left, timeout=5)
        assert not pending, [task.get_coro() for task in pending]
