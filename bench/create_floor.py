"""Where a single create's ceiling is on this machine (issue 17): `POST /journals` beside
what PostgreSQL alone and FastAPI + asyncpg alone do with the same rows, in one run.

    apt-get install -y wrk                          # if missing
    .venv/bin/python bench/create_floor.py --rounds 3 --duration 10 --connections 8

A private PostgreSQL database (dropped at the end) migrated by a real `vibes serve`
(`--workers 1`, dispatcher off, pool 4); USERS accounts, each with the eight tags the
bodies use (a seeding batch). Then, per round, each for `--duration` seconds at
`--connections`:

- **bare**: the bare endpoint (`bare.py`, a constant), the ratio's denominator;
- **pg alone**: pgbench running the statements of a create (`CREATE_SQL`: the session check,
  the entry, its tags looked up, two links, the outbox row, the sync counter, three change
  rows, in one transaction, prepared): the database's own ceiling for a create here, with
  no application at all;
- **fastapi+asyncpg**: `bare_create.py`, the same statements from a FastAPI endpoint over
  an asyncpg pool of 4, with none of the product's checks: the framework's floor;
- **vibes**: `POST /journals` with two of eight tags.

Per phase: req/s (transactions/s for pgbench), the ratio to the bare endpoint of the same
round, the application's CPU per request and the PostgreSQL backends' CPU per request
(both from /proc; pgbench's own CPU is not counted), and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (
    API,
    DEFAULT_ADMIN_URL,
    LUA_SEEDED,
    Bare,
    PrivateDatabase,
    VibesServer,
    _dsn,
    cpu_seconds,
    entry_body,
    free_port,
    lua_array,
    make_users,
    run_wrk,
    when,
    write_wrk_scripts,
)

ROOT = Path(__file__).resolve().parents[1]
CONTENT = " ".join(["morning", "walk", "harbour", "coffee", "quiet", "rain"] * 8)
# pgbench: one account per transaction at random; its ids come from a table of the run.
CREATE_SQL = f"""\\set n random(1, :users)
SELECT user_id AS u, session_id AS s, tag1 AS t1, tag2 AS t2, key1 AS k1, key2 AS k2
  FROM bench_create_users WHERE n = :n \\gset
BEGIN;
SELECT expires_at FROM auth_sessions
  WHERE id = :s AND user_id = :u AND revoked_at IS NULL AND expires_at > now();
INSERT INTO journals (user_id, title, content, entry_date, mood_rating, word_count,
    secret_tag_id, ciphertext, nonce, id, created_at, updated_at, version)
  VALUES (:u, 'Bench entry', '{CONTENT}', now(), 5, 48, NULL, NULL, NULL,
    bench_uuid7(), now(), now(), 1) RETURNING id AS j \\gset
SELECT name_key, id, name, version FROM tags WHERE user_id = :u AND name_key IN (:k1, :k2);
INSERT INTO journal_tags (journal_id, tag_id, user_id, created_at, updated_at)
  VALUES (:j, :t1, :u, now(), now()), (:j, :t2, :u, now(), now());
INSERT INTO outbox_events (user_id, type, data, dedupe_key, attempts, id, created_at,
    updated_at)
  VALUES (:u, 'journal.created', jsonb_build_object('id', :j::text, 'version', 1), NULL, 0,
    bench_uuid7(), now(), now());
INSERT INTO sync_counters (user_id, position, horizon) VALUES (:u, 3, 0)
  ON CONFLICT (user_id) DO UPDATE SET position = sync_counters.position + 3
  RETURNING position AS p \\gset
INSERT INTO changes (user_id, position, kind, entity_id, op, version, secret_tag_id,
    previous_secret_tag_id, id, created_at, updated_at)
  VALUES (:u, :p::bigint - 2, 'tag', :t1, 'upsert', 1, NULL, NULL, bench_uuid7(), now(), now()),
    (:u, :p::bigint - 1, 'tag', :t2, 'upsert', 1, NULL, NULL, bench_uuid7(), now(), now()),
    (:u, :p, 'journal', :j, 'upsert', 1, NULL, NULL, bench_uuid7(), now(), now());
COMMIT;
"""
UUID7_FUNCTION = """
CREATE FUNCTION bench_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
    || '7' || substr(md5(random()::text), 1, 3) || '8'
    || substr(md5(random()::text), 1, 15))::uuid
