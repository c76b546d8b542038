"""A statement cancelled halfway, as a stream is when its client leaves.

Starlette cancels a streamed answer's task group when the client goes (a HEAD, a closed
tab, a dropped connection); anyio then cancels every await inside it, so the connection
that was running a statement is thrown away mid-flight. What must hold afterwards: the
database serves the next request, and the server can still shut down: the event loop's
close (which cancels what is left and waits for it) ends, and no connection's thread
fails after it (it answers on that loop: it must not outlive it).
"""

from __future__ import annotations

import asyncio
import threading

import anyio
from sqlalchemy import text

from vibes.config import Settings
from vibes.db import Database

# Long enough to be cancelled halfway: about a second of work on either database.
_SLOW = {
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000)"
        " SELECT count(*) FROM c"
    ),
    "postgresql": "SELECT pg_sleep(2)",
}


async def _serve_a_cancelled_statement(settings: Settings) -> None:
    database = Database(settings)
    with anyio.move_on_after(0.2) as scope:
        async with database.read_sessionmaker() as session:
            await session.execute(text(_SLOW[database.engine.dialect.name]))
    assert scope.cancelled_caught, "the statement ended before it could be cancelled"
    async with database.session_scope() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    await database.dispose()
    # A shutdown may cancel what is left more than once (the loop's close does it once
    # more): whatever still closes a connection must outlast its thread all the same.
    for _ in range(3):
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
        await asyncio.sleep(0)


def test_a_statement_cancelled_halfway_lets_the_server_shut_down(settings: Settings) -> None:
    failed: list[BaseException | None] = []
    threads_before = set(threading.enumerate())

    def serve() -> None:
        # A server's life on its own event loop; leaving the runner is the loop's close.
        with asyncio.Runner() as runner:
            runner.run(_serve_a_cancelled_statement(settings))

    previous_hook = threading.excepthook
    threading.excepthook = lambda args: failed.append(args.exc_value)
    try:
        server = threading.Thread(target=serve, daemon=True)
        server.start()
        server.join(timeout=30)
        assert not server.is_alive(), "the event loop's close hung"
        for thread in set(threading.enumerate()) - threads_before:
            thread.join(timeout=10)  # the connections' threads, ending after the loop
    finally:
        threading.excepthook = previous_hook
    assert failed == []
