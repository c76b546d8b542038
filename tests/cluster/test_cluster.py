"""A hosted Vibes on this machine, loopback only: a PostgreSQL primary and a streaming replica
(`pg_basebackup -R`), nginx in front of two `vibes serve` processes, two `vibes worker`
processes, Redis. One test, bounded, proving:

- reads are the replica's and writes the primary's: with the replica's replay paused, a
  row changed behind the app's back on the primary is read stale through nginx;
- read-your-writes: meanwhile a user who wrote through the API reads their write, from
  whichever process nginx picks (told through Redis);
- the lag bound: once the paused replica is more than VIBES_REPLICA_MAX_LAG_SECONDS behind,
  the same read is fresh (the replica is skipped, `/readyz` says "lagging"), and after
  replay resumes it is used again;
- stopping the replica, starting it again and stopping one API process (SIGTERM), all under load,
  cost no failed read through nginx, and no write is lost or doubled (a write cut by the
  stop is retried by its client with the same Idempotency-Key, as clients must);
- a reminder due during all this fires exactly once with two workers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pwd
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis

from tests.cluster.cluster import Cluster, missing_tools, sql
from tests.conftest import REDIS_URL
from tests.factories import make_session, make_user
from tests.waiting import wait_until
from vibes.accounts.tokens import issue_access_token
from vibes.config import Settings
from vibes.db import Database
from vibes.platform.keys import load_keyring

pytestmark = pytest.mark.slow  # real servers: PostgreSQL x2, nginx, four Vibes processes

API = "/api/v1"
MAX_LAG = 3.0
# Readers who never write during the load (their reads are the replica's), and writers.
READERS = 4
WRITERS = 2
LOAD_SECONDS = 6.0


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    missing = missing_tools()
    if not REDIS_URL:
        missing.append("a test Redis (VIBES_TEST_REDIS_URL)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {', '.join(missing)}: the cluster test would go untested")
        pytest.skip(f"no {', '.join(missing)} on this machine")
    if os.geteuid() == 0 and not _has_user("postgres"):
        pytest.skip("running as root, and no `postgres` account to run PostgreSQL as")
    made = Cluster(redis_url=REDIS_URL, max_lag_seconds=MAX_LAG)
    try:
        made.start()
        yield made
    finally:
        made.close()


@dataclass
class User:
    id: uuid.UUID
    headers: dict[str, str]


async def _users(cluster: Cluster, count: int) -> list[User]:
    """Accounts made on the primary directly (not through the API: nobody has written)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=cluster.data_dir, database_url=cluster.primary_url
    )
    keyring = load_keyring(settings)
    database = Database(settings)
    users = []
    try:
        for _ in range(count):
            user = await make_user(database)
            auth = await make_session(database, user.id)
            token, _ = issue_access_token(keyring, settings, user_id=user.id, session_id=auth.id)
            users.append(User(user.id, {"Authorization": f"Bearer {token}"}))
    finally:
        await database.dispose()
    return users


async def _title(http: httpx.AsyncClient, user: User, entry: str) -> str:
    response = await http.get(f"{API}/journals/{entry}", headers=user.headers)
    assert response.status_code == 200, response.text
    title: str = response.json()["title"]
    return title