$$"""


class BackendCpu:
    """CPU of the PostgreSQL backends of one database, sampled every 0.1 s from a thread:
    pgbench's backends exit with it, so their last reading is taken while they run (what
    a backend spends in its last 0.1 s is lost: ~1 % of a 10 s phase). A backend first
    seen during the phase started in it: all its CPU counts."""

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn, self.name = dsn, name
        self.initial: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.running = False
        self.thread: threading.Thread | None = None

    def _sample(self) -> dict[int, float]:
        out = subprocess.run(
            ["psql", self.dsn, "-Atc",
             f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.name}' "
             "AND pid <> pg_backend_pid()"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        for pid in map(int, out.split()):
            self.last[pid] = max(cpu_seconds(pid), self.last.get(pid, 0.0))
        return dict(self.last)

    def _loop(self) -> None:
        while self.running:
            self._sample()
            time.sleep(0.1)

    def __enter__(self) -> BackendCpu:
        self.last, self.running = {}, True
        self.initial = self._sample()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.running = False
        assert self.thread is not None
        self.thread.join()
        self._sample()

    def used(self) -> float:
        return sum(value - self.initial.get(pid, 0.0) for pid, value in self.last.items())


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


async def prepare(dsn: str, tokens: list[str]) -> list[tuple[str, str]]:
    """The pgbench table of accounts (their ids and two tags each) and the bench_uuid7
    function; returns (user id, session id) per account for the floor's wrk script."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(UUID7_FUNCTION)
        await conn.execute(
            "CREATE TABLE bench_create_users (n int PRIMARY KEY, user_id uuid, session_id uuid,"
            " tag1 uuid, tag2 uuid, key1 text, key2 text)"
        )
        ids: list[tuple[str, str]] = []
        for n, token in enumerate(tokens, start=1):
            user, session = claims(token)["sub"], claims(token)["sid"]
            tags = await conn.fetch(
                "SELECT id, name_key FROM tags WHERE user_id = $1 ORDER BY name_key LIMIT 2",
                uuid.UUID(user),
            )
            await conn.execute(
                "INSERT INTO bench_create_users VALUES ($1, $2, $3, $4, $5, $6, $7)",
                n, uuid.UUID(user), uuid.UUID(session),
                tags[0]["id"], tags[1]["id"], tags[0]["name_key"], tags[1]["name_key"],
            )  # fmt: skip
            ids.append((user, session))
        return ids
    finally:
        await conn.close()


def scripts(folder: Path, tokens: list[str], ids: list[tuple[str, str]]) -> dict[str, Path]:
    rng = random.Random(11)
    bodies = [json.dumps(entry_body(rng, i)) for i in range(50)]
    common = f"bodies = {lua_array(bodies)}\n" + LUA_SEEDED
    texts = {
        "bare": "request = function() return wrk.format('GET', '/bare') end\n",
        "floor": (
            f"users = {lua_array([user for user, _ in ids])}\n"
            f"sessions = {lua_array([session for _, session in ids])}\n"
            "request = function()\n"
            "  local i = math.random(#users)\n"
            "  local headers = {['X-User'] = users[i], ['X-Session'] = sessions[i],\n"
            "    ['Content-Type'] = 'application/json'}\n"
            "  return wrk.format('POST', '/bare/create', headers, bodies[math.random(#bodies)])\n"
            "end\n"
        ),
        "vibes": (
            f"tokens = {lua_array(tokens)}\n"
            "request = function()\n"
            "  local headers = {Authorization = 'Bearer ' .. tokens[math.random(#tokens)],\n"
            "    ['Content-Type'] = 'application/json'}\n"
            "  local body = bodies[math.random(#bodies)]\n"
            f"  return wrk.format('POST', '{API}/journals', headers, body)\n"
            "end\n"
        ),
    }
    paths = write_wrk_scripts(folder, common, texts)
    paths["pgbench"] = folder / "create.sql"
    paths["pgbench"].write_text(CREATE_SQL)
    return paths


def pgbench(dsn: str, script: Path, users: int, connections: int, seconds: int) -> float:
    done = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-f", str(script), "-D", f"users={users}",
         "-c", str(connections), "-j", "2", "-T", str(seconds), dsn],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("tps = "))
    return float(line.split()[2])


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--duration", type=int, default=10, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--redis-url", help="give vibes serve this Redis (default: none)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vibes-bench-create-"))
    rows: list[dict[str, Any]] = []
    print(when("start"), flush=True)
    with PrivateDatabase(args.admin_url, "vibes_bench_create") as database:
        dsn = _dsn(database.url)
        env = {"VIBES_RUN_DISPATCHER": "false", "VIBES_DATABASE_POOL_SIZE": "4"}
        if args.redis_url:
            env["VIBES_REDIS_URL"] = args.redis_url
            env["VIBES_REDIS_PREFIX"] = f"vibes-bench-create:{uuid.uuid4().hex[:8]}:"
        floor_port = free_port()
        with VibesServer(database.url, **env) as server:
            tokens = asyncio.run(make_users(server.base, args.users))
            asyncio.run(seed_tags(server.base, tokens))
            ids = asyncio.run(prepare(dsn, tokens))
            paths = scripts(folder, tokens, ids)
            bare = Bare()
            floor = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bare_create:app",
                 "--app-dir", str(ROOT / "bench"), "--port", str(floor_port),
                 "--no-access-log", "--log-level", "warning"],
                env={**os.environ, "BARE_CREATE_DSN": dsn},
            )  # fmt: skip
            try:
                asyncio.run(bare.wait_ready())
                wait_port(floor_port)
                bare_url, floor_url = (
                    f"http://127.0.0.1:{bare.port}",
                    f"http://127.0.0.1:{floor_port}",
                )
                run_wrk(bare_url, paths["bare"], args.connections, 2)  # warm-ups
                run_wrk(floor_url, paths["floor"], args.connections, 2)
                run_wrk(server.base, paths["vibes"], args.connections, 2)
                for round_ in range(1, args.rounds + 1):
                    rows += measure_round(
                        round_, args, database, paths, bare, floor, server, bare_url, floor_url
                    )
            finally:
                bare.stop()
                floor.terminate()
                floor.wait(timeout=15)
    summarize(rows)
    print(when("end"))


