"""Prometheus metrics: the registry, what an operator watches, and the `/metrics` route.

One registry per process: each `vibes serve` / `vibes worker` process is its own scrape
target (one port each, as `deploy/` runs them), so figures add up across targets in
Prometheus without a shared file directory.

Except under `vibes serve --workers N`, where N processes answer on one port and a scrape
reaches any one of them: there prometheus_client's multiprocess mode keeps every process's
figures in files of one folder (`PROMETHEUS_MULTIPROC_DIR`, set by serve before the workers
start), and /metrics reads them all: counters and histograms summed over every worker that
ever ran in that serve, gauges by their `multiprocess_mode` over the live ones. The pools,
read at scrape time in one process, are then sampled into gauges by each worker instead
(`sample_pools`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event

HTTP_REQUESTS = Counter(
    "vibes_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "vibes_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# The dispatcher's figures: how late events reach each channel, how deliveries end, and
# how much work is waiting.
DISPATCH_LAG = Histogram(
    "vibes_dispatch_lag_seconds",
    "From the instant an event was due (a reminder's fire time) to its delivery",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 3600),
)
DELIVERIES = Counter(
    "vibes_deliveries_total",
    "Delivery attempts by channel and outcome",
    ["channel", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "vibes_dispatch_queue_depth",
    "Work waiting for the dispatcher: due reminders, undispatched events, pending deliveries",
    ["queue"],
    # One worker of a serve runs the dispatcher at a time: its latest measure is the depth.
    multiprocess_mode="livemostrecent",
)


# The database: statement time by kind (select, insert, update, delete, other), and the
# connection pools, read at scrape time (see `watch_pools`).
DB_STATEMENT_SECONDS = Histogram(
    "vibes_db_statement_duration_seconds",
    "Time of one database statement, by kind",
    ["kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
_STATEMENT_KINDS = {"SELECT": "select", "INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}
_statement_children: dict[str, Histogram] = {}


def statement_kind(sql: str) -> str:
    head = sql.lstrip()[:6].upper()
    if head.startswith("WITH"):
        return "with"
    return _STATEMENT_KINDS.get(head, "other")


def observe_statement(kind: str, seconds: float) -> None:
    child = _statement_children.get(kind)
    if child is None:
        child = _statement_children[kind] = DB_STATEMENT_SECONDS.labels(kind)
    child.observe(seconds)


# Caches and limits, as their owners count them.
CACHE_LOOKUPS = Counter(
    "vibes_cache_lookups_total",
    "Cache look-ups by cache and result (hit, miss, unavailable)",
    ["cache", "result"],
)
RATE_LIMITED = Counter(
    "vibes_rate_limited_total", "Requests refused by a rate limit, by limit", ["limit"]
)
REDIS_DEGRADED = Gauge(
    "vibes_redis_degraded",
    "1 while a Redis-backed feature runs on its in-process fallback (Redis unreachable)",
    ["feature"],
    # Any worker of a serve on its fallback makes the deployment degraded.
    multiprocess_mode="livemax",
)
# Security signals: a rising rate is an attack or a broken client.
LOGIN_FAILURES = Counter(
    "vibes_login_failures_total",
    "Sign-ins refused, by reason (credentials, second_factor, rate_limited)",
    ["reason"],
)
UNLOCK_FAILURES = Counter(
    "vibes_unlock_failures_total",
    "Secret-tag unlocks refused, by reason (phrase, rate_limited)",
    ["reason"],
)
# Product activity an operator sizes the system by.
SYNC_PULLS = Counter("vibes_sync_pulls_total", "Sync pages served, by outcome", ["outcome"])
SYNC_CHANGES = Counter("vibes_sync_changes_total", "Changes sent by sync pulls")
IMPORTS = Counter("vibes_imports_total", "Imports by format and outcome", ["format", "outcome"])
IMPORTED_ENTRIES = Counter("vibes_imported_entries_total", "Entries created by imports")


class _PoolCollector(Collector):
    """Connection pools read when scraped: connections in use, idle, and requests waiting
    for one (SQLAlchemy's queue, and the hot reads' own queue)."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, database: Any) -> None:
        self._sources.add(database)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            "vibes_db_pool_connections_in_use", "Pooled connections checked out", labels=["pool"]
        )
        idle = GaugeMetricFamily(
            "vibes_db_pool_connections_idle", "Pooled connections open and free", labels=["pool"]
        )
        waiting = GaugeMetricFamily(
            "vibes_db_pool_waiting", "Requests waiting for a pooled connection", labels=["pool"]
        )
        for database in list(self._sources):
            for name, engine in database.pools():
                pool = engine.pool
                in_use.add_metric([name], pool.checkedout())
                idle.add_metric([name], pool.checkedin())
                waiting.add_metric([name], pool_waiters(pool))
            slots = getattr(database, "driver_slots", None)
            if slots is not None:
                waiting.add_metric(["hot-reads"], len(getattr(slots, "_waiters", None) or ()))
        yield in_use
        yield idle
        yield waiting


