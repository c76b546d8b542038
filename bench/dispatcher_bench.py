"""Dispatcher benchmark: N reminders due at the same second, delivered by `vibes worker`s.

Each reminder goes to a signed webhook on a loopback receiver in this process; the figures
are reminders delivered per second (from the due instant to the last delivery) and the
due-to-delivered lag (p50, p99, max) as the receiver saw it.

    python bench/dispatcher_bench.py                                  # SQLite, 1 worker
    python bench/dispatcher_bench.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench \
        --workers 3 --reminders 5000

The PostgreSQL database must exist; it is migrated and its tables emptied first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uvicorn
from sqlalchemy import delete, func, select, text
from starlette.types import Receive, Scope, Send

import vibes.models  # noqa: F401 - every table mapped
from vibes import migrations
from vibes.accounts.models import User
from vibes.config import Settings
from vibes.db import Base, Database, new_id, utcnow
from vibes.events.channels import new_webhook_secret
from vibes.events.models import Delivery, Webhook
from vibes.events.secrets import seal_secret, sealing_key
from vibes.platform.keys import load_keyring
from vibes.recording.models import OutboxEvent
from vibes.reminders.models import Reminder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import cpu_seconds


class Receiver:
    def __init__(self, expected: int) -> None:
        self.arrivals: dict[str, float] = {}
        self.expected = expected
        self.done = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        self.arrivals.setdefault(headers[b"webhook-id"].decode(), time.time())
        if len(self.arrivals) >= self.expected:
            self.done.set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def wait_dispatched(database: Database, total: int) -> None:
    while True:
        async with database.read_sessionmaker() as s:
            done = await s.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.type == "reminder.due", OutboxEvent.dispatched_at.is_not(None))
            )
        if done >= total:
            return
        await asyncio.sleep(0.1)


async def backend_pids(database: Database) -> list[int]:
    """The PostgreSQL server processes serving this database (the workers' connections)."""
    if database.is_sqlite:
        return []
    async with database.read_sessionmaker() as s:
        rows = await s.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        )
        return [int(pid) for (pid,) in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def seed(
    database: Database,
    settings: Settings,
    url: str | None,
    reminders: int,
    users: int,
    due: dt.datetime,
    spread: float = 0.0,
) -> None:
    # The workers read the same data folder, so they open secrets sealed under its key.
    key = sealing_key(load_keyring(settings))
    async with database.session_scope() as s:
        for table in reversed(Base.metadata.sorted_tables):
            await s.execute(delete(table))
    per_user = reminders // users
    for u in range(users):
        async with database.session_scope() as s:
            user = User(
                id=new_id(),
                email=f"bench{u}@example.com",
                email_key=f"bench{u}@example.com",
                password_hash="x",
                timezone="UTC",
            )
            s.add(user)
            await s.flush()
            if url is not None:
                hook_id = new_id()
                s.add(
                    Webhook(
                        id=hook_id,
                        user_id=user.id,
                        url=url,
                        events=["reminder.due"],
                        secret_sealed=seal_secret(key, hook_id, new_webhook_secret()),
                        is_active=True,
                    )
                )
            s.add_all(
                Reminder(
                    user_id=user.id,
                    title=f"r{i}",
                    priority=2,
                    remind_at=at,
                    timezone="UTC",
                    occurrence_at=at,
                    next_fire_at=at,
                    is_completed=False,
                )
                for i in range(per_user)
                # Spread: the users' reminders interleave evenly over `spread` seconds.
                for at in [due + dt.timedelta(seconds=spread * (i * users + u) / reminders)]
            )


async def receiver_floor(seconds: float, connections: int) -> None:
    """The receiver alone: wrk POSTs over kept-alive connections; its rate and CPU are
    the most any dispatcher could get out of it on this machine."""
    receiver = Receiver(10**12)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    serve = asyncio.create_task(server.serve())
    await asyncio.sleep(0.5)
    script = Path(tempfile.mkdtemp(prefix="vibes-bench-")) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.body = "{}"\n'
        'wrk.headers["webhook-id"] = "msg"\nwrk.headers["content-type"] = "application/json"\n'
    )
    cpu_0 = time.process_time()
    wrk = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/hook",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await wrk.communicate()
    cpu = time.process_time() - cpu_0
    server.should_exit = True
    await serve
    rate = next(line for line in out.decode().splitlines() if "Requests/sec" in line)
    requests = float(rate.split()[-1]) * seconds
    print(f"receiver alone       {rate.strip()} ({connections} kept-alive connections)")
    print(f"receiver CPU         {cpu * 1000 / requests:.3f} ms per request")
    load = os.getloadavg()
    print(f"load average         {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


async def main(args: argparse.Namespace) -> None:
    if args.receiver_only:
        await receiver_floor(args.receiver_only, connections=24)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="vibes-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'vibes.db'}"
    workers = args.workers if not database_url.startswith("sqlite") else 1
    await migrations.upgrade(database_url)
    settings = Settings(_env_file=None, database_url=database_url, data_dir=data_dir)  # type: ignore[call-arg]
    database = Database(settings)

    total = args.reminders - args.reminders % args.users
    receiver = Receiver(total)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    serve = asyncio.create_task(server.serve())
    await asyncio.sleep(0.5)  # uvicorn binds its socket within milliseconds
    due = utcnow().replace(microsecond=0) + dt.timedelta(seconds=args.lead)
    hook_url = f"http://127.0.0.1:{port}/hook" if args.channel == "webhook" else None
    await seed(database, settings, hook_url, total, args.users, due, args.spread)

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(
        VIBES_DATABASE_URL=database_url,
        VIBES_DATA_DIR=str(data_dir),
        VIBES_WEBHOOKS_ALLOW_PRIVATE="1",
        VIBES_DISPATCHER_POLL_SECONDS=str(args.poll),
        VIBES_DISPATCHER_BATCH_SIZE=str(args.batch),
        VIBES_LOG_LEVEL="WARNING",
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vibes.cli.main", "worker", env=env
        )
        for _ in range(workers)
    ]
    # CPU time from the due instant on, per process kind: unlike rates on a shared machine,
    # it does not depend on what else runs. (The receiver shares this process.)
    await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
    worker_cpu_0 = sum(cpu_seconds(p.pid) for p in procs)
    own_cpu_0 = time.process_time()
    pg_cpu_0 = {pid: cpu_seconds(pid) for pid in await backend_pids(database)}
    try:
        with contextlib.suppress(TimeoutError):
            if args.channel == "webhook":
                await asyncio.wait_for(receiver.done.wait(), args.timeout)
            else:
                await asyncio.wait_for(wait_dispatched(database, total), args.timeout)
        worker_cpu = sum(cpu_seconds(p.pid) for p in procs) - worker_cpu_0
        own_cpu = time.process_time() - own_cpu_0
        # Connections opened after the first look count from zero (closed ones are lost).
        pg_cpu = sum(
            cpu_seconds(pid) - pg_cpu_0.get(pid, 0.0) for pid in await backend_pids(database)
        )
        load = os.getloadavg()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 30)
        server.should_exit = True
        await serve

    async with database.read_sessionmaker() as s:
        succeeded = await s.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "succeeded")
        )
        events = (
            await s.execute(
                select(OutboxEvent.id, OutboxEvent.data, OutboxEvent.dispatched_at).where(
                    OutboxEvent.type == "reminder.due", OutboxEvent.dispatched_at.is_not(None)
                )
            )
        ).all()
    await database.dispose()

    # Each reminder's lag from its own due instant (they differ with --spread).
    due_of = {str(e.id): dt.datetime.fromisoformat(e.data["due_at"]).timestamp() for e in events}
    if args.channel == "webhook":
        arrivals = [(t, due_of[msg]) for msg, t in receiver.arrivals.items()]
    else:
        # Published to the live stream just before dispatched_at is written.
        arrivals = [(e.dispatched_at.timestamp(), due_of[str(e.id)]) for e in events]
    lags = sorted(max(0.0, t - when_due) for t, when_due in arrivals)
    if not lags:
        print("nothing delivered")
        return
    due_ts = due.timestamp()
    span = max(max(t for t, _ in arrivals) - due_ts, 1e-9)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    print(f"backend              {backend}, {workers} worker process(es), batch {args.batch}")
    channel = "1 webhook each" if args.channel == "webhook" else "live stream only"
    when = f"over {args.spread:g} s" if args.spread else "at the same second"
    print(f"reminders due        {total} {when} ({args.users} users, {channel})")
    print(f"delivered            {len(lags)} (Delivery rows succeeded: {succeeded})")
    print(f"throughput           {len(lags) / span:,.0f} reminders delivered per second")
    print(f"lag p50 / p99 / max  {statistics.median(lags):.3f} s / {p99:.3f} s / {lags[-1]:.3f} s")
    per = 1000 / len(lags)
    print(
        f"CPU ms per reminder  workers {worker_cpu * per:.2f}, PostgreSQL {pg_cpu * per:.2f},"
        f" receiver+bench {own_cpu * per:.2f}"
    )
    print(f"load average         {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--reminders", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--lead", type=float, default=5.0, help="seconds until they are due")
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="due instants spread evenly over this long (a steady offered rate), not at once",
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--receiver-only",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="measure the loopback receiver alone with wrk for this long (the floor)",
    )
    parser.add_argument(
        "--channel",
        choices=["webhook", "stream"],
        default="webhook",
        help="webhook: signed POSTs to a loopback receiver; stream: fire and publish only",
    )
    asyncio.run(main(parser.parse_args()))
