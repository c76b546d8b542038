"""Server CPU per single write: create, patch and delete of a journal entry with two tags.

    .venv/bin/python bench/write_path.py --requests 1000 --connections 4

Starts a real `vibes serve` (uvicorn, one process) on a private PostgreSQL database and
the bare baseline (`bench/bare.py`, same uvicorn defaults), registers a few accounts, and
drives, over keep-alive loopback connections (`serving.Connection`, a lean client):
N `POST /journals` (two of eight tags each, so the tags exist after the first few), N
`PATCH /journals/{id}` (title and content, `If-Match` with the ETag of the create) and N
`DELETE /journals/{id}` (`If-Match` again). For each phase it prints the **server's CPU
per request** from `/proc/<pid>/stat` (utime + stime delta / requests: steady on a busy
machine, unlike req/s), req/s, and the ratio to the bare endpoint measured right before
it with the same client and connection count, plus the load average.

To compare two versions on a busy machine, alternate runs of this checkout and of another
one's code (`PYTHONPATH=<other checkout>/src`, which the server inherits and which wins
over this checkout's editable install): only runs a minute apart compare.
`--py-spy DIR` records the server with py-spy during each phase (raw stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from serving import (
    API,
    DEFAULT_ADMIN_URL,
    Bare,
    Connection,
    PrivateDatabase,
    VibesServer,
    cpu_seconds,
    entry_body,
    make_users,
    when,
)


async def drive(
    port: int, jobs: list[tuple[str, str, str | None, bytes | None, dict[str, str]]], conns: int
) -> tuple[float, list[tuple[int, dict[str, str], bytes]]]:
    """Runs the jobs in order over `conns` connections; returns the wall time and answers."""
    answers: list[Any] = [None] * len(jobs)
    cursor = iter(range(len(jobs)))

    async def worker() -> None:
        connection = Connection(port)
        for index in cursor:
            method, path, token, body, headers = jobs[index]
            answers[index] = await connection.request(
                method, path, token=token, body=body, headers=headers
            )
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return time.perf_counter() - started, answers


PROFILE_DIR: Path | None = None


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (`pip install py-spy`) sampling the server into `out` (raw stacks)."""
    return subprocess.Popen(
        [
            *(str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid)),
            *("-f", "raw", "-r", "250", "-o", str(out), "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def measure(
    label: str, pid: int, port: int, jobs: list[Any], conns: int, expect: int
) -> tuple[dict[str, float], list[Any]]:
    spy = None
    if PROFILE_DIR is not None and label in ("create", "patch", "delete"):
        spy = start_py_spy(pid, PROFILE_DIR / f"{label}.txt")
        await asyncio.sleep(1)
    before = cpu_seconds(pid)
    wall, answers = await drive(port, jobs, conns)
    cpu = cpu_seconds(pid) - before
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
    bad = [a[0] for a in answers if a[0] != expect]
    if bad:
        raise RuntimeError(f"{label}: {len(bad)} answers not {expect}, e.g. {bad[0]}")
    return {"cpu_ms": cpu * 1000 / len(jobs), "rps": len(jobs) / wall}, answers


async def bare_rps(bare: Bare, n: int, conns: int) -> dict[str, float]:
    jobs = [("GET", "/bare", None, None, {})] * n
    figures, _ = await measure("bare", bare.process.pid, bare.port, jobs, conns, 200)
    return figures


async def run(args: argparse.Namespace, server: VibesServer, bare: Bare) -> None:
    rng = random.Random(17)
    tokens = await make_users(server.base, args.users)
    pid, port = server.process.pid, server.port
    await bare.wait_ready()

    def creates(n: int, offset: int) -> list[Any]:
        return [
            (
                "POST",
                f"{API}/journals",
                tokens[i % len(tokens)],
                orjson.dumps(entry_body(rng, offset + i)),
                {},
            )
            for i in range(n)
        ]

    # Warm-up: every statement compiled, every tag created, the pools filled.
    _, made = await measure("warm-up", pid, port, creates(args.warmup, 0), args.connections, 201)
    warm_ids = [(orjson.loads(a[2])["id"], a[1]["etag"]) for a in made]
    await measure(
        "warm-up",
        pid,
        port,
        [
            ("DELETE", f"{API}/journals/{i}", tokens[k % len(tokens)], None, {"If-Match": e})
            for k, (i, e) in enumerate(warm_ids)
        ],
        args.connections,
        204,
    )

    rows: list[tuple[str, dict[str, float], dict[str, float]]] = []
    print(when("start"), f"(PYTHONPATH={os.environ.get('PYTHONPATH', '')})", flush=True)
    n = args.requests
    base = await bare_rps(bare, n, args.connections)
    create, made = await measure("create", pid, port, creates(n, 10_000), args.connections, 201)
    rows.append(("create", create, base))
    created = [(orjson.loads(a[2])["id"], a[1]["etag"]) for a in made]

    patches = [
        (
            "PATCH",
            f"{API}/journals/{jid}",
            tokens[k % len(tokens)],
            orjson.dumps({"title": f"Patched {k}", "content": "rain and letters " * 8}),
            {"If-Match": etag},
        )
        for k, (jid, etag) in enumerate(created)
    ]
    base = await bare_rps(bare, n, args.connections)
    patch, patched = await measure("patch", pid, port, patches, args.connections, 200)
    rows.append(("patch", patch, base))

    deletes = [
        (
            "DELETE",
            f"{API}/journals/{jid}",
            tokens[k % len(tokens)],
            None,
            {"If-Match": a[1]["etag"]},
        )
        for k, ((jid, _), a) in enumerate(zip(created, patched, strict=True))
    ]
    base = await bare_rps(bare, n, args.connections)
    delete, _ = await measure("delete", pid, port, deletes, args.connections, 204)
    rows.append(("delete", delete, base))
    print(when("end"), flush=True)

    print(
        f"\n{'scenario':<8} {'requests':>8} {'conns':>5} {'server CPU ms/req':>18} "
        f"{'req/s':>7} {'bare req/s':>10} {'vs bare':>7} {'bare CPU ms':>11}"
    )
    for name, figures, baseline in rows:
        print(
            f"{name:<8} {n:>8} {args.connections:>5} {figures['cpu_ms']:>18.2f} "
            f"{figures['rps']:>7.0f} {baseline['rps']:>10.0f} "
            f"{figures['rps'] / baseline['rps']:>7.2f} {baseline['cpu_ms']:>11.3f}"
        )
    print(f"server RSS {server.rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per phase")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument(
        "--py-spy", type=Path, help="record the server with py-spy (raw stacks per phase here)"
    )
    args = parser.parse_args()
    global PROFILE_DIR
    PROFILE_DIR = args.py_spy
    with PrivateDatabase(args.admin_url, "vibes_bench_write") as database:
        env = {"VIBES_RUN_DISPATCHER": "false", "VIBES_DATABASE_POOL_SIZE": "4"}
        bare = Bare()
        try:
            with VibesServer(database.url, **env) as server:
                asyncio.run(run(args, server, bare))
        finally:
            bare.stop()


if __name__ == "__main__":
    main()
