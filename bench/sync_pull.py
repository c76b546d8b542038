"""Multi-device sync: how fast a device pulls, and what logging changes costs a write.

    .venv/bin/python bench/sync_pull.py                       # SQLite in a temp folder
    .venv/bin/python bench/sync_pull.py --database-url postgresql+asyncpg://…/vibes_sync_bench

In-process through the ASGI app (httpx's ASGITransport: no network, no server), rate
limits and the dispatcher off, one fresh user:

1. Writes, each measured with the change log on and off, in alternating rounds so that
   the machine's drift hits both alike: `POST /journals` (one entry, two tags) in req/s,
   and `POST /journals/batch` (1000 entries, two tags) in entries/s. "Off" unhooks the
   commit-time writer of the change log (`recording.record._write_pending`): no counter
   bump, no change rows; everything else (the outbox too) is the same.
2. A pull of the whole feed, `GET /sync?limit=1000` page after page, once the user has
   `--changes` changes (made by batches; default 100,000): changes/s, and ms per page.

The database is migrated to head first. A PostgreSQL one given with --database-url keeps
the rows written: use a scratch database and drop it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from vibes import migrations
from vibes.accounts.models import AuthSession, User
from vibes.accounts.tokens import issue_access_token
from vibes.app import create_app
from vibes.config import Settings
from vibes.db import new_id, utcnow
from vibes.platform.runtime import app_runtime
from vibes.recording import record
from vibes.recording.models import Change

API = "/api/v1"
WORDS = ("morning", "walk", "harbour", "coffee", "quiet", "rain")


def _entry(i: int) -> dict[str, Any]:
    words = " ".join(
        ("morning", "walk", "harbour", "coffee", "quiet", "rain")[j % 6] for j in range(60)
    )
    return {"title": f"Entry {i}", "content": words, "tags": ["bench", f"t{i % 7}"]}


class ChangeLog:
    """The change log's commit-time writer, switched off and on."""

    def __init__(self) -> None:
        self.on = True

    def switch(self, on: bool) -> None:
        if on != self.on:
            (event.listen if on else event.remove)(Session, "before_commit", record._write_pending)
            self.on = on


async def _rate(work: Callable[[], Awaitable[int]], seconds: float) -> tuple[float, float]:
    """Units of `work` per second over about `seconds`, and this process's CPU time per
    unit in microseconds (with SQLite, the database's work is in this process too)."""
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        done += await work()
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done * 1e6


async def main(args: argparse.Namespace, data_dir: pathlib.Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        database_url=args.database_url,
        rate_limits_enabled=False,
        run_dispatcher=False,
        access_log=False,
    )
    await migrations.upgrade(settings.resolved_database_url)
    app = create_app(settings)
    log = ChangeLog()
    async with app.router.lifespan_context(app):
        runtime = app_runtime(app)
        user = User(
            email=f"bench-{new_id().hex[:8]}@example.com",
            email_key=f"bench-{new_id().hex[:8]}@example.com",
            password_hash="not a hash",
            display_name="Bench",
            timezone="UTC",
        )
        async with runtime.database.session_scope() as session:
            session.add(user)
            await session.flush()
            auth = AuthSession(
                id=new_id(),
                user_id=user.id,
                device_name="bench",
                last_used_at=utcnow(),
                expires_at=utcnow().replace(year=utcnow().year + 1),
            )
            session.add(auth)
        token, _ = issue_access_token(
            runtime.keyring, settings, user_id=user.id, session_id=auth.id
        )
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            counter = iter(range(10**9))

            async def create() -> int:
                response = await client.post(
                    f"{API}/journals", json=_entry(next(counter)), headers=headers
                )
                assert response.status_code == 201, response.text
                return 1

            batch = [_entry(i) for i in range(1000)]

            async def create_batch() -> int:
                response = await client.post(
                    f"{API}/journals/batch", json={"items": batch}, headers=headers
                )
                assert response.status_code == 201, response.text
                return 1000

            rates: dict[tuple[str, bool], list[tuple[float, float]]] = {}
            for _ in range(args.rounds):
                for on in (True, False):
                    log.switch(on)
                    for name, work, seconds in (
                        ("create", create, args.seconds),
                        ("batch", create_batch, args.seconds * 2),
                    ):
                        rates.setdefault((name, on), []).append(await _rate(work, seconds))
            log.switch(True)
            for name, unit in (("create", "req/s"), ("batch", "entries/s")):
                on = statistics.median(rate for rate, _ in rates[(name, True)])
                off = statistics.median(rate for rate, _ in rates[(name, False)])
                cpu_on = statistics.median(cpu for _, cpu in rates[(name, True)])
                cpu_off = statistics.median(cpu for _, cpu in rates[(name, False)])
                per = "request" if name == "create" else "entry"
                print(
                    f"{name:6}: {on:8,.0f} {unit} with the change log, {off:8,.0f} without "
                    f"(ratio {on / off:.2f}); CPU per {per} {cpu_on:,.0f} us with, "
                    f"{cpu_off:,.0f} us without (ratio {cpu_on / cpu_off:.2f}); "
                    f"medians of {args.rounds} rounds"
                )

            # Top the feed up to --changes rows (each entry made above logged one change
            # while the log was on, plus its tags), then pull all of it.
            pulled = 0
            cursor: str | None = None
            async with runtime.database.read_sessionmaker() as session:
                have = int(
                    await session.scalar(
                        select(func.count()).select_from(Change).where(Change.user_id == user.id)
                    )
                    or 0
                )
            while have < args.changes:
                have += await create_batch()
            pages: list[float] = []
            started, cpu = time.perf_counter(), time.process_time()
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                page_start = time.perf_counter()
                response = await client.get(f"{API}/sync", params=params, headers=headers)
                pages.append(time.perf_counter() - page_start)
                assert response.status_code == 200, response.text
                body = response.json()
                pulled += len(body["changes"])
                cursor = body["cursor"]
                if not body["has_more"]:
                    break
            elapsed = time.perf_counter() - started
            cpu_us = (time.process_time() - cpu) / max(pulled, 1) * 1e6
            print(
                f"pull  : {pulled:,} changes in {len(pages)} pages of 1000 in {elapsed:.1f} s = "
                f"{pulled / elapsed:,.0f} changes/s "
                f"(page p50 {statistics.median(pages) * 1000:.0f} ms, "
                f"max {max(pages) * 1000:.0f} ms; CPU {cpu_us:.0f} us per change)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="vibes-sync-bench-"))
    try:
        asyncio.run(main(parser.parse_args(), scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
