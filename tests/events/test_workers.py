"""`vibes worker` as an operator runs it: real processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook as StandardWebhook

from tests.conftest import Backend, make_settings
from tests.events.servers import Receiver, serving
from tests.factories import make_user
from tests.waiting import wait_until, wait_until_blocking
from vibes.db import Database, new_id, utcnow
from vibes.events.channels import new_webhook_secret
from vibes.events.models import Delivery, Webhook
from vibes.events.secrets import seal_secret, sealing_key
from vibes.platform.keys import load_keyring
from vibes.recording.models import OutboxEvent
from vibes.reminders.models import Reminder

VIBES = [sys.executable, "-m", "vibes.cli.main"]
REMINDERS = 1000
USERS = 10


def _worker(database_url: str, data_dir: Path, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(
        VIBES_DATABASE_URL=database_url,
        VIBES_DATA_DIR=str(data_dir),
        VIBES_WEBHOOKS_ALLOW_PRIVATE="1",
        VIBES_DISPATCHER_POLL_SECONDS="0.2",
        # Short, so the test sees a killed worker's claims expire and move on.
        VIBES_DISPATCHER_LEASE_SECONDS="3",
        VIBES_DISPATCHER_BATCH_SIZE="100",
        VIBES_DISPATCHER_CONCURRENCY="20",
        VIBES_DELIVERY_RETRY_BASE_SECONDS="0.2",
        VIBES_LOG_LEVEL="INFO",
        **extra,
    )
    with log.open("ab") as out:
        return subprocess.Popen([*VIBES, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=out)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.mark.slow
async def test_three_workers_deliver_1000_simultaneous_reminders_once_despite_a_sigkill(
    backend: Backend, tmp_path: Path
) -> None:
    if not backend.is_postgres:
        pytest.skip("several workers share the work on PostgreSQL; SQLite runs one process")
    settings = make_settings(backend, tmp_path / "data")
    database = Database(settings)
    receiver = Receiver(delay=0.02)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        async with serving(receiver) as port:
            receiver.port = port
            secrets: dict[str, str] = {}
            due = utcnow().replace(microsecond=0) + dt.timedelta(seconds=4)
            key = sealing_key(load_keyring(settings))  # as the worker processes load it
            async with database.session_scope() as s:
                for u in range(USERS):
                    user = await make_user(database)
                    secret = new_webhook_secret()
                    hook_id = new_id()
                    hook = Webhook(
                        id=hook_id,
                        user_id=user.id,
                        url=receiver.url(f"/u{u}"),
                        events=["reminder.due"],
                        secret_sealed=seal_secret(key, hook_id, secret),
                        is_active=True,
                    )
                    s.add(hook)
                    secrets[f"/u{u}"] = secret
                    for i in range(REMINDERS // USERS):
                        s.add(
                            Reminder(
                                user_id=user.id,
                                title=f"r{i}",
                                priority=2,
                                remind_at=due,
                                timezone="UTC",
                                occurrence_at=due,
                                next_fire_at=due,
                                is_completed=False,
                            )
                        )
            workers = [
                _worker(backend.database_url, tmp_path / "data", tmp_path / f"worker{n}.log")
                for n in range(3)
            ]
            # Kill one worker mid-run: after deliveries started, while it holds claims.
            async with asyncio.timeout(30):
                await receiver.wait_for(150)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=10)

            async def all_delivered() -> bool:
                async with database.read_sessionmaker() as s:
                    delivered = await s.scalar(
                        select(func.count())
                        .select_from(Delivery)
                        .where(Delivery.status == "succeeded")
                    )
                return delivered == REMINDERS

            await wait_until(all_delivered, timeout=45, interval=0.2)
            exit_codes = [_stop(w) for w in workers[1:]]

        async with database.read_sessionmaker() as s:
            events = (
                await s.scalars(select(OutboxEvent).where(OutboxEvent.type == "reminder.due"))
            ).all()
            deliveries = (await s.scalars(select(Delivery))).all()
            left = await s.scalar(
                select(func.count()).select_from(Reminder).where(Reminder.next_fire_at.is_not(None))
            )
        assert len(events) == REMINDERS
        assert len({e.data["reminder_id"] for e in events}) == REMINDERS
        assert len(deliveries) == REMINDERS
        assert {d.status for d in deliveries} == {"succeeded"}
        assert all(e.dispatched_at is not None for e in events)
        assert left == 0
        # At least once: a request the killed worker had in flight may come again, with
        # the same webhook-id; every one of them carries a valid signature.
        ids = {r.headers["webhook-id"] for r in receiver.requests}
        assert ids == {str(e.id) for e in events}
        for request in receiver.requests:
            StandardWebhook(secrets[request.path]).verify(request.body, request.headers)
        assert exit_codes == [0, 0]  # SIGTERM: graceful stop
        assert workers[0].returncode == -signal.SIGKILL
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await database.dispose()


@pytest.mark.slow
def test_worker_stops_gracefully_on_sigterm(backend: Backend, tmp_path: Path) -> None:
    if backend.is_postgres:
        pytest.skip("one run is enough: the signal handling does not depend on the database")
    log = tmp_path / "worker.log"
    proc = _worker(backend.database_url, tmp_path / "data", log)
    try:

        def started() -> bool:
            assert proc.poll() is None, log.read_text()
            return "dispatcher started" in log.read_text()

        wait_until_blocking(started, timeout=30, message="the worker never started")
        assert _stop(proc) == 0
        assert "dispatcher stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
