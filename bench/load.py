"""HTTP load test of the journal endpoints with wrk, against a seeded database.

    python bench/seed.py --create          # once: 1,000 users, 1,000,000 entries
    python bench/load.py --duration 10     # then this

Starts, on loopback, a bare FastAPI app returning a constant (the ratio baseline) and
`vibes` itself (one uvicorn process each, uvloop + httptools, the same flags), and runs
each scenario with wrk for a bounded time at 64 and at 8 connections, each measurement
right after one of the bare endpoint at the same connection count: GET by id, first
page of the list, list filtered by a tag, full-text search, create, batch create (1000
entries per request). Prints req/s, the ratio to the bare endpoint, p50/p95/p99 latency,
non-2xx answers and the server's resident memory (RSS) after each scenario.

Access tokens are minted with the server's own key ring (same data folder), one per
seeded user; every request reads or writes that user's own entries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from serving import LUA_SEEDED, lua_array, lua_string, run_wrk, write_wrk_scripts
from vibes.accounts.tokens import issue_access_token
from vibes.config import Settings
from vibes.platform.keys import load_keyring

ROOT = Path(__file__).resolve().parents[1]
API = "/api/v1"
SEARCH_WORDS = ["lighthouse", "harbour", "quiet", "lighthouse harbour", "quiet harbour"]
TAGS_PER_USER = 20


@dataclass
class Fixture:
    tokens: list[str]
    entry_ids: list[str]
    entry_owner: list[int]  # index into tokens


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _fixture(url: str, settings: Settings, sample: int) -> Fixture:
    conn = await asyncpg.connect(_dsn(url))
    try:
        sessions = await conn.fetch("SELECT user_id, id FROM auth_sessions ORDER BY user_id")
        entries = await conn.fetch(
            "SELECT id, user_id FROM journals TABLESAMPLE SYSTEM (1) LIMIT $1", sample
        )
    finally:
        await conn.close()
    keyring = load_keyring(settings)
    index: dict[Any, int] = {}
    tokens: list[str] = []
    for row in sessions:
        token, _ = issue_access_token(
            keyring, settings, user_id=row["user_id"], session_id=row["id"]
        )
        index[row["user_id"]] = len(tokens)
        tokens.append(token)
    return Fixture(
        tokens=tokens,
        entry_ids=[str(r["id"]) for r in entries],
        entry_owner=[index[r["user_id"]] + 1 for r in entries],  # Lua arrays start at 1
    )


WRITING = ("create", "batch_create")


async def _remove_written(url: str) -> None:
    """Delete what the writing scenarios created (and the change-log, outbox and delivery
    rows of the run), so the next run reads the seeded 1,000,000 entries again: left in
    place, hundreds of thousands of extra `harbour`/`quiet` entries make search heavier."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        started = time.perf_counter()
        await conn.execute(
            "DELETE FROM journal_tags jt USING journals j "
            "WHERE jt.journal_id = j.id AND j.title LIKE 'Bench entry %'"
        )
        status = await conn.execute("DELETE FROM journals WHERE title LIKE 'Bench entry %'")
        await conn.execute("TRUNCATE changes, outbox_events, deliveries, delivery_attempts")
        await conn.execute("VACUUM ANALYZE journals")
        await conn.execute("VACUUM ANALYZE journal_tags")
        print(f"removed the run's entries ({status}) in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


def _entry_body(rng: random.Random, i: int) -> dict[str, Any]:
    words = ["morning", "walk", "harbour", "coffee", "quiet", "rain", "letter", "garden"]
    return {
        "title": f"Bench entry {i}",
        "content": " ".join(rng.choice(words) for _ in range(rng.randint(30, 120))),
        "tags": rng.sample([f"tag{j}" for j in range(TAGS_PER_USER)], 2),
        "mood_rating": rng.randint(1, 10),
    }


def write_scripts(directory: Path, fixture: Fixture) -> dict[str, Path]:
    rng = random.Random(7)
    common = (
        f"tokens = {lua_array(fixture.tokens)}\n"
        f"entries = {lua_array(fixture.entry_ids)}\n"
        "owners = {" + ",".join(str(o) for o in fixture.entry_owner) + "}\n"
        f"words = {lua_array(SEARCH_WORDS)}\n"
        + LUA_SEEDED
        + "auth = function(t) return {Authorization = 'Bearer ' .. t} end\n"
        "json_auth = function(t)\n"
        "  return {Authorization = 'Bearer ' .. t, ['Content-Type'] = 'application/json'}\n"
        "end\n"
    )
    create_bodies = [json.dumps(_entry_body(rng, i)) for i in range(50)]
    batch_body = json.dumps({"items": [_entry_body(rng, i) for i in range(1000)]})
    scenarios = {
        "bare": "request = function() return wrk.format('GET', '/bare') end\n",
        "get_by_id": (
            "request = function()\n"
            "  local i = math.random(#entries)\n"
            f"  local path = '{API}/journals/' .. entries[i]\n"
            "  return wrk.format('GET', path, auth(tokens[owners[i]]))\n"
            "end\n"
        ),
        "list_first_page": (
            "request = function()\n"
            f"  return wrk.format('GET', '{API}/journals', auth(tokens[math.random(#tokens)]))\n"
            "end\n"
        ),
        "list_tag_filter": (
            "request = function()\n"
            f"  local path = '{API}/journals?tag=tag' .. math.random(0, {TAGS_PER_USER - 1})\n"
            "  return wrk.format('GET', path, auth(tokens[math.random(#tokens)]))\n"
            "end\n"
        ),
        "search": (
            "request = function()\n"
            "  local q = string.gsub(words[math.random(#words)], ' ', '%%20')\n"
            f"  local path = '{API}/search?type=journals&q=' .. q\n"
            "  return wrk.format('GET', path, auth(tokens[math.random(#tokens)]))\n"
            "end\n"
        ),
        "create": (
            f"bodies = {lua_array(create_bodies)}\n"
            "request = function()\n"
            "  local t = tokens[math.random(#tokens)]\n"
            f"  return wrk.format('POST', '{API}/journals', json_auth(t), "
            "bodies[math.random(#bodies)])\n"
            "end\n"
        ),
        "batch_create": (
            f"body = {lua_string(batch_body)}\n"
            "request = function()\n"
            "  local t = tokens[math.random(#tokens)]\n"
            f"  return wrk.format('POST', '{API}/journals/batch', json_auth(t), body)\n"
            "end\n"
        ),
    }
    return write_wrk_scripts(directory, common, scenarios)


class Server:
    def __init__(self, args: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                *args,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/vibes_bench"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--low-connections", type=int, default=8)
    parser.add_argument("--port", type=int, default=18000)
    parser.add_argument("--sample", type=int, default=5000, help="entries to GET at random")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=4,
        help="VIBES_DATABASE_POOL_SIZE of the server (PostgreSQL gets twice as many)",
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only these scenarios (plus bare)"
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=ROOT / "src",
        help="source tree of the vibes server under test (another checkout's `src`, to"
        " compare two versions with the same scenarios)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    url = args.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    data_dir = Path(tempfile.mkdtemp(prefix="vibes-bench-"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data_dir, database_url=url, rate_limits_enabled=False
    )
    print(_when("start"))
    fixture = asyncio.run(_fixture(url, settings, args.sample))
    scripts = write_scripts(data_dir, fixture)
    print(
        f"{len(fixture.tokens)} users, {len(fixture.entry_ids)} sampled entries, "
        f"VIBES_DATABASE_POOL_SIZE={args.pool_size}"
    )

    env = {
        **os.environ,
        "VIBES_DATABASE_URL": url,
        "VIBES_DATA_DIR": str(data_dir),
        "VIBES_RATE_LIMITS_ENABLED": "false",
        "VIBES_RUN_DISPATCHER": "false",
        "VIBES_LOG_LEVEL": "WARNING",
        # The database shares this machine's 2 cores: 8 connections keep both busy, while
        # the default 20 have 20 backends compete for them (measured: GET at 64
        # connections 2,850-3,640 req/s with 20, 3,670 steadily with 8).
        "VIBES_DATABASE_POOL_SIZE": str(args.pool_size),
        "PYTHONPATH": str(args.src.resolve()),
    }
    rows: list[tuple[str, int, dict[str, Any], float, float]] = []
    base = f"http://127.0.0.1:{args.port}"

    # Both servers run side by side (an idle one costs nothing) and every measurement of
    # vibes is paired with one of the bare endpoint taken just before it, at the same
    # connection count: the ratio compares two runs a few seconds apart, not a scenario
    # with a baseline taken minutes earlier on a machine whose speed drifts.
    bare_base = f"http://127.0.0.1:{args.port + 1}"
    bare = Server(["bare:app", "--app-dir", str(ROOT / "bench")], env, args.port + 1)
    names = [n for n in scripts if n != "bare" and (not args.only or n in args.only)]
    server = Server(["vibes.app:create_app", "--factory"], env, args.port)
    paired: dict[tuple[str, int], float] = {}
    # Server CPU per request: unlike req/s it hardly moves when other work shares the
    # machine, so two versions measured on a busy box still compare.
    paired_cpu: dict[tuple[str, int], float] = {}
    try:
        bare.wait_ready("/bare")
        server.wait_ready("/healthz")
        run_wrk(bare_base, scripts["bare"], args.low_connections, 2)  # warm-up
        for name in names:
            # Batch requests carry 1000 entries each: few connections are plenty.
            batch = name == "batch_create"
            counts = (4, 2) if batch else (args.connections, args.low_connections)
            run_wrk(base, scripts[name], counts[1], 2)  # warm-up
            for conns in counts:
                if not batch:
                    before = bare.cpu_seconds()
                    baseline = run_wrk(bare_base, scripts["bare"], conns, args.duration)
                    cpu = _cpu_us(bare.cpu_seconds() - before, baseline)
                    rows.append(("bare", conns, baseline, bare.rss_mb(), cpu))
                    paired[(name, conns)] = baseline["rps"]
                    paired_cpu[(name, conns)] = cpu
                before = server.cpu_seconds()
                result = run_wrk(base, scripts[name], conns, args.duration)
                cpu = _cpu_us(server.cpu_seconds() - before, result)
                rows.append((name, conns, result, server.rss_mb(), cpu))
    finally:
        server.stop()
        bare.stop()
        if any(name in WRITING for name in names):
            asyncio.run(_remove_written(url))

    print()
    print(f"server: {args.src.resolve()}")
    print(
        f"{'scenario':<16} {'conns':>5} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'RSS MB':>7} {'CPU us/req':>10} "
        f"{'bare/CPU':>8}"
    )
    for name, conns, r, rss, cpu in rows:
        ratio = f"{r['rps'] / paired[(name, conns)]:.0%}" if (name, conns) in paired else "-"
        cpu_ratio = f"{paired_cpu[(name, conns)] / cpu:.0%}" if (name, conns) in paired_cpu else "-"
        extra = f"  ({r['rps'] * 1000:,.0f} entries/s)" if name == "batch_create" else ""
        print(
            f"{name:<16} {conns:>5} {r['rps']:>9,.0f} {ratio:>8} {r['p50'] / 1000:>8.2f} "
            f"{r['p95'] / 1000:>8.2f} {r['p99'] / 1000:>8.2f} {r['non2xx']:>8} {rss:>7.0f}"
            f" {cpu:>10.0f} {cpu_ratio:>8}{extra}"
        )
    print(_when("end"))
    shutil.rmtree(data_dir, ignore_errors=True)


def _cpu_us(seconds: float, result: dict[str, Any]) -> float:
    return seconds * 1e6 / max(1, result["requests"])


def _when(label: str) -> str:
    """Wall-clock time and load average: figures from a busy machine are not comparable."""
    one, five, fifteen = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    cpus = os.cpu_count()
    return f"{label}: {stamp}, load average {one:.2f} {five:.2f} {fifteen:.2f} ({cpus} CPUs)"


if __name__ == "__main__":
    main()
