"""Reads on replicas: which database answers a GET, read-your-writes, and a replica that is
down skipped or retried on the primary without a failed request.

PostgreSQL cannot replicate between two databases of one server, so the "replica" here is
the primary itself, reached through the replica's own engine: what is checked is which
engine served each request (real streaming replication: tests/cluster). A second replica
URL points at a closed port.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.conftest import Backend, MakeApp, MakeClient, make_settings
from tests.factories import make_authed_user
from vibes import db as vibes_db
from vibes.config import Settings
from vibes.db import Database
from vibes.platform.runtime import app_runtime


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Served:
    """Connections checked out of each engine's pool (the fast paths' included)."""

    def __init__(self, database: Database) -> None:
        self.counts = {"primary": 0, "replica": 0}
        self._listening: list[tuple[Any, Any]] = []
        self._watch(database.engine, "primary")
        self._watch(database.replicas[0].engine, "replica")

    def _watch(self, engine: Any, name: str) -> None:
        def checkout(*_: Any) -> None:
            self.counts[name] += 1

        event.listen(engine.sync_engine, "checkout", checkout)
        self._listening.append((engine.sync_engine, checkout))

    def take(self) -> dict[str, int]:
        counts, self.counts = self.counts, {"primary": 0, "replica": 0}
        return counts

    def close(self) -> None:
        for target, listener in self._listening:
            event.remove(target, "checkout", listener)


async def as_if_long_ago(app: Any, *users: Any) -> None:
    """Forget that the factory's writes (the account, its session) were just made: they
    mark their user as a recent writer, as a sign-up does."""
    writers = app_runtime(app).recent_writers
    for user in users:
        writers._local.pop(str(user.id), None)
        if writers._redis is not None:
            await writers._redis.delete(writers._key(str(user.id)))


@pytest.fixture
def quiet_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the check at startup: the background ones would count as checkouts.
    monkeypatch.setattr(vibes_db, "REPLICA_CHECK_SECONDS", 3600.0)


def test_sqlite_refuses_replicas(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SQLite, which has no replicas"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp_path,
            database_replica_urls="postgresql+asyncpg://u@127.0.0.1:5433/vibes",
        )


async def test_reads_go_to_the_replica_and_a_writer_reads_its_writes_on_the_primary(
    backend: Backend, tmp_path: Path, make_app: MakeApp, make_client: MakeClient, quiet_checks: None
) -> None:
    if not backend.is_postgres:
        pytest.skip("replicas are PostgreSQL's")
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/vibes"
    settings = make_settings(
        backend, tmp_path / "data", database_replica_urls=[backend.database_url, dead]
    )
    async with make_app(settings) as app, make_app(settings) as other:
        database = app_runtime(app).database
        live, down = database.replicas
        assert live.usable
        assert not down.usable
        assert "unreachable" in down.reason
        writer = await make_authed_user(app)
        reader = await make_authed_user(app)
        await as_if_long_ago(app, writer, reader)
        served = Served(database)
        try:
            async with make_client(app) as c, make_client(other) as c2:
                as_writer = {"Authorization": f"Bearer {writer.access_token}"}
                as_reader = {"Authorization": f"Bearer {reader.access_token}"}
                # Nobody has written: reads (ORM route, fast path) are the replica's.
                assert (await c.get("/api/v1/journals", headers=as_writer)).status_code == 200
                assert served.take() == {"primary": 0, "replica": 1}
                created = await c.post(
                    "/api/v1/journals", json={"title": "t", "content": "c"}, headers=as_writer
                )
                assert created.status_code == 201, created.text
                entry = created.json()["id"]
                assert served.take()["replica"] == 0
                # Who just wrote reads on the primary, in this process and in another one
                # (told through Redis when there is one).
                for client in (c, c2) if backend.redis_url else (c,):
                    got = await client.get(f"/api/v1/journals/{entry}", headers=as_writer)
                    assert got.status_code == 200
                    listed = await client.get("/api/v1/journals", headers=as_writer)
                    assert [item["id"] for item in listed.json()["items"]] == [entry]
                counts = served.take()
                assert counts["replica"] == 0
                assert counts["primary"] >= 2
                # Someone else still reads on the replica.
                for _ in range(4):
                    got = await c.get(f"/api/v1/journals/{entry}", headers=as_reader)
                    assert got.status_code == 404
                assert served.take() == {"primary": 0, "replica": 4}
                # A live stream reads on the primary (it outlives any lag check).
                streaming = {**as_reader, "Accept": "text/event-stream"}
                await c.get("/api/v1/journals", headers=streaming)
                assert served.take() == {"primary": 1, "replica": 0}

                # The dead replica went down after its last check: the reads sent to it are
                # answered by the primary, and it is out until a check finds it back.
                down.usable = True
                answers = [
                    (await c.get("/api/v1/journals", headers=as_reader)).status_code
                    for _ in range(4)
                ]
                assert answers == [200] * 4
                assert not down.usable
                assert "a read failed" in down.reason
                counts = served.take()
                assert counts == {"primary": 1, "replica": 3}
                # A fast path too.
                down.usable = True
                for _ in range(2):
                    got = await c.get(f"/api/v1/journals/{entry}", headers=as_reader)
                    assert got.status_code == 404
                assert not down.usable
                # A check brings a replica back once it answers again; the live one stays.
                await database.check_replicas()
                assert live.usable
                assert not down.usable
                ready = await c.get("/readyz")
                assert ready.status_code == 200
                assert ready.json()["status"] == "degraded"
                assert ready.json()["checks"]["replica_1"] == "ok"
                assert ready.json()["checks"]["replica_2"] == "down"
        finally:
            served.close()


async def test_every_replica_down_means_reads_on_the_primary(
    backend: Backend, tmp_path: Path, make_app: MakeApp, make_client: MakeClient
) -> None:
    if not backend.is_postgres:
        pytest.skip("replicas are PostgreSQL's")
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/vibes"
    async with make_client(database_replica_urls=[dead]) as c:
        assert (await c.get("/readyz")).status_code == 200
        assert (await c.get("/api/v1/journals")).status_code == 401


async def test_a_read_the_replica_refuses_is_answered_by_the_primary(
    backend: Backend, tmp_path: Path, make_app: MakeApp, make_client: MakeClient, quiet_checks: None
) -> None:
    """A statement the replica cancels (a conflict with its recovery, say) is not an
    outage: the request is answered by the primary, and the replica stays in use."""
    if not backend.is_postgres:
        pytest.skip("replicas are PostgreSQL's")
    settings = make_settings(
        backend, tmp_path / "data", database_replica_urls=[backend.database_url]
    )
    async with make_app(settings) as app, make_client(app) as c:
        database = app_runtime(app).database
        [replica] = database.replicas
        user = await make_authed_user(app)
        await as_if_long_ago(app, user)
        cancelled = []

        def conflict(*_: Any) -> None:
            if not cancelled:
                cancelled.append(True)
                raise OperationalError(
                    "SELECT", None, Exception("canceling statement due to conflict with recovery")
                )

        event.listen(replica.engine.sync_engine, "before_cursor_execute", conflict)
        try:
            answer = await c.get(
                "/api/v1/tags", headers={"Authorization": f"Bearer {user.access_token}"}
            )
        finally:
            event.remove(replica.engine.sync_engine, "before_cursor_execute", conflict)
        assert answer.status_code == 200, answer.text
        assert cancelled == [True]
        assert replica.usable


async def test_a_replayed_write_makes_its_user_read_from_the_primary(
    backend: Backend, tmp_path: Path, make_app: MakeApp, make_client: MakeClient, quiet_checks: None
) -> None:
    """The first attempt committed in a process that never noted the write (it died
    first; here: it has no replicas, so notes nothing): the retry, answered by replay in
    another process, notes it."""
    if not backend.is_postgres:
        pytest.skip("replicas are PostgreSQL's")
    plain = make_settings(backend, tmp_path / "data")
    with_replica = plain.model_copy(update={"database_replica_urls": [backend.database_url]})
    async with make_app(plain) as first, make_app(with_replica) as second:
        user = await make_authed_user(first)
        headers = {"Authorization": f"Bearer {user.access_token}", "Idempotency-Key": "k-1"}
        body = {"title": "once", "content": "c"}
        async with make_client(first) as c1, make_client(second) as c2:
            created = await c1.post("/api/v1/journals", json=body, headers=headers)
            assert created.status_code == 201
            served = Served(app_runtime(second).database)
            try:
                assert (await c2.get("/api/v1/journals", headers=headers)).status_code == 200
                assert served.take() == {"primary": 0, "replica": 1}
                again = await c2.post("/api/v1/journals", json=body, headers=headers)
                assert again.status_code == 201
                assert again.headers["idempotent-replayed"] == "true"
                served.take()
                assert (await c2.get("/api/v1/journals", headers=headers)).status_code == 200
                assert served.take() == {"primary": 1, "replica": 0}
            finally:
                served.close()


async def test_a_write_outside_a_request_marks_its_user_for_the_primary(
    backend: Backend, tmp_path: Path, make_app: MakeApp, quiet_checks: None
) -> None:
    """A worker's or the CLI's unit of work (`session_scope`) marks the users it touched,
    as a request's does: a reminder fired by a worker is read back fresh."""
    if not backend.is_postgres:
        pytest.skip("replicas are PostgreSQL's")
    settings = make_settings(
        backend, tmp_path / "data", database_replica_urls=[backend.database_url]
    )
    async with make_app(settings) as app:
        user = await make_authed_user(app)
        writers = app_runtime(app).recent_writers
        assert await writers.recent(str(user.id))
        await as_if_long_ago(app, user)
        assert not await writers.recent(str(user.id))
