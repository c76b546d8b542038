"""Soak: mixed load at a fraction (default 70 %) of measured capacity for N minutes.

    python bench/soak.py --minutes 30                 # PostgreSQL (a private database)
    python bench/soak.py --minutes 2 --sqlite         # the embedded default

Starts `vibes serve` as a subprocess on loopback (one process, its own data folder, rate
limits off), registers accounts and gives each a few entries, then:

1. capacity: a closed loop of `--concurrency` clients sends the mix as fast as answers
   come back for `--capacity-seconds`; the answers per second are the capacity;
2. soak: an open loop sends the same mix at `--fraction` of that rate (requests start on
   schedule whether or not earlier ones have answered, so a slow server shows as latency
   and a backlog, not as a politely slower client) for `--minutes`.

Prints one line per interval: requests, errors (any answer but the expected 2xx, any
transport error or timeout), p50/p99 latency, the server's RSS. At the end: RSS growth
from the first interval to the last, and the spread of the per-interval p99.

The mix (per request): 40 % GET an entry, 15 % list the first page, 10 % list by tag,
10 % full-text search, 10 % create an entry, 5 % PATCH one, 5 % DELETE one (of those this
run created: the data stays about the same size), 5 % list reminders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from serving import (
    API,
    DEFAULT_ADMIN_URL,
    Connection,
    PrivateDatabase,
    VibesServer,
    entry_body,
    make_users,
    percentile,
    when,
)

SEARCH_WORDS = ["harbour", "quiet", "garden rain", "walk*", "coffee -letter"]


@dataclass
class Account:
    token: str
    entries: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


@dataclass
class Interval:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    examples: dict[str, int] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.errors += 1
        self.examples[what] = self.examples.get(what, 0) + 1


Answer = tuple[int, dict[str, str], bytes]


class Mix:
    def __init__(self, port: int, accounts: list[Account], seed: int, connections: int) -> None:
        self.accounts = accounts
        self.rng = random.Random(seed)
        self.counter = 0
        # A fixed set of keep-alive connections, as a client's pool (or a proxy) keeps them;
        # a request waits for a free one, and that wait counts in its latency.
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(connections):
            self.idle.put_nowait(Connection(port))
        choices: list[tuple[Callable[[Connection, Account], Awaitable[Answer]], int]] = [
            (self.get_entry, 40),
            (self.list_page, 15),
            (self.list_tag, 10),
            (self.search, 10),
            (self.create, 10),
            (self.patch, 5),
            (self.delete, 5),
            (self.reminders, 5),
        ]
        self.operations = [op for op, _ in choices]
        self.weights = [w for _, w in choices]

    async def get_entry(self, conn: Connection, account: Account) -> Answer:
        entry = self.rng.choice(account.entries)
        return await conn.request("GET", f"{API}/journals/{entry}", token=account.token)

    async def list_page(self, conn: Connection, account: Account) -> Answer:
        return await conn.request("GET", f"{API}/journals", token=account.token)

    async def list_tag(self, conn: Connection, account: Account) -> Answer:
        tag = f"tag{self.rng.randrange(8)}"
        return await conn.request("GET", f"{API}/journals?tag={tag}", token=account.token)

    async def search(self, conn: Connection, account: Account) -> Answer:
        query = urlencode({"q": self.rng.choice(SEARCH_WORDS), "type": "journals"})
        return await conn.request("GET", f"{API}/search?{query}", token=account.token)

    async def create(self, conn: Connection, account: Account) -> Answer:
        self.counter += 1
        body = json.dumps(entry_body(self.rng, self.counter)).encode()
        answer = await conn.request("POST", f"{API}/journals", token=account.token, body=body)
        if answer[0] == 201:
            account.created.append(json.loads(answer[2])["id"])
        return answer

    async def patch(self, conn: Connection, account: Account) -> Answer:
        entry = self.rng.choice(account.entries)
        body = json.dumps({"mood_rating": self.rng.randint(1, 10)}).encode()
        path = f"{API}/journals/{entry}"
        return await conn.request("PATCH", path, token=account.token, body=body)

    async def delete(self, conn: Connection, account: Account) -> Answer:
        if not account.created:
            return await self.list_page(conn, account)
        entry = account.created.pop(self.rng.randrange(len(account.created)))
        return await conn.request("DELETE", f"{API}/journals/{entry}", token=account.token)

    async def reminders(self, conn: Connection, account: Account) -> Answer:
        return await conn.request("GET", f"{API}/reminders", token=account.token)

    async def one(self, interval: Interval, patience: float) -> None:
        operation = self.rng.choices(self.operations, self.weights)[0]
        account = self.rng.choice(self.accounts)
        started = time.perf_counter()
        conn = await self.idle.get()
        try:
            # The patience runs from the sending, as a client's timeout does: counted
            # from the schedule, a backlog in this generator would cut off requests the
            # server is already answering, and the wasted work would feed the backlog.
            # The wait for a connection still shows, in the latency.
            async with asyncio.timeout(patience):
                status = (await operation(conn, account))[0]
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            interval.fail(f"{operation.__name__}: {type(exc).__name__}")
            return
        finally:
            self.idle.put_nowait(conn)
        interval.latencies.append(time.perf_counter() - started)
        if not 200 <= status < 300:
            interval.fail(f"{operation.__name__}: {status}")


async def seed(base: str, users: int, entries: int) -> list[Account]:
    tokens = await make_users(base, users)
    rng = random.Random(1)
    accounts = [Account(token) for token in tokens]
    async with httpx.AsyncClient(base_url=base + API, timeout=60) as client:
        for account in accounts:
            body = {"items": [entry_body(rng, i) for i in range(entries)]}
            response = await client.post(
                "/journals/batch",
                json=body,
                headers={"Authorization": f"Bearer {account.token}"},
            )
            response.raise_for_status()
            account.entries = response.json()["ids"]
    return accounts


async def measure_capacity(mix: Mix, concurrency: int, seconds: float, patience: float) -> float:
    interval = Interval()
    deadline = time.perf_counter() + seconds

    async def client_loop() -> None:
        while time.perf_counter() < deadline:
            await mix.one(interval, patience)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    rate = len(interval.latencies) / elapsed
    print(
        f"capacity: {rate:,.0f} req/s with {concurrency} clients in a closed loop "
        f"({len(interval.latencies)} answers, {interval.errors} errors, "
        f"p99 {percentile(interval.latencies, 0.99) * 1000:.0f} ms)",
        flush=True,
    )
    return rate


async def soak(
    mix: Mix,
    server: VibesServer,
    rate: float,
    minutes: float,
    interval_seconds: float,
    patience: float,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pending: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    end = started + minutes * 60
    period = 1 / rate
    sent = 0
    number = 0
    print(
        f"{'interval':>8} {'sent':>7} {'done':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'in flight':>9} {'RSS MB':>7} {'load':>5}",
        flush=True,
    )
    while time.perf_counter() < end:
        number += 1
        interval = Interval()
        boundary = min(end, started + number * interval_seconds)
        sent_before = sent
        while True:
            due = started + sent * period
            if due >= boundary:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(mix.one(interval, patience))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(max(0.0, boundary - time.perf_counter()))
        row = {
            "interval": number,
            "sent": sent - sent_before,
            "done": len(interval.latencies),
            "errors": interval.errors,
            "examples": dict(interval.examples),
            "p50": percentile(interval.latencies, 0.50) * 1000,
            "p99": percentile(interval.latencies, 0.99) * 1000,
            "max": max(interval.latencies, default=float("nan")) * 1000,
            "in_flight": len(pending),
            "rss": server.rss_mb(),
            # The machine's load average: other work slows the server under test too.
            "load": os.getloadavg()[0],
        }
        rows.append(row)
        print(
            f"{number:>8} {row['sent']:>7} {row['done']:>7} {row['errors']:>6} "
            f"{row['p50']:>7.1f} {row['p99']:>7.1f} {row['max']:>7.0f} {row['in_flight']:>9} "
            f"{row['rss']:>7.1f} {row['load']:>5.1f}"
            + (f"  {row['examples']}" if row["errors"] else ""),
            flush=True,
        )
        if not server.alive():
            print("the server died", flush=True)
            break
    if pending:
        await asyncio.wait(pending, timeout=30)
    return rows


def report(rows: list[dict[str, Any]], rate: float, capacity: float) -> int:
    errors = sum(r["errors"] for r in rows)
    sent = sum(r["sent"] for r in rows)
    first, last = rows[0]["rss"], rows[-1]["rss"]
    growth = (last - first) / first * 100
    p99s = [r["p99"] for r in rows]
    print()
    print(
        f"soak: {len(rows)} intervals, {sent:,} requests at {rate:,.0f} req/s target "
        f"({rate / capacity:.0%} of {capacity:,.0f} req/s), {errors} errors"
    )
    print(
        f"RSS: {first:.1f} MB after the first interval, {last:.1f} MB after the last "
        f"({growth:+.1f} %), peak {max(r['rss'] for r in rows):.1f} MB"
    )
    print(
        f"p99 per interval: median {statistics.median(p99s):.1f} ms, min {min(p99s):.1f}, "
        f"max {max(p99s):.1f}; p50 median {statistics.median(r['p50'] for r in rows):.1f} ms"
    )
    return 1 if errors or growth >= 10 else 0


async def run(args: argparse.Namespace, database_url: str | None) -> int:
    server = VibesServer(database_url, VIBES_DATABASE_POOL_SIZE=str(args.pool_size))
    with server:
        print(f"vibes serve on port {server.port}, pool size {args.pool_size}", flush=True)
        accounts = await seed(server.base, args.users, args.entries)
        print(f"{len(accounts)} accounts x {args.entries} entries", flush=True)
        mix = Mix(server.port, accounts, seed=2, connections=args.concurrency)
        await measure_capacity(mix, args.concurrency, 3, args.timeout)  # warm-up
        capacity = await measure_capacity(
            mix, args.concurrency, args.capacity_seconds, args.timeout
        )
        rate = capacity * args.fraction
        print(f"soak at {rate:,.0f} req/s for {args.minutes} min", flush=True)
        rows = await soak(mix, server, rate, args.minutes, args.interval, args.timeout)
        return report(rows, rate, capacity)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--fraction", type=float, default=0.7, help="of measured capacity")
    parser.add_argument("--interval", type=float, default=60, help="seconds per report line")
    parser.add_argument("--capacity-seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--entries", type=int, default=200, help="per user, to start with")
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=10, help="seconds per request")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL server")
    parser.add_argument("--sqlite", action="store_true", help="the embedded default instead")
    args = parser.parse_args()
    # Stopped early (`kill`), it still stops its server and drops its database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(when("start"), flush=True)
    if args.sqlite:
        code = asyncio.run(run(args, None))
    else:
        with PrivateDatabase(args.admin_url, "vibes_soak") as database:
            code = asyncio.run(run(args, database.url))
    print(when("end"), flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
