"""Shared fixtures: every test that takes `app`, `client` or `database` runs once per backend.

Backends: SQLite always (with the in-memory fallbacks); PostgreSQL when
VIBES_TEST_DATABASE_URL is set, together with Redis when VIBES_TEST_REDIS_URL is set.
Each pytest process migrates one private PostgreSQL database (dropped at the end) and one
SQLite template; a test gets a copy of the SQLite file, or the PostgreSQL database emptied.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp

from vibes import migrations
from vibes.app import create_app
from vibes.config import Settings
from vibes.db import Base, Database
from vibes.platform.runtime import app_runtime

T = TypeVar("T")
PG_URL = os.environ.get("VIBES_TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("VIBES_TEST_REDIS_URL") or None

if os.environ.get("CI") and not PG_URL:
    raise pytest.UsageError("CI must set VIBES_TEST_DATABASE_URL: PostgreSQL would go untested")

# The test SMTP servers' per-connection chatter (INFO), logged from their own threads,
# sometimes after pytest closed the stream it captured: tracebacks in the CI log.
logging.getLogger("mail.log").setLevel(logging.WARNING)

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
if REDIS_URL and not PG_URL:
    BACKENDS.append("sqlite-redis")


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "vibes.db"
    run_coroutine(migrations.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


async def create_database(prefix: str) -> str:
    """A new, empty PostgreSQL database on the test server; its URL."""
    assert PG_URL is not None
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    assert PG_URL is not None
    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this pytest process, migrated to head."""
    url = run_coroutine(create_database("vibes_test"))
    try:
        run_coroutine(migrations.upgrade(url))
        yield url
    finally:
        run_coroutine(drop_database(url))


@pytest.fixture
async def empty_database_url(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all, on the test's backend (for migration tests)."""
    if not backend.is_postgres:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = await create_database("vibes_empty")
    try:
        yield url
    finally:
        await drop_database(url)


# Children before parents, one statement list (one round trip, one implicit transaction).
# DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE gives each of the 26 tables
# and their indexes new files, synced at commit: 180-380 ms per test against 23-48 ms
# (bench/README.md, "Test suite"). Both leave the sequences as they are.
_EMPTY_ALL = "; ".join(f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables))


async def truncate_all(url: str) -> None:
    """Every table of the app emptied (alembic_version kept)."""
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(_EMPTY_ALL)
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    name: str = request.param
    if name == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        run_coroutine(truncate_all(url))
        return Backend(name, url, REDIS_URL)
    template: Path = request.getfixturevalue("sqlite_template")
    db_file = tmp_path / "data" / "vibes.db"
    db_file.parent.mkdir()
    shutil.copyfile(template, db_file)
    return Backend(name, f"sqlite+aiosqlite:///{db_file}", REDIS_URL if name != "sqlite" else None)


