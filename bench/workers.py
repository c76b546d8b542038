"""`vibes serve --workers N`: one and two worker processes on one port, with wrk (issue 17).

    apt-get install -y wrk                  # if missing
    .venv/bin/python bench/workers.py --duration 10 --rounds 2

A private PostgreSQL database (dropped at the end) and the local Redis under a namespace of
its own (cleared at the end); the bare endpoint (`bare.py`, one uvicorn process, the same
flags) beside it. Seeds USERS accounts with ENTRIES entries each through the API once;
the key ring comes from the environment, so every server of the run accepts the same
tokens. Then, per round, `vibes serve --workers 1` and `--workers 2` in turn (so the two
are measured back to back, several times), each with wrk `-t1` for `--duration` seconds
at `--connections`: the bare endpoint, `GET /journals/{id}` (random user and entry) and
`POST /journals`. Prints req/s, the ratio to the bare endpoint measured just before, the
2-worker/1-worker ratio, p50/p99, non-2xx answers, the server's CPU per request (parent
and workers, from /proc), the RSS of every process, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (
    API,
    LUA_SEEDED,
    PrivateDatabase,
    VibesServer,
    entry_body,
    free_port,
    lua_array,
    run_wrk,
    write_wrk_scripts,
)

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_scripts(
    folder: Path, tokens: list[str], entries: list[tuple[str, int]]
) -> dict[str, Path]:
    rng = random.Random(7)
    common = (
        f"tokens = {lua_array(tokens)}\n"
        f"entries = {lua_array([entry for entry, _ in entries])}\n"
        "owners = {" + ",".join(str(owner + 1) for _, owner in entries) + "}\n" + LUA_SEEDED
    )
    bodies = [json.dumps(entry_body(rng, i)) for i in range(50)]
    scenarios = {
        "bare": "request = function() return wrk.format('GET', '/bare') end\n",
        "get_by_id": (
            "request = function()\n"
            "  local i = math.random(#entries)\n"
            f"  local path = '{API}/journals/' .. entries[i]\n"
            "  return wrk.format('GET', path, {Authorization = 'Bearer ' .. tokens[owners[i]]})\n"
            "end\n"
        ),
        "create": (
            f"bodies = {lua_array(bodies)}\n"
            "request = function()\n"
            "  local headers = {Authorization = 'Bearer ' .. tokens[math.random(#tokens)],\n"
            "    ['Content-Type'] = 'application/json'}\n"
            f"  local body = bodies[math.random(#bodies)]\n"
            f"  return wrk.format('POST', '{API}/journals', headers, body)\n"
            "end\n"
        ),
    }
    return write_wrk_scripts(folder, common, scenarios)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree(root: int) -> list[int]:
    """`root` and its descendants (the serve's parent, its workers, uvicorn's helpers)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat(int(entry))[1])
            except OSError:
                continue
    found = [root]
    for pid in sorted(parents):
        current = parents[pid]
        while current > 1:
            if current == root:
                found.append(pid)
                break
            current = parents.get(current, 0)
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def workers_of(parent: int) -> list[int]:
    found = []
    for pid in tree(parent)[1:]:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def seed(base: str, users: int, entries: int) -> tuple[list[str], list[tuple[str, int]]]:
    password = "workers bench passphrase " + secrets.token_hex(8)
    rng = random.Random(3)
    tokens: list[str] = []
    made: list[tuple[str, int]] = []
    async with httpx.AsyncClient(base_url=base + API, timeout=60) as client:
        for i in range(users):
            email = f"workers{i}-{secrets.token_hex(3)}@example.com"
            (
                await client.post("/auth/register", json={"email": email, "password": password})
            ).raise_for_status()
            login = await client.post("/auth/login", json={"email": email, "password": password})
            login.raise_for_status()
            tokens.append(login.json()["access_token"])
        for owner, token in enumerate(tokens):
            headers = {"Authorization": f"Bearer {token}"}
            body = {"items": [entry_body(rng, n) for n in range(entries)]}
            response = await client.post("/journals/batch", json=body, headers=headers)
            response.raise_for_status()
            made.extend((entry_id, owner) for entry_id in response.json()["ids"])
    return tokens, made


