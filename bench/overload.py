"""Overload: 256 and 512 concurrent connections on ONE `vibes serve` process.

    python bench/overload.py                          # 256 and 512, 15 s each, PostgreSQL
    python bench/overload.py --connections 512 --env VIBES_MAX_INFLIGHT=1000

Starts `vibes serve` as a subprocess on loopback (its own data folder and PostgreSQL
database, rate limits off), gives four accounts some entries, then for each connection
count: that many clients, each on its own keep-alive connection, send `GET /journals` in
a closed loop for `--seconds`; meanwhile another process opens a new connection every
0.25 s and asks `GET /healthz`. Prints the answers by status (and whether each 503
carried `Retry-After`), client timeouts and connection errors, the latency of the 200s
and of the 503s, the probe's latency (and how many probes got no answer within 5 s), and
whether the server still answers afterwards. The goal: 200s or fast 503s, never a hang,
a dead worker or a health check that stops answering.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

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


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    ok_latency: list[float] = field(default_factory=list)
    shed_latency: list[float] = field(default_factory=list)
    probe_latency: list[float] = field(default_factory=list)
    probe_failures: int = 0


async def _client(port: int, token: str, deadline: float, tally: Tally, patience: float) -> None:
    connection = Connection(port)
    path = API + "/journals"
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(patience):
                status, headers, _ = await connection.request("GET", path, token=token)
        except TimeoutError:
            tally.statuses["timeout"] += 1
            continue
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            tally.statuses[type(exc).__name__] += 1
            await asyncio.sleep(0.1)
            continue
        elapsed = time.perf_counter() - started
        if status == 200:
            tally.ok_latency.append(elapsed)
            tally.statuses["200"] += 1
        elif status == 503:
            tally.shed_latency.append(elapsed)
            retry = "retry-after" in headers
            tally.statuses["503" + ("" if retry else " without Retry-After")] += 1
            if retry:  # a polite client waits as told (capped: a bench must end)
                await asyncio.sleep(min(1.0, float(headers["retry-after"])))
        else:
            tally.statuses[str(status)] += 1
    connection.close()


async def _probe(base: str, seconds: float) -> tuple[list[float], int]:
    """Asks `/healthz` every 0.25 s, each on a new connection (as a load balancer's health
    check does), without waiting for the previous answer: (latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_keepalive_connections=0)

    async def once(client: httpx.AsyncClient) -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            async with asyncio.timeout(5):
                response = await client.get(f"{base}/healthz")
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
                return
        except (TimeoutError, httpx.HTTPError):
            pass
        failures += 1

    async with httpx.AsyncClient(timeout=5, limits=limits) as client:
        tasks = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            tasks.append(asyncio.create_task(once(client)))
            await asyncio.sleep(0.25)
        await asyncio.gather(*tasks)
    return latencies, failures


def probe_process(base: str, seconds: float) -> tuple[list[float], int]:
    # In a process of its own: in the load generator's busy event loop, the probe would
    # measure the generator's delays as much as the server's.
    return asyncio.run(_probe(base, seconds))


def _ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:.0f}" if values else "-"


async def run_level(
    server: VibesServer, tokens: list[str], connections: int, seconds: float, patience: float
) -> None:
    tally = Tally()
    deadline = time.perf_counter() + seconds
    rng = random.Random(connections)
    clients = [
        _client(server.port, rng.choice(tokens), deadline, tally, patience)
        for _ in range(connections)
    ]
    with ProcessPoolExecutor(1) as pool:
        probe = asyncio.get_running_loop().run_in_executor(
            pool, probe_process, server.base, seconds
        )
        await asyncio.gather(*clients)
        tally.probe_latency, tally.probe_failures = await probe
    total = sum(tally.statuses.values())
    print(f"\n{connections} connections, {seconds:.0f} s: {total:,} requests")
    for status, count in sorted(tally.statuses.items()):
        print(f"  {status:<28} {count:>8,}")
    print(
        f"  200 latency p50/p99/max ms   {_ms(tally.ok_latency, 0.5)}/"
        f"{_ms(tally.ok_latency, 0.99)}/{_ms(tally.ok_latency, 1.0)}"
    )
    print(
        f"  503 latency p50/p99/max ms   {_ms(tally.shed_latency, 0.5)}/"
        f"{_ms(tally.shed_latency, 0.99)}/{_ms(tally.shed_latency, 1.0)}"
    )
    print(
        f"  /healthz p50/p99/max ms      {_ms(tally.probe_latency, 0.5)}/"
        f"{_ms(tally.probe_latency, 0.99)}/{_ms(tally.probe_latency, 1.0)}"
        f"  ({len(tally.probe_latency)} answered, {tally.probe_failures} failed or > 5 s)"
    )
    await asyncio.sleep(2)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            after = (await client.get(f"{server.base}/readyz")).status_code
    except httpx.HTTPError as exc:
        after = type(exc).__name__  # type: ignore[assignment]
    print(f"  afterwards: process alive {server.alive()}, /readyz {after}", flush=True)


async def run(args: argparse.Namespace, database_url: str) -> None:
    env = dict(item.split("=", 1) for item in args.env)
    server = VibesServer(database_url, VIBES_DATABASE_POOL_SIZE=str(args.pool_size), **env)
    with server:
        print(f"vibes serve, pool size {args.pool_size}, extra env {env}", flush=True)
        tokens = await make_users(server.base, 4)
        rng = random.Random(3)
        async with httpx.AsyncClient(base_url=server.base + API, timeout=60) as client:
            for token in tokens:
                body = {"items": [entry_body(rng, i) for i in range(50)]}
                headers = {"Authorization": f"Bearer {token}"}
                response = await client.post("/journals/batch", json=body, headers=headers)
                response.raise_for_status()
        for connections in args.connections:
            await run_level(server, tokens, connections, args.seconds, args.timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--timeout", type=float, default=10, help="client timeout, seconds")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL server")
    parser.add_argument(
        "--env", nargs="*", default=[], help="extra VIBES_ settings for the server (K=V)"
    )
    args = parser.parse_args()
    print(when("start"), flush=True)
    with PrivateDatabase(args.admin_url, "vibes_overload") as database:
        asyncio.run(run(args, database.url))
    print(when("end"), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