def make_settings(backend: Backend, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        # A fresh namespace per test: tests share one Redis and never see each other's keys.
        "redis_prefix": f"vibes-test:{uuid.uuid4().hex}:",
        "run_dispatcher": False,
        "database_pool_size": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return make_settings(backend, tmp_path / "data")


def asgi_client(
    app: ASGIApp,
    *,
    base_url: str = "http://testserver",
    client_address: tuple[str, int] = ("127.0.0.1", 123),
    raise_app_exceptions: bool = True,
) -> httpx.AsyncClient:
    """An httpx client talking to `app` in process (no lifespan: the app is running already,
    or needs none). The one place tests build an `ASGITransport`."""
    transport = httpx.ASGITransport(
        app=app, client=client_address, raise_app_exceptions=raise_app_exceptions
    )
    return httpx.AsyncClient(transport=transport, base_url=base_url)


class MakeApp(Protocol):
    """The `make_app` fixture."""

    def __call__(
        self,
        settings: Settings | None = None,
        /,
        *,
        data_dir: Path | None = None,
        configure: Callable[[FastAPI], object] | None = None,
        **overrides: Any,
    ) -> AbstractAsyncContextManager[FastAPI]: ...


class MakeClient(Protocol):
    """The `make_client` fixture."""

    def __call__(
        self,
        app: ASGIApp | None = None,
        /,
        *,
        base_url: str = "http://testserver",
        client_address: tuple[str, int] = ("127.0.0.1", 123),
        raise_app_exceptions: bool = True,
        **app_overrides: Any,
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]: ...


@pytest.fixture
def make_app(backend: Backend, tmp_path: Path) -> MakeApp:
    """`async with make_app(**overrides) as app:` a running app (lifespan started) on the
    test's backend, with `make_settings(backend, tmp_path / "data", **overrides)`, or with
    the given `Settings` (`make_app(settings, **overrides)` updates a copy of them).

    `configure(app)` runs before the lifespan starts (and before the middleware stack is
    built). On the way out: lifespan shutdown, then the app's Redis namespace is emptied.
    Usable several times in a test: several apps side by side, over the same database.
    """

    @asynccontextmanager
    async def running(
        settings: Settings | None = None,
        /,
        *,
        data_dir: Path | None = None,
        configure: Callable[[FastAPI], object] | None = None,
        **overrides: Any,
    ) -> AsyncIterator[FastAPI]:
        if settings is None:
            settings = make_settings(backend, data_dir or tmp_path / "data", **overrides)
        elif overrides or data_dir is not None:
            if data_dir is not None:
                overrides["data_dir"] = data_dir
            settings = settings.model_copy(update=overrides)
        application = create_app(settings)
        if configure is not None:
            configure(application)
        try:
            async with application.router.lifespan_context(application):
                yield application
        finally:
            if settings.redis_url:
                await _clear_redis_namespace(settings)

    return running


@pytest.fixture
def make_client(make_app: MakeApp) -> MakeClient:
    """`async with make_client(**overrides) as c:` a client of a new running app (built by
    `make_app` with these overrides); `make_client(app, ...)` a client of an app that runs
    already (or a bare ASGI app). Client options: `base_url`, `client_address`,
    `raise_app_exceptions`."""

    @asynccontextmanager
    async def connected(
        app: ASGIApp | None = None,
        /,
        *,
        base_url: str = "http://testserver",
        client_address: tuple[str, int] = ("127.0.0.1", 123),
        raise_app_exceptions: bool = True,
        **app_overrides: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        options: dict[str, Any] = {
            "base_url": base_url,
            "client_address": client_address,
            "raise_app_exceptions": raise_app_exceptions,
        }
        if app is not None:
            assert not app_overrides, "settings overrides apply to a new app only"
            async with asgi_client(app, **options) as c:
                yield c
            return
        async with (
            make_app(**app_overrides) as application,
            asgi_client(application, **options) as c,
        ):
            yield c

    return connected


@pytest.fixture
async def app(make_app: MakeApp, settings: Settings) -> AsyncIterator[FastAPI]:
    async with make_app(settings) as application:
        yield application


async def _clear_redis_namespace(settings: Settings) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisDown

    redis = Redis.from_url(settings.redis_url or "")
    try:
        await redis.ping()
    except RedisDown:
        await redis.aclose()
        return  # a test of an unreachable Redis: nothing was stored
    try:
        keys = [key async for key in redis.scan_iter(match=settings.redis_prefix + "*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def client(make_client: MakeClient, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


@pytest.fixture
def database(app: FastAPI) -> Database:
    db: Database = app_runtime(app).database
    return db


def _is_long(item: pytest.Item) -> bool:
    return (
        item.get_closest_marker("slow") is not None
        or item.get_closest_marker("long") is not None
        or "browser" in getattr(item, "fixturenames", ())
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with long tests first, each module kept whole and in its order.

    xdist hands tests out in this order: a minute-long test collected last (the browser
    tests were: tests/web sorts late) kept one core busy while the other had nothing left.
    Started first, the long tests overlap, and the short ones even the two cores out.
    """

    def module(item: pytest.Item) -> object:
        return getattr(item, "module", None)

    long_modules = {id(module(item)) for item in items if _is_long(item)}
    items.sort(key=lambda item: id(module(item)) not in long_modules)


def pytest_report_header(config: pytest.Config) -> list[str]:
    redis = "redis" if REDIS_URL else "in-memory fallbacks only"
    return [f"vibes backends: {', '.join(BACKENDS)} ({redis})"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say how many tests ran on each backend, so a skipped PostgreSQL run shows."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            nodeid: str = report.nodeid
            name = next((b for b in BACKENDS if f"[{b}" in nodeid or f"-{b}]" in nodeid), None)
            if name is None:
                continue
            counts.setdefault(name, {}).setdefault(outcome, 0)
            counts[name][outcome] += 1
    if counts:
        terminalreporter.section("tests per database backend")
        for name in BACKENDS:
            parts = ", ".join(f"{n} {o}" for o, n in sorted(counts.get(name, {}).items()))
            terminalreporter.write_line(f"{name}: {parts or 'none'}")
