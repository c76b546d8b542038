"""Cached read statements run straight on the pooled driver connection.

Hot reads build their statement once per *shape* (what changes the SQL, never the values)
with named bind parameters, and run it in autocommit mode without a transaction. On
PostgreSQL the statement is compiled once for asyncpg and executed on the asyncpg
connection checked out of SQLAlchemy's pool: no `Connection` object, no execution events,
no per-checkout isolation switch, which together cost more CPU than the database needs
for a primary-key lookup. The statement, its parameters and the pool are the same ones
SQLAlchemy would use. Elsewhere (SQLite), a Core connection on `Database.read_engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import namedtuple
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from vibes.db import POOL_TIMEOUT_SECONDS, Database
from vibes.platform import metrics

_PG_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=1024)
def _compiled(statement: Select[Any]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """`statement` (a cached object) compiled for asyncpg: its SQL, the names of its
    positional parameters, and the values of the constants in it."""
    compiled = statement.compile(dialect=_PG_DIALECT)
    constants = {name: bind.value for name, bind in compiled.binds.items()}
    return str(compiled), tuple(compiled.positiontup or ()), constants


@contextlib.asynccontextmanager
async def _slot(database: Database) -> AsyncIterator[None]:
    """A place in the queue for a pooled connection, given up after the pool's own
    timeout with the pool's own error: the queue moved here, not the limit."""
    slots = database.driver_slots
    try:
        if slots.locked():  # only a wait needs a timer (acquiring a free slot never waits)
            async with asyncio.timeout(POOL_TIMEOUT_SECONDS):
                await slots.acquire()
        else:
            await slots.acquire()
    except TimeoutError:
        raise PoolTimeout(
            f"no database connection free within {POOL_TIMEOUT_SECONDS} s (hot reads)"
        ) from None
    try:
        yield
    finally:
        slots.release()


@functools.lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> Any:
    # Attribute access like SQLAlchemy's Row, so callers take either.
    return namedtuple("ReadRow", names)


async def fetch(
    database: Database, statement: Select[Any], params: dict[str, Any], *, driver: bool = True
) -> Sequence[Any]:
    """Run a cached read statement (built once, e.g. under `functools.lru_cache`) with
    `params` for its named bind parameters. `driver=False` for a statement whose SQL
    is only known per call (an expanding IN list): it runs through SQLAlchemy."""
    engine: AsyncEngine = database.read_engine
    if driver and engine.dialect.name == "postgresql":
        sql, names, constants = _compiled(statement)
        values = {**constants, **params}
        args = [values[name] for name in names]
        async with _slot(database):
            pooled = await engine.raw_connection()
            try:
                connection = pooled.driver_connection
                assert connection is not None
                started = time.perf_counter()
                records = await connection.fetch(sql, *args)
                metrics.observe_statement("select", time.perf_counter() - started)
            except BaseException:
                # Cancelled or failed mid-statement: never hand the connection to another
                # request in an unknown state.
                await greenlet_spawn(pooled.invalidate)
                raise
            finally:
                # Checked in from a greenlet: the pool may close (await) the connection.
                await greenlet_spawn(pooled.close)
        if not records:
            return []
        row = _row_type(tuple(records[0].keys()))
        return [row(*record) for record in records]
    async with engine.connect() as conn:
        return list((await conn.execute(statement, params)).all())
