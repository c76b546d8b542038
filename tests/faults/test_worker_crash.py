"""kill -9 of `vibes worker` while its webhook deliveries are in flight to a real HTTP
receiver: another worker delivers every event afterwards; nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.types import Receive, Scope, Send

from tests.conftest import Backend, MakeApp, asgi_client
from tests.events.servers import Receiver, serving
from tests.factories import make_authed_user
from tests.waiting import wait_until
from vibes.platform.runtime import app_runtime

pytestmark = pytest.mark.slow  # real processes, SIGKILLed and started again

EVENTS = 12


def _worker(database_url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(
        VIBES_DATABASE_URL=database_url,
        VIBES_DATA_DIR=str(data_dir),
        VIBES_WEBHOOKS_ALLOW_PRIVATE="true",
        VIBES_DISPATCHER_POLL_SECONDS="0.2",
        # Short, so the killed worker's claims come due again within the test.
        VIBES_DISPATCHER_LEASE_SECONDS="1",
        VIBES_DELIVERY_RETRY_BASE_SECONDS="0.2",
        VIBES_LOG_LEVEL="WARNING",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vibes.cli.main", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


class ArrivalsReceiver(Receiver):
    """Also notes each request's event id as it arrives, before the (slow) answer: a
    request whose sender is killed while it waits never got its answer, though the
    receiver records it once its delay is over."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.arrivals: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        self.arrivals.append(headers[b"webhook-id"].decode())
        await super().__call__(scope, receive, send)


async def test_events_in_flight_when_the_worker_is_killed_are_delivered_by_another(
    backend: Backend, make_app: MakeApp, tmp_path: Path
) -> None:
    # Slow to answer at first: the kill lands while deliveries are on the wire.
    receiver = ArrivalsReceiver(delay=3.0)
    log = tmp_path / "worker.log"
    async with (
        serving(receiver) as port,
        make_app(webhooks_allow_private=True) as app,
        asgi_client(app) as client,
    ):
        receiver.port = port
        user = await make_authed_user(app)
        hook = await client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url(), "events": ["journal.created"]},
            headers=user.headers,
        )
        assert hook.status_code == 201, hook.text
        for number in range(EVENTS):
            created = await client.post(
                "/api/v1/journals",
                json={"title": f"entry {number}", "content": "x"},
                headers=user.headers,
            )
            assert created.status_code == 201
        settings = app_runtime(app).settings

        first = _worker(settings.resolved_database_url, settings.data_dir, log)
        try:
            await wait_until(lambda: receiver.arrivals, timeout=30, message="a delivery sent")
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
        finally:
            if first.poll() is None:
                first.kill()
        # Answered before the kill: delivered. Arrived but unanswered: cut short.
        answered = {r.headers["webhook-id"] for r in receiver.requests}
        cut_short = set(receiver.arrivals) - answered
        seen_before_kill = len(receiver.arrivals)
        assert cut_short, "the kill landed while no delivery was on the wire"
        receiver.delay = 0.0

        def redelivered() -> set[str]:
            return set(receiver.arrivals[seen_before_kill:])

        second = _worker(settings.resolved_database_url, settings.data_dir, log)
        try:
            await wait_until(
                lambda: len(answered | redelivered()) >= EVENTS,
                timeout=30,
                message=f"all {EVENTS} events delivered",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.to_thread(second.wait, 20)

    assert cut_short <= redelivered()
    assert len(answered | redelivered()) == EVENTS