async def _create(http: httpx.AsyncClient, user: User, title: str) -> str:
    response = await http.post(
        f"{API}/journals", json={"title": title, "content": "c"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    entry: str = response.json()["id"]
    return entry


async def _caught_up(cluster: Cluster) -> bool:
    [primary] = await sql(cluster.primary_url, "SELECT pg_current_wal_flush_lsn() AS lsn")
    [replica] = await sql(cluster.replica_url, "SELECT pg_last_wal_replay_lsn() AS lsn")
    return bool(replica["lsn"] is not None and replica["lsn"] >= primary["lsn"])


async def _stale_read_proves_the_replica_serves(
    cluster: Cluster, http: httpx.AsyncClient, reader: User, entry: str, title: str
) -> None:
    """With replay paused, change `entry`'s title on the primary behind the app's back:
    the reader still reads `title` (the replica's), then the new one once the replica is
    skipped for lagging; replay resumed, the replica catches up."""
    await wait_until(lambda: _caught_up(cluster), timeout=20, message="replica catches up")
    # The reader's own writes are long enough ago (read-your-writes no longer applies)...
    redis = Redis.from_url(cluster.redis_url or "")
    try:
        mark = f"{cluster.redis_prefix}wrote:{reader.id}"
        await wait_until(
            lambda: _gone(redis, mark), timeout=15, interval=0.1, message="no longer a writer"
        )
    finally:
        await redis.aclose()
    # ...and the processes' checks have seen the replica caught up.
    await asyncio.sleep(1.5)
    await sql(cluster.replica_url, "SELECT pg_wal_replay_pause()")
    try:
        changed = f"{title}-behind-{uuid.uuid4().hex[:6]}"
        await sql(
            cluster.primary_url, "UPDATE journals SET title = $1 WHERE id = $2", changed, entry
        )
        # The replica answers (it lags by less than the bound yet): the old title.
        await wait_until(
            lambda: _fresh(http, reader, entry, title),
            timeout=MAX_LAG,
            interval=0.1,
            message="a read answered by the paused replica",
        )
        started = time.monotonic()
        await wait_until(
            lambda: _fresh(http, reader, entry, changed),
            timeout=MAX_LAG + 10,
            interval=0.2,
            message="a replica behind by more than the bound is skipped",
        )
        assert time.monotonic() - started < MAX_LAG + 10
        await wait_until(
            lambda: _replica_status(http, "lagging"), timeout=5, message="/readyz says lagging"
        )
    finally:
        await sql(cluster.replica_url, "SELECT pg_wal_replay_resume()")
    await sql(cluster.primary_url, "UPDATE journals SET title = $1 WHERE id = $2", title, entry)


async def _replica_status(http: httpx.AsyncClient, status: str) -> bool:
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    return bool(ready.json()["checks"]["replica_1"] == status)


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)


async def _fresh(http: httpx.AsyncClient, user: User, entry: str, title: str) -> bool:
    return await _title(http, user, entry) == title


async def test_replica_routing_read_your_writes_and_failures_under_load(
    cluster: Cluster,
) -> None:
    users = await _users(cluster, 2 + READERS + WRITERS)
    writer, reader = users[0], users[1]
    readers, load_writers = users[2 : 2 + READERS], users[2 + READERS :]
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=30) as http:
        # A reminder due while everything below happens, with two workers polling.
        due_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
        reminder = await http.post(
            f"{API}/reminders",
            json={"title": "once", "remind_at": due_at.isoformat()},
            headers=writer.headers,
        )
        assert reminder.status_code == 201, reminder.text
        # Entries written through the API (their writers read the primary for a while).
        entries = {user.id: await _create(http, user, "first") for user in users}
        writer_entry, reader_entry = entries[writer.id], entries[reader.id]

        # Read-your-writes, while the replica replays nothing: the writer's fresh title is
        # read back at once through nginx, by both processes in turn.
        await wait_until(lambda: _caught_up(cluster), timeout=20, message="replica catches up")
        await sql(cluster.replica_url, "SELECT pg_wal_replay_pause()")
        try:
            for n in range(4):
                response = await http.patch(
                    f"{API}/journals/{writer_entry}",
                    json={"title": f"mine-{n}"},
                    headers={**writer.headers, "If-Match": "*"},
                )
                assert response.status_code == 200, response.text
                assert await _title(http, writer, writer_entry) == f"mine-{n}"
                assert await _title(http, writer, writer_entry) == f"mine-{n}"
        finally:
            await sql(cluster.replica_url, "SELECT pg_wal_replay_resume()")

        # Reads are the replica's (a stale read), and a lagging replica is skipped.
        await _stale_read_proves_the_replica_serves(cluster, http, reader, reader_entry, "first")

        # Load: readers read, writers write and read; mid-way the replica stops and starts
        # again, then one API process is stopped.
        statuses: Counter[str] = Counter()
        acknowledged: dict[str, int] = {}  # Idempotency-Key -> attempts it took
        stop_at = time.monotonic() + LOAD_SECONDS

        async def read_loop(user: User) -> None:
            entry = entries[user.id]
            while time.monotonic() < stop_at:
                for path in (f"{API}/journals/{entry}", f"{API}/journals"):
                    response = await http.get(path, headers=user.headers)
                    statuses[f"read {response.status_code}"] += 1

        async def write_loop(user: User) -> None:
            while time.monotonic() < stop_at:
                key = str(uuid.uuid4())
                for attempt in range(1, 6):
                    response = await http.post(
                        f"{API}/journals",
                        json={"title": key, "content": "load"},
                        headers={**user.headers, "Idempotency-Key": key},
                    )
                    statuses[f"write {response.status_code}"] += 1
                    if response.status_code == 201:
                        acknowledged[key] = attempt
                        break
                    assert response.status_code in (502, 503), response.text
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("a write was never acknowledged")
                response = await http.get(f"{API}/journals?limit=1", headers=user.headers)
                statuses[f"read {response.status_code}"] += 1
                assert response.json()["items"][0]["title"] == key  # read-your-writes

        async def faults() -> None:
            assert cluster.replica is not None
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.replica.stop)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.replica.start)
            await asyncio.sleep(1.5)
            # Stopped as systemd stops it (SIGTERM). A SIGKILL can cut a response nginx has
            # begun to relay (headers sent, body not): no proxy can hide that from a client.
            await asyncio.to_thread(cluster.stop, cluster.apis[0])

        await asyncio.gather(
            *(read_loop(user) for user in readers),
            *(write_loop(user) for user in load_writers),
            faults(),
        )
        reads = sum(n for status, n in statuses.items() if status.startswith("read"))
        failed_reads = {
            s: n for s, n in statuses.items() if s.startswith("read ") and s != "read 200"
        }
        assert not failed_reads, (statuses, cluster.logs())
        assert reads > 50, statuses
        # Every acknowledged write is there exactly once.
        rows = await sql(
            cluster.primary_url,
            "SELECT title, count(*) AS n FROM journals WHERE content = 'load' GROUP BY title",
        )
        assert {row["title"]: row["n"] for row in rows} == dict.fromkeys(acknowledged, 1)

        # The replica is back in use after its restart (and the dead process is not needed).
        await _stale_read_proves_the_replica_serves(cluster, http, reader, reader_entry, "first")

        # The reminder fired once, with two workers.
        async def fired() -> int:
            [row] = await sql(
                cluster.primary_url,
                "SELECT count(*) AS n FROM outbox_events WHERE type = 'reminder.due'"
                " AND user_id = $1",
                writer.id,
            )
            return int(row["n"])

        await wait_until(fired, timeout=10, message="the reminder fires")
        assert all(worker.alive() for worker in cluster.workers)
        await asyncio.sleep(0.5)  # both workers polled again meanwhile
        assert await fired() == 1