def start(workers: int, url: str, env: dict[str, str]) -> VibesServer:
    server = VibesServer(url, extra_args=["--workers", str(workers)], **env)
    try:
        server.wait_ready()
        deadline = time.monotonic() + 60
        while workers > 1 and len(workers_of(server.process.pid)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.2)
        for _ in range(20):  # both workers past startup: a few answers from either
            httpx.get(f"{server.base}/readyz", timeout=10).raise_for_status()
    except BaseException:
        server.stop()
        raise
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="1 then 2 workers, this many times")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--entries", type=int, default=200, help="per user")
    args = parser.parse_args()

    prefix = f"vibes-bench-workers:{secrets.token_hex(4)}:"
    data_dir = Path(tempfile.mkdtemp(prefix="vibes-bench-workers-"))
    env = {
        "VIBES_REDIS_URL": args.redis_url,
        "VIBES_REDIS_PREFIX": prefix,
        # One key ring for every server of the run: the seeded tokens stay valid.
        "VIBES_DATA_DIR": str(data_dir),
        "VIBES_JWT_KEYS": f"bench:{secrets.token_hex(24)}",
        "VIBES_SECRET_KEY": secrets.token_hex(24),
    }
    bare_port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare:app", "--app-dir", str(ROOT / "bench"),
         "--host", "127.0.0.1", "--port", str(bare_port), "--no-access-log",
         "--log-level", "warning"],
        cwd=ROOT,
    )  # fmt: skip
    bare_url = f"http://127.0.0.1:{bare_port}"
    rows: list[dict[str, Any]] = []
    try:
        with PrivateDatabase(args.admin_url, "vibes_bench_workers") as database:
            print(f"load average at start: {load()}")
            with start(1, database.url, env) as server:
                tokens, entries = asyncio.run(seed(server.base, args.users, args.entries))
            print(f"seeded {len(tokens)} accounts, {len(entries)} entries")
            scripts = write_scripts(data_dir, tokens, entries)
            run_wrk(bare_url, scripts["bare"], args.connections, 2)  # warm-up
            for round_ in range(1, args.rounds + 1):
                for workers in (1, 2):
                    with start(workers, database.url, env) as server:
                        processes = tree(server.process.pid)
                        run_wrk(server.base, scripts["get_by_id"], args.connections, 2)  # warm-up
                        for name in ("get_by_id", "create"):
                            baseline = run_wrk(
                                bare_url, scripts["bare"], args.connections, args.duration
                            )
                            before = cpu_seconds(processes)
                            result = run_wrk(
                                server.base, scripts[name], args.connections, args.duration
                            )
                            used = cpu_seconds(processes) - before
                            rows.append(
                                {
                                    "round": round_,
                                    "workers": workers,
                                    "scenario": name,
                                    "rps": result["rps"],
                                    "bare_rps": baseline["rps"],
                                    "p50_ms": result["p50"] / 1000,
                                    "p99_ms": result["p99"] / 1000,
                                    "non2xx": result["non2xx"] + result["socket_errors"],
                                    "cpu_ms": 1000 * used / max(1, result["requests"]),
                                    "load": load(),
                                }
                            )
                            print_row(rows[-1])
                        parent = server.process.pid
                        rss = [f"parent {rss_mb(parent):.0f}"] + [
                            f"worker {rss_mb(pid):.0f}" for pid in workers_of(parent)
                        ]
                        if workers == 1:
                            rss = [f"process {rss_mb(parent):.0f}"]
                        rss.append(f"bare {rss_mb(bare.pid):.0f}")
                        print(f"    RSS MB ({workers} worker(s)): {', '.join(rss)}")
    finally:
        bare.terminate()
        bare.wait(timeout=15)
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    summarize(rows)


def print_row(row: dict[str, Any]) -> None:
    print(
        f"round {row['round']} workers {row['workers']} {row['scenario']:<10} "
        f"{row['rps']:8.0f} req/s  bare {row['bare_rps']:7.0f}  "
        f"ratio {row['rps'] / row['bare_rps']:.3f}  "
        f"p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:7.1f} ms  non-2xx {row['non2xx']}  "
        f"server CPU {row['cpu_ms']:.2f} ms/req  load {row['load']}",
        flush=True,
    )


def summarize(rows: list[dict[str, Any]]) -> None:
    print("\n2 workers / 1 worker, per round (req/s):")
    for name in ("get_by_id", "create"):
        for round_ in sorted({row["round"] for row in rows}):
            one = next(
                r
                for r in rows
                if r["round"] == round_ and r["workers"] == 1 and r["scenario"] == name
            )
            two = next(
                r
                for r in rows
                if r["round"] == round_ and r["workers"] == 2 and r["scenario"] == name
            )
            print(
                f"  {name:<10} round {round_}: {one['rps']:.0f} -> {two['rps']:.0f} "
                f"(x{two['rps'] / one['rps']:.2f}); vs bare {one['rps'] / one['bare_rps']:.3f} -> "
                f"{two['rps'] / two['bare_rps']:.3f}"
            )
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
