"""Engines, sessions, and the declarative base every model shares."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import structlog
import uuid6
from sqlalchemy import JSON, ColumnElement, Date, DateTime, Integer, MetaData, Uuid, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from vibes.config import Settings

_log = structlog.get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so primary-key indexes stay append-mostly."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC instant on both databases.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked UTC on
    the way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an instant is required")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        instant: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        if instant.tzinfo is None:
            return instant.replace(tzinfo=dt.UTC)
        return instant.astimezone(dt.UTC)


class Bound(NamedTuple):
    """A condition written once with named bind parameters, and the values to run it with.

    `clause` carries no values, so statements containing it can be built once and cached;
    pass `params` to the execute call of every statement that contains it (a statement run
    without them fails loudly: a value is required for the bind parameter).
    """

    clause: ColumnElement[bool]
    params: dict[str, Any]


# JSON on SQLite, JSONB (indexable, compact) on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class VersionMixin:
    """`version` starts at 1 and SQLAlchemy bumps it on every UPDATE.

    The UPDATE carries `WHERE version = <loaded>`, so of two writers that read the same
    version exactly one succeeds; the other gets `StaleDataError` (rendered as 412).
    """

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read by the mapper


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" hook below choose how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted or overwritten content is zeroed on its page, not left in free space: a
    # journal entry moved into the vault must not stay readable in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
    # SQLite knows no IANA zones: `local_date` calls this (deterministic, so usable in
    # GROUP BY and indexes).
    sqlite_functions(dbapi_connection)


def sqlite_functions(dbapi_connection: Any, _record: Any = None) -> None:
    """Register the SQL functions Vibes defines on SQLite on a new connection (the app's
    and the migrations'): the triggers that keep per-day figures call `vibes_local_date`."""
    dbapi_connection.create_function(_SQLITE_LOCAL_DATE, 2, _sqlite_local_date, deterministic=True)


_SQLITE_LOCAL_DATE = "vibes_local_date"


def local_day(instant: dt.datetime, zone: str) -> dt.date:
    """THE rule for an entry's day: the calendar date `instant` falls on in the IANA `zone`
    (an entry's own zone where one is known, else its account's). Written with every entry
    (`journals.local_date`); the SQL `local_date` below applies the same rule in bulk."""
    if instant.tzinfo is None:  # as SQLite hands instants back: naive UTC
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(ZoneInfo(zone)).date()


def _sqlite_local_date(stored: str | None, zone: str | None) -> str | None:
    """An instant as SQLite keeps it (naive UTC text) -> 'YYYY-MM-DD' in `zone`."""
    if stored is None or zone is None:
        return None
    try:
        return local_day(dt.datetime.fromisoformat(stored), zone).isoformat()
    except (ValueError, OSError, KeyError):  # an unknown zone or a malformed value
        return None


class local_date(FunctionElement[dt.date]):
    """`local_date(instant, zone)`: the calendar day an instant falls on in an IANA zone,
    computed by the database (PostgreSQL's tz database; on SQLite a Python function
    registered on each connection, giving 'YYYY-MM-DD' text, which `Date` reads back and
    `extract` takes apart), so rows can be grouped by local day."""

    type = Date()
    inherit_cache = True
    name = "local_date"


@compiles(local_date, "postgresql")
def _local_date_postgresql(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    instant, zone = list(element.clauses)
    return (
        f"CAST(timezone({compiler.process(zone, **kw)}, {compiler.process(instant, **kw)}) AS DATE)"
    )


@compiles(local_date, "sqlite")
def _local_date_sqlite(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{_SQLITE_LOCAL_DATE}({compiler.process(element.clauses, **kw)})"


def _sqlite_on_begin(conn: Connection) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE): a deferred one
    # that upgrades later can fail with "database is locked" instead of waiting its turn.
    # Reads ask for no transaction at all (sqlite_begin=None): each statement autocommits.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode:
        conn.exec_driver_sql(f"BEGIN {mode}")


# How long a request waits for a database connection before it fails (500).
POOL_TIMEOUT_SECONDS = 30


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    # As many connections as before (pool_size, plus as many again under load), but all
    # of them kept: QueuePool closes an overflow connection when it comes back, so under
    # sustained load every request past `pool_size` paid for a new server connection
    # (a backend process, TLS negotiation) and its teardown. Opened lazily either way.
    return create_async_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_pre_ping=False,
        pool_recycle=1800,
        # Statement parameters are people's journal text: never in an error or a log line.
        hide_parameters=True,
    )


def _autocommit(engine: AsyncEngine, is_sqlite: bool) -> AsyncEngine:
    if is_sqlite:
        return engine.execution_options(sqlite_begin=None)
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def prepare_sqlite_file(url: str) -> None:
    """Make a SQLite database's files owner-only (0600): they hold every account's data.

    The main file is created here, before SQLite would create it with the umask (0644);
    SQLite gives its -wal and -shm files the main file's mode. Files an earlier version
    left readable by others are tightened, the write-ahead log included. Whoever opens a
    SQLite URL first (the app, the migrations) calls this."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        # Not ours to change (another owner), or gone meanwhile: leave it.
        with contextlib.suppress(OSError):
            mode = os.stat(path + suffix).st_mode
            if mode & 0o077:
                os.chmod(path + suffix, mode & 0o700)


# Set in a write session's `info` by a write that removed public plaintext (an entry moved
# into the vault): once committed, the SQLite write-ahead log, which still holds the old
# page images, is checkpointed into the main file and truncated.
CHECKPOINT_AFTER_COMMIT = "vibes.checkpoint_after_commit"
# session.info key: the ids of the users a transaction wrote for (set by `recording`); the
# request's unit of work bumps their cache generation once it has committed.
WROTE_USERS = "vibes.wrote_users"


# Awaited with the ids of the users a unit of work wrote for, once it has committed.
CommitHook = Callable[[frozenset[uuid.UUID]], Awaitable[None]]


class Database:
    """The primary engine, its replicas, and the session factories built on them.

    `after_commit`: awaited after every committed `session_scope` that wrote something
    of a user's (`WROTE_USERS`, set by `recording`): the process's user cache bump
    (`vibes.platform.usercache`), so that a write from a request, a worker job or the
    CLI makes the users' cached figures stale in every process alike.
    """

    def __init__(self, settings: Settings, *, after_commit: CommitHook | None = None) -> None:
        self.settings = settings
        self.after_commit = after_commit
        self.url = settings.resolved_database_url
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            prepare_sqlite_file(self.url)
        self.engine = make_engine(self.url, pool_size=settings.database_pool_size)
        # Hot reads on the driver connection queue here for a connection, not in the
        # pool: a pool waiter costs a task and a timer (asyncio.wait_for) per attempt,
        # which under 64 concurrent reads took a tenth of the server's CPU.
        self.driver_slots = asyncio.Semaphore(self.engine.pool.size())  # type: ignore[attr-defined]
        write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.is_sqlite
            else self.engine
        )
        # Reads run without BEGIN/COMMIT round trips: one statement, one snapshot.
        read_engine = _autocommit(self.engine, self.is_sqlite)
        # For hot read paths that skip the ORM session: a Core connection, no transaction.
        self.read_engine = read_engine
        self.replica_engines = [
            make_engine(url, pool_size=settings.database_pool_size)
            for url in settings.database_replica_urls
        ]
        self.sessionmaker = async_sessionmaker(write_engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(read_engine, expire_on_commit=False)
        self.replica_sessionmakers = [
            async_sessionmaker(_autocommit(engine, self.is_sqlite), expire_on_commit=False)
            for engine in self.replica_engines
        ]
        self._replica_turn = 0

    def replica_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """A sessionmaker for reads that may lag the primary (round robin over replicas)."""
        if not self.replica_sessionmakers:
            return self.read_sessionmaker
        self._replica_turn = (self._replica_turn + 1) % len(self.replica_sessionmakers)
        return self.replica_sessionmakers[self._replica_turn]

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on any error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            written = frozenset(session.info.pop(WROTE_USERS, ()))
            if written:
                if self.after_commit is None:
                    _log.warning("database_commit_without_cache_bump", users=len(written))
                else:
                    await self.after_commit(written)

    async def checkpoint_wal(self) -> None:
        """SQLite: copy the WAL into the main file and truncate it to zero bytes (outside any
        transaction; best effort, a reader still open makes it a partial checkpoint)."""
        if not self.is_sqlite:
            return
        async with self.read_engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def pools(self) -> list[tuple[str, AsyncEngine]]:
        """The engines whose pools /metrics reports, by name."""
        return [("primary", self.engine)] + [
            (f"replica-{n}", engine) for n, engine in enumerate(self.replica_engines, 1)
        ]

    async def dispose(self) -> None:
        await self.engine.dispose()
        for engine in self.replica_engines:
            await engine.dispose()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