async def seed_tags(base: str, tokens: list[str]) -> None:
    """Each account writes one batch with all eight tags, so every create finds its tags
    (and its sync counter) in place, as in steady use."""
    async with httpx.AsyncClient(base_url=base + API, timeout=60) as client:
        for token in tokens:
            items = [
                {"title": f"Seed {j}", "content": "seed", "tags": [f"tag{j}", f"tag{(j + 1) % 8}"]}
                for j in range(8)
            ]
            response = await client.post(
                "/journals/batch",
                json={"items": items},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()


def wait_port(port: int) -> None:
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def measure_round(
    round_: int,
    args: argparse.Namespace,
    database: PrivateDatabase,
    paths: dict[str, Path],
    bare: Bare,
    floor: subprocess.Popen[bytes],
    server: VibesServer,
    bare_url: str,
    floor_url: str,
) -> list[dict[str, Any]]:
    dsn = _dsn(database.url)
    rows: list[dict[str, Any]] = []
    base = run_wrk(bare_url, paths["bare"], args.connections, args.duration)["rps"]
    rows.append({"round": round_, "phase": "bare", "rps": base, "bare": base, "load": load()})
    phases: list[tuple[str, Any, int | None]] = [
        ("pg alone", None, None),
        ("fastapi+asyncpg", (floor_url, paths["floor"]), floor.pid),
        ("vibes", (server.base, paths["vibes"]), server.process.pid),
    ]
    for name, target, pid in phases:
        app_before = cpu_seconds(pid) if pid else 0.0
        with BackendCpu(dsn, database.name) as backends:
            if target is None:
                rps, non2xx = (
                    pgbench(dsn, paths["pgbench"], args.users, args.connections, args.duration),
                    0,
                )
                requests = rps * args.duration
            else:
                result = run_wrk(target[0], target[1], args.connections, args.duration)
                rps, non2xx, requests = (
                    result["rps"], result["non2xx"] + result["socket_errors"], result["requests"]
                )  # fmt: skip
        app_ms = 1000 * (cpu_seconds(pid) - app_before) / requests if pid else float("nan")
        pg_ms = 1000 * backends.used() / requests
        row = {
            "round": round_, "phase": name, "rps": rps, "bare": base, "app_ms": app_ms,
            "pg_ms": pg_ms, "non2xx": non2xx, "load": load(),
        }  # fmt: skip
        rows.append(row)
        print(
            f"round {round_} {name:<16} {rps:8.0f}/s  vs bare {rps / base:.3f}  "
            f"app CPU {app_ms:5.2f} ms  PG CPU {pg_ms:5.2f} ms  errors {non2xx}  "
            f"load {row['load']}",
            flush=True,
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> None:
    print("\nmedians over the rounds")
    print(
        f"{'phase':<16} {'req/s':>8} {'vs bare':>8} {'vs pg alone':>12} {'app ms':>7} {'PG ms':>6}"
    )
    pg = {row["round"]: row["rps"] for row in rows if row["phase"] == "pg alone"}
    for phase in ("bare", "pg alone", "fastapi+asyncpg", "vibes"):
        mine = [row for row in rows if row["phase"] == phase]
        if not mine:
            continue

        def med(key: str, rows_: list[dict[str, Any]] = mine) -> float:
            return statistics.median(row.get(key, float("nan")) for row in rows_)

        ratio = statistics.median(row["rps"] / row["bare"] for row in mine)
        to_pg = statistics.median(
            row["rps"] / pg[row["round"]] for row in mine if row["round"] in pg
        )
        print(
            f"{phase:<16} {med('rps'):8.0f} {ratio:8.3f} {to_pg:12.3f} "
            f"{med('app_ms'):7.2f} {med('pg_ms'):6.2f}"
        )


if __name__ == "__main__":
    main()
