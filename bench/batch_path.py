"""Batch create against the floor: `POST /journals/batch` beside PostgreSQL alone, one run.

    .venv/bin/python bench/batch_path.py --rounds 3 --batches 20
    .venv/bin/python bench/batch_path.py --before <other checkout>/src   # alternated
    .venv/bin/python bench/batch_path.py --py-spy /tmp/profile           # where it goes

A private PostgreSQL database (dropped at the end), four accounts with eight tags each,
and `vibes serve` (one uvicorn process, dispatcher off, pool 4) of this checkout; with
`--before`, a second `vibes serve` of that source tree (`PYTHONPATH`) on the same
database. Each round runs, back to back: `pg_batch_floor.py`'s transactions (the same
rows a batch writes, no application) for as long as the previous phase took, with 2 and
with 4 clients (2 was its best on an idle machine; on a busy one more processes get more
of the cores), then N 1000-entry batches (30-119 words, two of the eight tags each) per
connection over 4 keep-alive connections (one account each, as `load.py`'s batch
scenario) to every server. Per phase: entries/s, the ratio to the better floor of the
same round, and CPU per entry of the server process and of the PostgreSQL backends
serving this database (`/proc/<pid>/stat`, utime + stime). Load
average at start and end: only phases of one run compare.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from pg_batch_floor import floor_rate, scripts_for
from serving import (
    API,
    DEFAULT_ADMIN_URL,
    Connection,
    PrivateDatabase,
    VibesServer,
    _dsn,
    cpu_seconds,
    make_users,
    when,
)

WORDS = ["morning", "walk", "harbour", "coffee", "quiet", "rain", "letter", "garden"]


class Backends:
    """CPU of the PostgreSQL backends connected to one database (pids come and go)."""

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn, self.name = dsn, name
        self.seen: dict[int, float] = {}

    async def _pids(self) -> list[int]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
        finally:
            await conn.close()
        return [r["pid"] for r in rows]

    async def start(self) -> None:
        self.seen = {pid: cpu_seconds(pid) for pid in await self._pids()}

    async def stop(self) -> float:
        pids = set(self.seen) | set(await self._pids())
        return sum(cpu_seconds(pid) - self.seen.get(pid, 0.0) for pid in pids)


def batch_body(rng: random.Random, start: int) -> bytes:
    items = [
        {
            "title": f"Bench entry {start + i}",
            "content": " ".join(rng.choice(WORDS) for _ in range(30 + (i % 90))),
            "tags": rng.sample([f"tag{j}" for j in range(8)], 2),
            "mood_rating": rng.randint(1, 10),
        }
        for i in range(1000)
    ]
    return orjson.dumps({"items": items})


async def post_batches(port: int, tokens: list[str], bodies: list[bytes], n: int) -> float:
    """`n` batches per connection (one account each); returns the wall time."""

    async def worker(token: str) -> None:
        connection = Connection(port)
        for k in range(n):
            status, _, answer = await connection.request(
                "POST", f"{API}/journals/batch", token=token, body=bodies[k % len(bodies)]
            )
            if status != 201:
                raise RuntimeError(f"batch answered {status}: {answer[:300]!r}")
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(token) for token in tokens))
    return time.perf_counter() - started


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid)),
            *("-f", "raw", "-r", "250", "-o", str(out), "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(args: argparse.Namespace, database: PrivateDatabase, servers: dict[str, Any]) -> None:
    rng = random.Random(17)
    first = next(iter(servers.values()))
    tokens = await make_users(first.base, args.connections)
    bodies = [batch_body(rng, 1000 * k) for k in range(4)]
    dsn = _dsn(database.url)
    backends = Backends(dsn, database.name)
    for server in servers.values():  # warm-up: tags made, statements compiled, pools full
        await post_batches(server.port, tokens, bodies, 2)
    conn = await asyncpg.connect(dsn)
    try:
        users = [r["user_id"] for r in await conn.fetch("SELECT DISTINCT user_id FROM tags")]
        # One script per client, each on an account of its own (as many as there are).
        scripts = await scripts_for(conn, [users[i % len(users)] for i in range(4)])
    finally:
        await conn.close()
    await floor_rate(dsn, scripts[:2], 2)  # its warm-up

    print(when("start"), flush=True)
    results: list[tuple[int, str, float, float, float, float]] = []
    duration = 10.0
    for round_ in range(1, args.rounds + 1):
        floors = []
        for clients in args.floor_clients:
            rate, pg = await floor_rate(dsn, scripts[:clients], duration)
            floors.append((rate, f"floor {clients}", pg))
        floor = max(floors)[0]  # the best the database alone did in this round
        for rate, label, pg in floors:
            results.append((round_, label, rate, rate / floor, float("nan"), pg * 1e6))
        for label, server in servers.items():
            spy = None
            if args.py_spy is not None:
                args.py_spy.mkdir(parents=True, exist_ok=True)
                spy = start_py_spy(server.process.pid, args.py_spy / f"{label}-{round_}.txt")
                await asyncio.sleep(1)
            await backends.start()
            cpu = cpu_seconds(server.process.pid)
            wall = await post_batches(server.port, tokens, bodies, args.batches)
            cpu = cpu_seconds(server.process.pid) - cpu
            pg = await backends.stop()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            entries = args.connections * args.batches * 1000
            rate = entries / wall
            duration = wall
            results.append(
                (round_, label, rate, rate / floor, cpu * 1e6 / entries, pg * 1e6 / entries)
            )
        print(when(f"round {round_}"), flush=True)

    print(f"\n{'round':>5} {'phase':<8} {'entries/s':>9} {'/ floor':>7} ", end="")
    print(f"{'server µs':>9} {'PG µs':>6}")
    for round_, label, rate, ratio, server_us, pg_us in results:
        print(f"{round_:>5} {label:<8} {rate:>9,.0f} {ratio:>7.2f} {server_us:>9.0f} {pg_us:>6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20, help="per connection and phase")
    parser.add_argument("--connections", type=int, default=4, help="one account each")
    parser.add_argument(
        "--floor-clients",
        type=int,
        nargs="+",
        default=[2, 4],
        help="client counts of the floor (each round; ratios to the best), at most 4",
    )
    parser.add_argument("--before", help="source tree of the version to compare (its src/)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--py-spy", type=Path, help="record each server (raw stacks) here")
    args = parser.parse_args()
    env = {"VIBES_RUN_DISPATCHER": "false", "VIBES_DATABASE_POOL_SIZE": "4"}
    with PrivateDatabase(args.admin_url, "vibes_bench_batch") as database:
        servers: dict[str, Any] = {}
        try:
            servers["after"] = VibesServer(database.url, **env).__enter__()
            if args.before:
                # The same key ring (data dir), so one account's token works on both.
                shared = str(servers["after"].data_dir)
                servers["before"] = VibesServer(
                    database.url, **env, PYTHONPATH=args.before, VIBES_DATA_DIR=shared
                ).__enter__()
                # Before first in each round, as the older code.
                servers = {"before": servers["before"], "after": servers["after"]}
            asyncio.run(run(args, database, servers))
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
