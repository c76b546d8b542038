"""How long emptying the test database takes between two tests: TRUNCATE of every table
(what tests/conftest.py did) against DELETE, children first (what it does now).

    .venv/bin/python bench/suite_reset.py --server-url postgresql://postgres@127.0.0.1:5432/postgres

Makes a private database, migrates it to head, then alternates the two ways `--rounds`
times, `--repeat` resets each, on a fresh connection each as the fixture opens one;
prints milliseconds per reset and the load average. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from vibes import migrations
from vibes.db import Base


async def _reset(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    server = make_url(args.server_url).set(drivername="postgresql")
    name = f"vibes_bench_reset_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server.render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = server.set(database=name).render_as_string(hide_password=False)
    try:
        await migrations.upgrade(
            server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
        )
        tables = Base.metadata.sorted_tables
        ways = {
            "truncate": "TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE",
            "delete": "; ".join(f'DELETE FROM "{t.name}"' for t in reversed(tables)),
        }
        print(f"{len(tables)} tables, load average {os.getloadavg()}")
        for round_ in range(1, args.rounds + 1):
            figures = []
            for way, statement in ways.items():
                started = time.perf_counter()
                for _ in range(args.repeat):
                    await _reset(dsn, statement)
                per_reset = (time.perf_counter() - started) / args.repeat * 1000
                figures.append(f"{way} {per_reset:.0f} ms")
            print(f"round {round_}: " + ", ".join(figures) + f" (load {os.getloadavg()[0]:.2f})")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