def pool_waiters(pool: Any) -> int:
    """Tasks waiting in SQLAlchemy's async queue pool (its asyncio.Queue's getters)."""
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    return len(getattr(queue, "_getters", None) or ())


_pools = _PoolCollector()
REGISTRY.register(_pools)

# The same figures as gauges, for multiprocess mode (see the module), summed over workers.
_POOL_GAUGES = (
    Gauge(
        "vibes_db_pool_connections_in_use",
        "Pooled connections checked out",
        ["pool"],
        registry=None,
        multiprocess_mode="livesum",
    ),
    Gauge(
        "vibes_db_pool_connections_idle",
        "Pooled connections open and free",
        ["pool"],
        registry=None,
        multiprocess_mode="livesum",
    ),
    Gauge(
        "vibes_db_pool_waiting",
        "Requests waiting for a pooled connection",
        ["pool"],
        registry=None,
        multiprocess_mode="livesum",
    ),
)
POOL_SAMPLE_SECONDS = 1.0


async def sample_pools(stop: asyncio.Event) -> None:
    """Multiprocess mode: write this process's pool figures into the shared gauges every
    `POOL_SAMPLE_SECONDS` (a scrape reaches one worker, which cannot read the others')."""
    in_use, idle, waiting = _POOL_GAUGES
    while not stop.is_set():
        for family in _pools.collect():
            gauge = {
                "vibes_db_pool_connections_in_use": in_use,
                "vibes_db_pool_connections_idle": idle,
                "vibes_db_pool_waiting": waiting,
            }[family.name]
            for sample in family.samples:
                gauge.labels(sample.labels["pool"]).set(sample.value)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POOL_SAMPLE_SECONDS):
                await stop.wait()


def _statement_started(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    conn.info["vibes.statement_started"] = time.perf_counter()


def _statement_ended(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    started = conn.info.pop("vibes.statement_started", None)
    if started is not None:
        observe_statement(statement_kind(statement), time.perf_counter() - started)


def instrument(database: Any) -> None:
    """Report `database.pools()` on /metrics for as long as the database lives, and time
    every statement its engines run (the hot reads time their own)."""
    _pools.watch(database)
    for _, engine in database.pools():
        sync_engine = engine.sync_engine
        if not event.contains(sync_engine, "before_cursor_execute", _statement_started):
            event.listen(sync_engine, "before_cursor_execute", _statement_started)
            event.listen(sync_engine, "after_cursor_execute", _statement_ended)


# The labelled children per (method, route, status): `labels()` takes a lock and builds
# its key on every call, which costs more than the observation itself. Bounded by the
# routes the app declares ("unmatched" covers every unknown path) times the methods and
# statuses they answer (httptools only parses standard methods): no more series than
# the labelled metrics themselves already hold.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def multiprocess_mode() -> bool:
    """Whether this process's metrics live in the shared folder (prometheus_client chose
    so at import, from the environment serve gave the worker)."""
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def process_exiting() -> None:
    """A worker stopping: its live gauges leave the sums (the parent sweeps after a
    worker that died without getting here, see `vibes.cli.server`)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint() -> Response:
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
