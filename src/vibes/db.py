"""Engines, sessions, and the declarative base every model shares."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import structlog
import uuid6
from sqlalchemy import JSON, ColumnElement, Date, DateTime, Integer, MetaData, Uuid, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, UOWTransaction, mapped_column
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


class AiosqliteDialect(SQLiteDialect_aiosqlite):
    """SQLAlchemy's aiosqlite dialect, except how a connection thrown away mid-statement
    is closed: by a task of its own, which outlives the connection's thread.

    A statement's task cancelled halfway (Starlette cancels a stream when its client
    leaves; anyio then cancels every await after it) has its connection terminated.
    SQLAlchemy's terminate starts a graceful `close()` in a shielded task, is cancelled
    while it waits for it, and stops the connection's thread meanwhile; the close then
    waited for that thread forever (aiosqlite 0.22), and a task no cancel can end hangs
    the event loop's close: a server's shutdown, a test's teardown (CI's timeouts). And
    the thread answers every call on the loop that made it, once the statement it runs
    is done: if that loop has closed by then, the thread raises. So the close here is
    queued behind the statement in a task that, cancelled or not, ends only once the
    thread has: the loop's close waits for it (as long as the statement takes)."""

    supports_statement_cache = True  # compiles as its parent does

    def do_terminate(self, dbapi_connection: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the garbage collector's call, with no loop to answer on
            dbapi_connection._terminate_force_close()
            return
        closing = loop.create_task(_close_for_good(dbapi_connection._connection))
        _CLOSING.add(closing)  # the loop keeps only a weak reference to a task
        closing.add_done_callback(_closed)


async def _close_for_good(connection: Any) -> None:
    """Close an aiosqlite connection, then wait for its thread to end, through cancels."""
    try:
        await connection.close()
    except ValueError:  # closed already (as SQLAlchemy's own close allows)
        pass
    finally:
        thread = connection._thread
        if thread.is_alive():  # its stop is queued by now: it ends after the statement
            ended = asyncio.get_running_loop().run_in_executor(None, thread.join)
            while not ended.done():
                # Cancelled again (a shutdown cancels what is left): keep waiting, or
                # the loop closes before the thread's last answer reaches it.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(ended)


_CLOSING: set[asyncio.Task[None]] = set()


def _closed(task: asyncio.Task[None]) -> None:
    _CLOSING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _log.warning("sqlite_close_failed", error=type(task.exception()).__name__)


registry.register("sqlite.vibes_aiosqlite", __name__, "AiosqliteDialect")


def _sqlite_driver(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername != "sqlite+aiosqlite":
        return url
    return parsed.set(drivername="sqlite+vibes_aiosqlite").render_as_string(hide_password=False)


# How long a request waits for a database connection before it fails (500).
POOL_TIMEOUT_SECONDS = 30


def make_engine(
    url: str, *, pool_size: int = 10, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            _sqlite_driver(url),
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
        connect_args=connect_args or {},
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
# session.info key: the ids of the users whose rows a transaction's flushes inserted,
# changed or deleted (a `user_id` column, or the user row itself): with WROTE_USERS, who
# must read from the primary for a while once it has committed (read-your-writes).
FLUSHED_USERS = "vibes.flushed_users"
# session.info key: the transaction queued an outbox event (set by `recording`); once it
# has committed, the dispatchers are woken (`Database.wake`) instead of waiting a poll.
QUEUED_EVENTS = "vibes.queued_events"


class WriteSession(Session):
    """The session class of write units of work (see FLUSHED_USERS)."""


@event.listens_for(WriteSession, "after_flush")
def _note_flushed_users(session: Session, _flush: UOWTransaction) -> None:
    found: set[uuid.UUID] | None = None
    for obj in (*session.new, *session.dirty, *session.deleted):
        owner = getattr(obj, "user_id", None)
        if owner is None and getattr(obj, "__tablename__", None) == "users":
            owner = getattr(obj, "id", None)
        if isinstance(owner, uuid.UUID):
            if found is None:
                found = session.info.setdefault(FLUSHED_USERS, set())
            found.add(owner)


def note_writer(session: AsyncSession, user_id: uuid.UUID) -> None:
    """`user_id` reads from the primary for a while once this unit of work commits
    (read-your-writes), though it flushed nothing of theirs (an idempotent replay)."""
    session.info.setdefault(FLUSHED_USERS, set()).add(user_id)


log = logging.getLogger("vibes.db")

# How often each process checks its replicas (reachable, how far behind), and how long a
# connection to one may take: a replica that hangs must not hold a request for long.
REPLICA_CHECK_SECONDS = 1.0
REPLICA_CONNECT_TIMEOUT_SECONDS = 2.0

_PRIMARY_POSITION = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint"
# Where a replica is: the WAL position it has replayed up to. A server that is not in
# recovery (a primary standing in as its own replica, in tests) is where it writes.
_REPLICA_POSITION = (
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
    " ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn)::bigint"
)


class Replica:
    """A read replica: its engine and pool, and whether reads may go to it now.

    Usable once a check found it reachable and at most `max_lag` seconds behind; a check
    every `REPLICA_CHECK_SECONDS` (`Database.watch_replicas`, in the background, never
    per request) keeps that up to date, and a read that fails on it takes it out at once.

    How far behind: each check notes the primary's flushed WAL position with the time;
    a replica that has replayed up to position P has everything the primary had when it
    was at P, so its staleness is at most the time since the newest noted position it
    has reached (no clock shared between servers needed; an idle primary does not make
    a replica look behind).
    """

    def __init__(self, url: str, *, pool_size: int, max_lag: float) -> None:
        self.name = make_url(url).render_as_string(hide_password=True)
        self.engine = make_engine(
            url,
            pool_size=pool_size,
            connect_args={
                "timeout": REPLICA_CONNECT_TIMEOUT_SECONDS,
                # A write sent here by mistake fails loudly, whatever the server is.
                "server_settings": {"default_transaction_read_only": "on"},
            },
        )
        self.read_engine = _autocommit(self.engine, False)
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self.driver_slots = asyncio.Semaphore(self.engine.pool.size())  # type: ignore[attr-defined]
        self.max_lag = max_lag
        self.usable = False
        # "ok" (reads go here), "lagging" (up, but too far behind) or "down".
        self.status = "down"
        self.lag_seconds: float | None = None
        self.reason = "not checked yet"
        self._pool_stale = False
        # (monotonic time, primary position): enough to cover twice the lag bound.
        self._positions: deque[tuple[float, int]] = deque(
            maxlen=2 * math.ceil(max_lag / REPLICA_CHECK_SECONDS) + 5
        )

    def failed(self, exc: BaseException) -> None:
        """A read on this replica could not reach it: out until a check finds it back."""
        if self.usable:
            log.warning(
                "replica %s failed a read (%s): reads go elsewhere", self.name, type(exc).__name__
            )
        self.usable = False
        self.status = "down"
        self.reason = f"a read failed ({type(exc).__name__})"
        self._pool_stale = True

    def _set(self, usable: bool, reason: str) -> None:
        if usable != self.usable:
            if usable:
                log.info("replica %s in use (%.1f s behind)", self.name, self.lag_seconds or 0.0)
            else:
                log.warning("replica %s not used: %s", self.name, reason)
                self._pool_stale = True
        self.usable = usable
        self.reason = reason
        self.status = "ok" if usable else "down" if self.lag_seconds is None else "lagging"

    async def check(self, primary_position: int | None, at: float) -> None:
        if primary_position is not None:
            self._positions.append((at, primary_position))
        if self._pool_stale:
            # Connections opened before it went away are dead: never hand one out again.
            self._pool_stale = False
            await self.engine.dispose()
        try:
            async with asyncio.timeout(REPLICA_CONNECT_TIMEOUT_SECONDS):
                async with self.read_engine.connect() as conn:
                    position = (await conn.exec_driver_sql(_REPLICA_POSITION)).scalar()
        except Exception as exc:  # refused, timed out, starting up, shutting down
            self.lag_seconds = None
            self._set(False, f"unreachable ({type(exc).__name__})")
            return
        now = time.monotonic()
        reached = None
        for noted_at, noted in reversed(self._positions):
            if position is not None and noted <= position:
                reached = noted_at
                break
        if reached is None:
            oldest = self._positions[0][0] if self._positions else now
            self.lag_seconds = now - oldest
            self._set(False, f"behind by more than {self.lag_seconds:.1f} s")
            return
        while self._positions and self._positions[0][0] < reached:
            self._positions.popleft()
        self.lag_seconds = now - reached
        if self.lag_seconds > self.max_lag:
            self._set(False, f"{self.lag_seconds:.1f} s behind (bound {self.max_lag:g} s)")
        else:
            self._set(True, "in use")


# The replica this context's reads go to (None: the primary). Set for one request by the
# read router (`vibes.platform.replicas`), the one place that decides; read by
# `Database.read_engine`, `read_sessionmaker` and `driver_slots`.
_READ_FROM: ContextVar[Replica | None] = ContextVar("vibes_read_from", default=None)


# Awaited with the ids of the users a unit of work wrote for, once it has committed.
# (users it wrote for: their cached figures are stale; every user whose rows it touched:
# they read from the primary for a while)
CommitHook = Callable[[frozenset[uuid.UUID], frozenset[uuid.UUID]], Awaitable[None]]


class Database:
    """The primary engine, its replicas, and the session factories built on them.

    `after_commit`: awaited after every committed `session_scope` that wrote something
    of a user's (`WROTE_USERS`, set by `recording`, and `FLUSHED_USERS`): the process's
    user cache bump (`vibes.platform.usercache`), so that a write from a request, a worker
    job or the CLI makes the users' cached figures stale in every process alike, and the
    read-your-writes mark (`vibes.platform.replicas`).
    """

    def __init__(self, settings: Settings, *, after_commit: CommitHook | None = None) -> None:
        self.settings = settings
        self.after_commit = after_commit
        # Called (never awaited) after a commit that queued an outbox event: the
        # process's dispatcher wakeups (`vibes.platform.wakeups`), set by the runtime.
        self.wake: Callable[[], None] | None = None
        self.url = settings.resolved_database_url
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            prepare_sqlite_file(self.url)
        self.engine = make_engine(self.url, pool_size=settings.database_pool_size)
        # Hot reads on the driver connection queue here for a connection, not in the
        # pool: a pool waiter costs a task and a timer (asyncio.wait_for) per attempt,
        # which under 64 concurrent reads took a tenth of the server's CPU.
        self._driver_slots = asyncio.Semaphore(self.engine.pool.size())  # type: ignore[attr-defined]
        write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.is_sqlite
            else self.engine
        )
        # Reads run without BEGIN/COMMIT round trips: one statement, one snapshot.
        read_engine = _autocommit(self.engine, self.is_sqlite)
        self._read_engine = read_engine
        self.replicas = [
            Replica(
                url, pool_size=settings.database_pool_size, max_lag=settings.replica_max_lag_seconds
            )
            for url in settings.database_replica_urls
        ]
        self.sessionmaker = async_sessionmaker(
            write_engine, expire_on_commit=False, sync_session_class=WriteSession
        )
        self._read_sessionmaker = async_sessionmaker(read_engine, expire_on_commit=False)
        self._replica_turn = 0

    # Reads: on the replica chosen for this request (see `_READ_FROM`), else the primary.

    @property
    def read_engine(self) -> AsyncEngine:
        """For hot read paths that skip the ORM session: a Core connection, no transaction."""
        replica = _READ_FROM.get()
        return self._read_engine if replica is None else replica.read_engine

    @property
    def read_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        replica = _READ_FROM.get()
        return self._read_sessionmaker if replica is None else replica.read_sessionmaker

    @property
    def driver_slots(self) -> asyncio.Semaphore:
        replica = _READ_FROM.get()
        return self._driver_slots if replica is None else replica.driver_slots

    def choose_replica(self) -> Replica | None:
        """A usable replica, in turn; None when there is none (read from the primary)."""
        count = len(self.replicas)
        for _ in range(count):
            self._replica_turn = (self._replica_turn + 1) % count
            replica = self.replicas[self._replica_turn]
            if replica.usable:
                return replica
        return None

    @contextmanager
    def reading_from(self, replica: Replica | None) -> Iterator[None]:
        """This context's reads go to `replica` (None: the primary)."""
        assert replica is None or replica in self.replicas
        token = _READ_FROM.set(replica)
        try:
            yield
        finally:
            _READ_FROM.reset(token)

    async def check_replicas(self) -> None:
        """One round of replica checks (see `Replica`)."""
        position = None
        at = time.monotonic()
        try:
            async with asyncio.timeout(REPLICA_CONNECT_TIMEOUT_SECONDS):
                async with self._read_engine.connect() as conn:
                    position = (await conn.exec_driver_sql(_PRIMARY_POSITION)).scalar()
        except Exception as exc:  # the primary is down: nothing to compare with this time
            log.debug("replica check: primary unreachable (%s)", type(exc).__name__)
        await asyncio.gather(*(replica.check(position, at) for replica in self.replicas))

    async def watch_replicas(self, stop: asyncio.Event) -> None:
        """Check the replicas every `REPLICA_CHECK_SECONDS` until `stop` is set (the first
        check is the caller's, before it serves)."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPLICA_CHECK_SECONDS):
                    await stop.wait()
            if stop.is_set():
                return
            try:
                await self.check_replicas()
            except Exception:  # a bug here must not stop the checks (reads go primary)
                log.exception("replica check failed")

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
            if session.info.pop(QUEUED_EVENTS, False) and self.wake is not None:
                self.wake()
            wrote = frozenset(session.info.pop(WROTE_USERS, ()))
            touched = wrote | frozenset(session.info.pop(FLUSHED_USERS, ()))
            if touched:
                if self.after_commit is not None:
                    await self.after_commit(wrote, touched)
                elif wrote:
                    _log.warning("database_commit_without_cache_bump", users=len(wrote))

    async def checkpoint_wal(self) -> None:
        """SQLite: copy the WAL into the main file and truncate it to zero bytes (outside any
        transaction; best effort, a reader still open makes it a partial checkpoint)."""
        if not self.is_sqlite:
            return
        async with self._read_engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def analyze(self, tables: Sequence[str]) -> None:
        """PostgreSQL: take the planner's statistics of these tables again (after a bulk
        load, as PostgreSQL advises; autovacuum gets there only a minute or more later).
        SQLite: nothing (no statistics are gathered there: its planner goes by the
        indexes' shapes alone)."""
        if self.is_sqlite or not tables:
            return
        names = ", ".join('"' + name.replace('"', '""') + '"' for name in tables)
        async with self._read_engine.connect() as conn:
            await conn.exec_driver_sql(f"ANALYZE {names}")

    def pools(self) -> list[tuple[str, AsyncEngine]]:
        """The engines whose pools /metrics reports, by name."""
        return [("primary", self.engine)] + [
            (f"replica-{n}", replica.engine) for n, replica in enumerate(self.replicas, 1)
        ]

    async def dispose(self) -> None:
        await self.engine.dispose()
        for replica in self.replicas:
            await replica.engine.dispose()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
