"""Read throughput through nginx: one and two `vibes serve` processes, without and with the
streaming replica (issue 18).

    apt-get install -y wrk nginx       # if missing; PostgreSQL server binaries too
    VIBES_TEST_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/cluster.py

Builds the cluster of the cluster test (tests/cluster/cluster.py: a private PostgreSQL
primary, a replica made with `pg_basebackup -R`, nginx, Redis), seeds USERS accounts with
ENTRIES entries each through the API, then for each layout drives nginx with `wrk -t1` for
`--duration` seconds at `--connections` connections, after a warm-up: `GET
/journals/{id}` (the hot fast path) and `GET /journals` (first page), random user and
entry. Prints req/s, latency percentiles, non-2xx answers, the load average, and the CPU
seconds each part used during the run (API processes, nginx, primary, replica, wrk), which
says what limits the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.cluster import Cluster, Process, missing_tools
from tests.events.servers import free_port

API = "/api/v1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

LUA = """\
tokens = {tokens}
entries = {entries}
owners = {owners}
setup = function(thread) thread:set('seed', math.random(1, 1000000)) end
init = function(args) math.randomseed(os.time() + (seed or 0)) end
request = function()
  local i = math.random(#entries)
  local path = {path}
  return wrk.format('GET', path, {{Authorization = 'Bearer ' .. tokens[owners[i]]}})
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'RESULT {{"requests": %d, "duration_us": %d, "errors": %d, ' ..
    '"p50_ms": %.2f, "p99_ms": %.2f}}\\n',
    summary.requests, summary.duration, errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""

PATHS = {
    "get_by_id": "'" + API + "/journals/' .. entries[i]",
    "list_first_page": "'" + API + "/journals?limit=20'",
}


def _lua_array(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def _cpu_by_tree(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each group's processes and their
    descendants (PostgreSQL backends are children of their postmaster)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    found = {}
    for name, pids in roots.items():
        total = 0
        for pid in ticks:
            current = pid
            while current > 1:
                if current in pids:
                    total += ticks[pid]
                    break
                current = parents.get(current, 0)
        found[name] = total / CLOCK_TICKS
    return found


def _roots(cluster: Cluster) -> dict[str, list[int]]:
    roots = {
        "api": [api.process.pid for api in cluster.apis],
        "nginx": [cluster.nginx.process.pid] if cluster.nginx else [],
        "primary": [cluster.primary.process.pid]
        if cluster.primary and cluster.primary.process
        else [],
    }
    if cluster.replica is not None and cluster.replica.process is not None:
        roots["replica"] = [cluster.replica.process.pid]
    return roots


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    process = subprocess.Popen(
        [*command, "-s", str(script), url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["wrk_cpu"] = usage.ru_utime + usage.ru_stime
    return result


async def seed(
    cluster: Cluster, users: int, entries: int
) -> tuple[list[str], list[str], list[int]]:
    from tests.factories import make_session, make_user

    from vibes.accounts.tokens import issue_access_token
    from vibes.config import Settings
    from vibes.db import Database
    from vibes.platform.keys import load_keyring

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=cluster.data_dir, database_url=cluster.primary_url
    )
    keyring = load_keyring(settings)
    database = Database(settings)
    tokens = []
    try:
        for _ in range(users):
            user = await make_user(database)
            auth = await make_session(database, user.id)
            token, _ = issue_access_token(keyring, settings, user_id=user.id, session_id=auth.id)
            tokens.append(token)
    finally:
        await database.dispose()
    ids: list[str] = []
    owners: list[int] = []
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=60) as http:
        for number, token in enumerate(tokens, start=1):
            items = [
                {"title": f"entry {i}", "content": " ".join(rng.choices(WORDS, k=60))}
                for i in range(entries)
            ]
            response = await http.post(
                f"{API}/journals/batch",
                json={"items": items},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            for entry_id in response.json()["ids"]:
                ids.append(entry_id)
                owners.append(number)
    return tokens, ids, owners


WORDS = ["quiet", "harbour", "morning", "coffee", "walk", "rain", "light", "letter", "garden"]


def when(label: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"{label}: load average {one:.2f} {five:.2f} {fifteen:.2f}"


class BenchCluster(Cluster):
    """Four API processes: two read from the primary only, two from the replica; nginx
    listens on one port per layout (1 or 2 processes, primary only or replica), so the
    layouts are measured in turn, round after round, without restarts."""

    LAYOUTS = ("1 API, primary only", "2 API, primary only", "1 API, replica", "2 API, replica")

    def __init__(self, redis_url: str | None, pool_size: int) -> None:
        super().__init__(redis_url=redis_url, apis=4, workers=0, pool_size=pool_size)
        self.ports = {self.LAYOUTS[0]: self.port} | {
            layout: free_port() for layout in self.LAYOUTS[1:]
        }

    def replica_for_api(self, index: int) -> bool:
        return index >= 2

    def sites(self) -> dict[int, list[Process]]:
        groups = [self.apis[:1], self.apis[:2], self.apis[2:3], self.apis[2:4]]
        return {
            self.ports[layout]: group for layout, group in zip(self.LAYOUTS, groups, strict=True)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--redis-url", default=os.environ.get("VIBES_TEST_REDIS_URL"))
    args = parser.parse_args()
    if missing := missing_tools():
        sys.exit(f"missing: {', '.join(missing)}")
    cluster = BenchCluster(args.redis_url, args.pool_size)
    try:
        cluster.start()
        tokens, ids, owners = asyncio.run(seed(cluster, args.users, args.entries))
        # Past the seeding writers' read-your-writes window: reads may go to the replica.
        time.sleep(cluster.max_lag_seconds + 3)
        scripts = {}
        for name, path in PATHS.items():
            script = cluster.root / f"{name}.lua"
            script.write_text(
                LUA.format(
                    tokens=_lua_array(tokens),
                    entries=_lua_array(ids),
                    owners="{" + ",".join(map(str, owners)) + "}",
                    path=path,
                )
            )
            scripts[name] = script
        print(when("start"), flush=True)
        print(
            f"{'layout':<22} {'scenario':<16} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'err':>4}"
            "  CPU ms/request api+nginx+primary+replica+wrk = total -> 2-core ceiling; load",
            flush=True,
        )
        for round_number in range(1, args.rounds + 1):
            print(f"-- round {round_number}", flush=True)
            for layout in cluster.LAYOUTS:
                url = f"http://127.0.0.1:{cluster.ports[layout]}"
                for name, script in scripts.items():
                    run_wrk(url, script, args.connections, 2)  # warm-up
                    before = _cpu_by_tree(_roots(cluster))
                    result = run_wrk(url, script, args.connections, args.duration)
                    after = _cpu_by_tree(_roots(cluster))
                    used = {k: after[k] - before.get(k, 0.0) for k in after}
                    used["wrk"] = result["wrk_cpu"]
                    per = {k: 1000 * v / max(1, result["requests"]) for k, v in used.items()}
                    parts = ("api", "nginx", "primary", "replica", "wrk")
                    total = sum(per.get(k, 0.0) for k in parts)
                    split = "+".join(f"{per.get(k, 0.0):.2f}" for k in parts)
                    print(
                        f"{layout:<22} {name:<16} {result['rps']:>7.0f} {result['p50_ms']:>7.1f}"
                        f" {result['p99_ms']:>7.1f} {result['errors']:>4}  {split} = "
                        f"{total:.2f} -> {2000 / total:.0f}/s; {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
        print(when("end"), flush=True)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
