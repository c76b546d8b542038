"""Where PostgreSQL and SQLite differ in how a write is spelled: one function each.

Every domain writes through these instead of testing the dialect itself, so each
difference is written (and tested on both databases) once.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import orjson
from asyncpg.pgproto.pgproto import UUID as _AsyncpgUUID  # type: ignore[import-untyped]
from sqlalchemy import JSON, Insert, Select, Table, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

T = TypeVar("T", bound=Any)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_conflicts(
    session: AsyncSession,
    table: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    on: Sequence[str],
) -> Insert:
    """`INSERT … ON CONFLICT (on) DO NOTHING` on either database; add `.returning(…)` to
    learn which rows went in (a row that conflicted returns nothing)."""
    module: Any = postgresql if is_postgres(session) else sqlite
    stmt: Insert = (
        module.insert(table).values(list(rows)).on_conflict_do_nothing(index_elements=list(on))
    )
    return stmt


@functools.cache
def _ignoring_conflicts(dialect: str, table: Table, on: tuple[str, ...]) -> Insert:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table).on_conflict_do_nothing(index_elements=list(on))
    return stmt


async def insert_many_ignoring_conflicts(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], *, on: Sequence[str]
) -> None:
    """`insert_ignoring_conflicts` for many rows with the same keys: one statement built
    once per table and executed with the rows, so its compiled form comes from the cache
    (a VALUES list of N rows is compiled anew every time, which for a few hundred rows
    costs more than the round trip)."""
    if rows:
        dialect = "postgresql" if is_postgres(session) else "sqlite"
        await session.execute(_ignoring_conflicts(dialect, table, tuple(on)), rows)


def insert_or_add(
    dialect: str, table: Any, row: Mapping[str, Any], *, on: Sequence[str], add: Mapping[str, Any]
) -> Insert:
    """`INSERT row … ON CONFLICT (on) DO UPDATE SET col = col + n` for each of `add` (the
    existing row's value plus n) on either database; add `.returning(…)` for the result.
    On PostgreSQL the conflicting row stays locked until the transaction ends."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(dict(row))
    updated: Insert = stmt.on_conflict_do_update(
        index_elements=list(on), set_={name: table.c[name] + n for name, n in add.items()}
    )
    return updated


def claim_rows(stmt: Select[T], session: AsyncSession) -> Select[T]:
    """Make a SELECT claim its rows so concurrent workers take disjoint sets.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, rows another worker holds are skipped, not
    waited for. SQLite has no row locks: the write transaction (BEGIN IMMEDIATE) already
    holds the database's single write lock, so only one claimer runs at a time.
    """
    if is_postgres(session):
        return stmt.with_for_update(skip_locked=True)
    return stmt


def lock_rows(stmt: Select[T], session: AsyncSession) -> Select[T]:
    """`FOR UPDATE` on PostgreSQL (waiting, not skipping); SQLite's write lock suffices.

    The rows are read again even when the session already holds them (populate_existing):
    what a writer decides after waiting for the lock must rest on the committed state,
    not on a copy read before the wait.
    """
    return locking(stmt, postgres=is_postgres(session))


def locking(stmt: Select[T], *, postgres: bool) -> Select[T]:
    """`lock_rows` for a statement built once per dialect (cached by the caller)."""
    stmt = stmt.execution_options(populate_existing=True)
    if postgres:
        return stmt.with_for_update()
    return stmt


def copy_uuid(value: uuid.UUID) -> uuid.UUID:
    """`value` as asyncpg's own UUID type (a `uuid.UUID` too), which its COPY encodes
    without calling back into Python (`UUID.bytes`): for an id on every row of a COPY
    (the user's, a tag's)."""
    copied: uuid.UUID = _AsyncpgUUID(value.bytes)
    return copied


def new_ids(
    count: int,
    new: Any = object.__new__,
    put: Any = object.__setattr__,
    unknown: uuid.SafeUUID = uuid.SafeUUID.unknown,
) -> list[uuid.UUID]:
    """`count` UUIDv7s at once (one clock read, one `urandom`), in ascending order:
    the millisecond timestamp, then a 12-bit sequence number, then 62 random bits.

    Each is set as the class's own unpickling does (`UUID.__setstate__`): its `__init__`
    checks every argument form first, which cost more than the rest of making a batch's
    thousands of ids; and set in this loop rather than by a helper per id (a Python call
    each was a fifth of the time)."""
    ms = time.time_ns() // 1_000_000
    tails = struct.unpack(f">{count}Q", os.urandom(8 * count))
    mask = (1 << 62) - 1
    fixed = (0x7 << 76) | (0b10 << 62)  # version 7, RFC 9562 variant
    made: list[uuid.UUID] = [new(uuid.UUID) for _ in range(count)]
    for i, (one, tail) in enumerate(zip(made, tails, strict=True)):
        # A 4097th id moves on to the next millisecond.
        put(one, "int", ((ms + (i >> 12)) << 80) | ((i & 0xFFF) << 64) | fixed | (tail & mask))
        put(one, "is_safe", unknown)
    return made


def uuid_text(value: uuid.UUID) -> str:
    """`str(value)`, for a batch's thousands: orjson writes a `uuid.UUID` in C, about four
    times faster than the class's Python `__str__`. It refuses subclasses (asyncpg's own
    UUID of a fetched row, whose `str` is fast already): those go by `str`."""
    if type(value) is uuid.UUID:
        return orjson.dumps(value)[1:-1].decode()
    return str(value)


# Below this many rows a plain INSERT costs less than COPY (which first reads the
# table's column types: one more round trip).
COPY_FROM = 64


@functools.cache
def insert_statement(table: Table) -> Insert:
    """`INSERT INTO table`, built once: executed with a list of rows (all with the same
    keys) SQLAlchemy finds its compiled form in its cache instead of rebuilding it."""
    return insert(table)


async def bulk_insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction.

    PostgreSQL, from `COPY_FROM` rows: binary COPY on the session's own asyncpg connection
    (same transaction, no per-parameter processing in Python); otherwise a cached Core
    INSERT executed with the rows.
    """
    if not rows:
        return
    if not is_postgres(session) or len(rows) < COPY_FROM:
        await session.execute(insert_statement(table), rows)
        return
    await _copy(await _copy_driver(session), table, rows)


async def _copy_driver(session: AsyncSession) -> Any:
    """The session's own asyncpg connection, inside the session's transaction: COPY must
    not run outside the unit of work, so SQLAlchemy opens it first when it has not."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        await session.execute(select(literal(1)))
    return driver


async def bulk_insert_records(
    session: AsyncSession, table: Table, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """`bulk_insert` of rows given as tuples, in the order of `columns`: on PostgreSQL the
    COPY takes them as they are (no dict per row to build, then to take apart again)."""
    if not records:
        return
    if not is_postgres(session) or len(records) < COPY_FROM:
        await session.execute(
            insert_statement(table), [dict(zip(columns, r, strict=True)) for r in records]
        )
        return
    driver = await _copy_driver(session)
    await driver.copy_records_to_table(table.name, records=records, columns=list(columns))


def _copy_driver_sync(session: Session) -> Any:
    """`_copy_driver` for synchronous code under an `AsyncSession`."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        session.execute(select(literal(1)))
    return driver


def bulk_insert_sync(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """`bulk_insert` for synchronous code that runs under an `AsyncSession` (an ORM
    event hook such as `before_commit`, inside SQLAlchemy's greenlet): the same COPY,
    awaited through SQLAlchemy's bridge, for `COPY_FROM` rows or more."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql" or len(rows) < COPY_FROM:
        session.execute(insert_statement(table), rows)
        return
    driver = _copy_driver_sync(session)
    await_only(_copy(driver, table, rows))


async def _copy(driver: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    for name in [c.name for c in table.columns if isinstance(c.type, JSON) and c.name in columns]:
        rows = [{**row, name: json.dumps(row[name])} for row in rows]
    record_of = operator.itemgetter(*columns)
    records = (
        [record_of(row) for row in rows]
        if len(columns) > 1
        else [(row[columns[0]],) for row in rows]
    )
    await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def bulk_insert_shared(
    session: AsyncSession,
    table: Table,
    rows: list[dict[str, Any]],
    shared: Mapping[str, Any],
) -> None:
    """`bulk_insert` of rows that all hold `shared`'s values too (the owner, the instant
    of the write, a first version).

    PostgreSQL, from `COPY_FROM` rows: one `INSERT … SELECT … FROM unnest(<one array per
    column>)`, each shared value sent once. The driver's binary encoding of a timestamp
    costs more than that of a whole UUID or integer, and a batch's rows repeat two or three
    each: sent as one parameter, they cost nothing per row. Otherwise `bulk_insert` of the
    rows with the shared values in each.
    """
    if not rows:
        return
    if not is_postgres(session) or len(rows) < COPY_FROM:
        await bulk_insert(session, table, [{**row, **shared} for row in rows])
        return
    driver = await _copy_driver(session)
    sql, args = _unnest_insert_args(table, rows, shared)
    await driver.execute(sql, *args)


def bulk_insert_shared_sync(
    session: Session, table: Table, rows: list[dict[str, Any]], shared: Mapping[str, Any]
) -> None:
    """`bulk_insert_shared` for synchronous code under an `AsyncSession` (see
    `bulk_insert_sync`)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql" or len(rows) < COPY_FROM:
        bulk_insert_sync(session, table, [{**row, **shared} for row in rows])
        return
    driver = _copy_driver_sync(session)
    sql, args = _unnest_insert_args(table, rows, shared)
    await_only(driver.execute(sql, *args))


def _unnest_insert_args(
    table: Table, rows: list[dict[str, Any]], shared: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    shared = dict(shared)
    *_, last = rows[0]  # stays an array if all others went: `unnest` needs one
    for name in rows[0]:
        values = [row[name] for row in rows]
        first = values[0]
        # A column holding one object in every row (None, the `now` of the write, an
        # interned kind) is sent once too: each array element costs the driver a few
        # type checks on top of its encoding.
        if all(value is first for value in values) and (columns or name != last):
            shared[name] = first
        elif isinstance(table.c[name].type, JSON):
            # Parsed again by PostgreSQL (jsonb): orjson's compact form reads the same.
            columns[name] = [orjson.dumps(value).decode() for value in values]
        else:
            columns[name] = values
    sql = _unnest_insert(table, tuple(columns), tuple(shared))
    args: list[Any] = list(columns.values())
    for name, value in shared.items():
        is_json = isinstance(table.c[name].type, JSON)
        args.append(orjson.dumps(value).decode() if is_json else value)
    return sql, args


@functools.cache
def _unnest_insert(table: Table, varying: tuple[str, ...], shared: tuple[str, ...]) -> str:
    """`INSERT INTO t (varying…, shared…) SELECT u.varying…, $n… FROM unnest($1::type[],
    …) AS u(varying…)`, built once per table and set of columns (asyncpg then finds it
    prepared in its statement cache). JSON travels as text and is cast."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def sql_type(name: str) -> str:
        return str(table.c[name].type.compile(dialect=dialect))

    def is_json(name: str) -> bool:
        return isinstance(table.c[name].type, JSON)

    arrays = ", ".join(
        f"${i}::{'text' if is_json(name) else sql_type(name)}[]"
        for i, name in enumerate(varying, 1)
    )
    selected = [
        f"u.{quoted(name)}" + (f"::{sql_type(name)}" if is_json(name) else "") for name in varying
    ] + [
        f"${i}::" + ("text::" if is_json(name) else "") + sql_type(name)
        for i, name in enumerate(shared, len(varying) + 1)
    ]
    columns = ", ".join(quoted(name) for name in (*varying, *shared))
    return (
        f"INSERT INTO {quoted(table.name)} ({columns}) SELECT {', '.join(selected)} "
        f"FROM unnest({arrays}) AS u({', '.join(quoted(name) for name in varying)})"
    )
