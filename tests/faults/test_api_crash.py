"""kill -9 of `vibes serve` under load, clients retrying with `Idempotency-Key`: every
write happens exactly once, whether the process died before, during or after its commit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Backend, make_settings
from tests.events.servers import free_port
from tests.factories import make_session, make_user
from tests.waiting import wait_until
from vibes.accounts.tokens import issue_access_token
from vibes.db import Database
from vibes.journals.models import Journal
from vibes.platform.keys import load_keyring

pytestmark = pytest.mark.slow  # real processes, SIGKILLed and started again

CLIENTS = 4
WRITES_PER_CLIENT = 6
KILLS = 1


def _serve(database_url: str, data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(
        VIBES_DATABASE_URL=database_url,
        VIBES_DATA_DIR=str(data_dir),
        VIBES_RATE_LIMITS_ENABLED="false",
        VIBES_RUN_DISPATCHER="false",
        VIBES_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "vibes.cli.main", "serve", "--port", str(port)]
    # One process: the test kills it with SIGKILL, which a supervisor's workers would outlive.
    command += ["--workers", "1"]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "--no-migrate"], env=env, stdout=subprocess.DEVNULL, stderr=out
        )


async def test_writes_retried_with_idempotency_keys_across_kill_9_happen_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    settings = make_settings(backend, tmp_path / "data")
    database = Database(settings)
    try:
        user = await make_user(database)
        auth_session = await make_session(database, user.id)
    finally:
        await database.dispose()
    token, _ = issue_access_token(
        load_keyring(settings), settings, user_id=user.id, session_id=auth_session.id
    )
    port = free_port()
    log = tmp_path / "serve.log"
    server = _serve(settings.resolved_database_url, settings.data_dir, port, log)
    done: dict[str, str] = {}  # title -> id of the entry it acknowledged

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for sequence in range(WRITES_PER_CLIENT):
                title = f"c{number}-{sequence}"
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": str(uuid.uuid4()),
                }
                while True:  # the same key and body until an answer arrives
                    try:
                        response = await http.post(
                            "/api/v1/journals",
                            json={"title": title, "content": "once"},
                            headers=headers,
                        )
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
                        continue
                    if response.status_code == 503:
                        await asyncio.sleep(0.05)
                        continue
                    assert response.status_code == 201, response.text
                    done[title] = response.json()["id"]
                    break

    try:
        clients = asyncio.gather(*(client(n) for n in range(CLIENTS)))
        total = CLIENTS * WRITES_PER_CLIENT
        for kill in range(1, KILLS + 1):
            await wait_until(
                lambda k=kill: len(done) >= total * k // (KILLS + 1) or clients.done(),
                timeout=60,
            )
            server.send_signal(signal.SIGKILL)
            await asyncio.to_thread(server.wait)
            server = _serve(settings.resolved_database_url, settings.data_dir, port, log)
        async with asyncio.timeout(90):
            await clients
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 20)

    database = Database(settings)
    try:
        async with database.session_scope() as session:
            rows = (await session.execute(select(Journal.title, Journal.id))).all()
    finally:
        await database.dispose()
    stored: dict[str, list[str]] = {}
    for title, entry_id in rows:
        stored.setdefault(title, []).append(str(entry_id))
    assert len(done) == CLIENTS * WRITES_PER_CLIENT
    assert {t: ids for t, ids in stored.items() if len(ids) != 1} == {}, "written twice"
    assert {title: ids[0] for title, ids in stored.items()} == done
