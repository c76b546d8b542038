"""`vibes serve --workers N`: real processes sharing one port, and what they must share.

Which worker answers a request is the kernel's choice: a test finds out through /proc
(the server side of the test's connection, and which worker holds that socket) and sends
a request to a given worker on a connection that landed there. No debug hook in the app.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from typer.testing import CliRunner

from tests.cli.test_server_commands import VIBES, _env, _free_port
from tests.conftest import PG_URL, REDIS_URL, create_database, drop_database, run_coroutine
from tests.waiting import wait_until_blocking
from vibes.cli.main import app as cli_app
from vibes.cli.server import default_workers, workers_refusal
from vibes.config import Settings

API = "/api/v1"
PASSWORD = "a long enough password for the test 1"
PHRASE = "a secret phrase long enough"


def test_one_worker_by_default_unless_postgresql_and_redis(tmp_path: Path) -> None:
    sqlite = Settings(data_dir=tmp_path)
    postgres = Settings(database_url="postgresql+asyncpg://db/x")
    shared = Settings(database_url="postgresql+asyncpg://db/x", redis_url="redis://r")
    assert default_workers(sqlite) == 1
    assert default_workers(Settings(data_dir=tmp_path, redis_url="redis://r")) == 1
    assert default_workers(postgres) == 1
    assert default_workers(shared) == len(os.sched_getaffinity(0))
    assert workers_refusal(sqlite, 1) is None
    assert workers_refusal(shared, 4) is None


@pytest.mark.parametrize(
    ("env", "needs"),
    [
        ({}, "needs PostgreSQL"),
        ({"VIBES_DATABASE_URL": "postgresql+asyncpg://127.0.0.1:9/x"}, "needs Redis"),
    ],
)
def test_serve_refuses_several_workers_that_could_not_share_their_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needs: str
) -> None:
    for name in [name for name in os.environ if name.startswith("VIBES_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VIBES_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert needs in " ".join(result.output.split())
    assert not (tmp_path / "data").exists()  # refused before anything was made


# --- two workers on PostgreSQL and Redis -------------------------------------------------


def _children(parent: int) -> list[int]:
    """The uvicorn workers of `parent` (multiprocessing's spawned processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _hex_address(port: int) -> str:
    return f"0100007F:{port:04X}"


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the loopback connection from `client_port`."""
    local, remote = _hex_address(server_port), _hex_address(client_port)
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    return None


def _holder(inode: str, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    return None


def _metrics_folder(worker: int) -> Path:
    """The serve's folder, as its parent handed it to the worker."""
    for item in Path(f"/proc/{worker}/environ").read_bytes().split(b"\0"):
        name, _, value = item.partition(b"=")
        if name == b"PROMETHEUS_MULTIPROC_DIR":
            return Path(value.decode())
    raise AssertionError("the worker has no PROMETHEUS_MULTIPROC_DIR")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        return _children(self.proc.pid)

    def client_on(self, pid: int) -> httpx.Client:
        """A client whose one kept-alive connection is served by worker `pid`."""
        for _ in range(200):
            client = httpx.Client(
                base_url=self.base, timeout=30, limits=httpx.Limits(max_connections=1)
            )
            probe = client.get("/healthz")
            client_port = probe.extensions["network_stream"].get_extra_info("client_addr")[1]
            inode = _socket_inode(self.port, client_port)
            if inode is not None and _holder(inode, [pid]) == pid:
                return client
            client.close()
        raise AssertionError(f"no connection landed on worker {pid}")

    def on(self, pid: int, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request answered by worker `pid`."""
        with contextlib.closing(self.client_on(pid)) as client:
            return client.request(method, path, **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not PG_URL or not REDIS_URL:
        pytest.skip("needs VIBES_TEST_DATABASE_URL and VIBES_TEST_REDIS_URL")
    root = tmp_path_factory.mktemp("workers")
    url = run_coroutine(create_database("vibes_workers"))
    prefix = f"vibes-workers-test:{uuid.uuid4().hex}:"
    port = _free_port()
    env = _env(
        VIBES_DATABASE_URL=url,
        VIBES_REDIS_URL=REDIS_URL,
        VIBES_REDIS_PREFIX=prefix,
        VIBES_DATA_DIR=str(root / "data"),
        # The embedded dispatcher, on PostgreSQL too: one worker of the two must run it.
        VIBES_RUN_DISPATCHER="true",
        VIBES_DISPATCHER_POLL_SECONDS="0.2",
        VIBES_RATE_LIMIT_LOGIN_ACCOUNT="3/15 minutes",
        # No ping within the client's read timeout: a stream that never gets its event
        # fails the test instead of waiting on pings.
        VIBES_EVENTS_HEARTBEAT_SECONDS="120",
    )
    log = root / "server.log"
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [*VIBES, "serve", "--workers", "2", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    result = Served(proc, port, log)

    def both_started() -> bool:
        assert proc.poll() is None, "serve exited early; see server.log"
        return log.read_text().count("Application startup complete") >= 2

    try:
        wait_until_blocking(both_started, timeout=90, message="workers did not start")
        assert len(result.workers()) == 2
        yield result
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        run_coroutine(drop_database(url))
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def _register(served: Served, pid: int) -> tuple[str, dict[str, str], str]:
    """A new account signed in through worker `pid`: email, auth headers, refresh token."""
    email = f"w-{uuid.uuid4().hex[:10]}@example.com"
    made = served.on(
        pid, "POST", f"{API}/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert made.status_code == 201, made.text
    login = served.on(pid, "POST", f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    return email, {"Authorization": f"Bearer {tokens['access_token']}"}, tokens["refresh_token"]


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rpartition(" ")[2])
    return total


@pytest.mark.slow
def test_a_vault_unlocked_through_one_worker_is_unlocked_in_the_other(served: Served) -> None:
    a, b = served.workers()
    _, auth, _ = _register(served, a)
    tag = served.on(
        a, "POST", f"{API}/secret-tags", json={"name": "s", "phrase": PHRASE}, headers=auth
    )
    assert tag.status_code == 201, tag.text
    unlocked = served.on(
        a, "POST", f"{API}/secret-tags/unlock", json={"phrase": PHRASE}, headers=auth
    )
    assert unlocked.status_code == 200, unlocked.text
    vault = {**auth, "X-Vibes-Unlock": unlocked.json()["unlock_token"]}
    body = {"title": "hidden", "content": "only with the phrase", "secret_tag_id": tag.json()["id"]}
    created = served.on(a, "POST", f"{API}/journals", json=body, headers=vault)
    assert created.status_code == 201, created.text
    path = f"{API}/journals/{created.json()['id']}"

    read = served.on(b, "GET", path, headers=vault)
    assert read.status_code == 200, read.text
    assert read.json()["content"] == "only with the phrase"
    assert served.on(b, "GET", path, headers=auth).status_code == 404

    assert served.on(b, "POST", f"{API}/secret-tags/lock", headers=vault).status_code in (200, 204)
    assert served.on(a, "GET", path, headers=vault).status_code == 404


@pytest.mark.slow
def test_a_session_revoked_through_one_worker_is_revoked_in_both(served: Served) -> None:
    a, b = served.workers()
    _, auth, refresh = _register(served, a)
    for pid in (a, b):  # each worker has seen the session alive (and cached it)
        assert served.on(pid, "GET", f"{API}/users/me", headers=auth).status_code == 200
    out = served.on(a, "POST", f"{API}/auth/logout", json={"refresh_token": refresh}, headers=auth)
    assert out.status_code == 204, out.text
    for pid in (b, a):
        assert served.on(pid, "GET", f"{API}/users/me", headers=auth).status_code == 401


@pytest.mark.slow
def test_rate_limits_count_attempts_made_through_every_worker(served: Served) -> None:
    a, b = served.workers()
    email, _, _ = _register(served, a)  # one attempt of the budget of 3
    wrong = {"email": email, "password": "not the password at all 1"}
    assert served.on(b, "POST", f"{API}/auth/login", json=wrong).status_code == 401
    assert served.on(a, "POST", f"{API}/auth/login", json=wrong).status_code == 401
    refused = served.on(b, "POST", f"{API}/auth/login", json=wrong)
    assert refused.status_code == 429, refused.text


@pytest.mark.slow
def test_a_live_stream_gets_the_events_of_writes_made_through_the_other_worker(
    served: Served,
) -> None:
    a, b = served.workers()
    _, auth, _ = _register(served, a)
    with (
        contextlib.closing(served.client_on(b)) as listener,
        listener.stream("GET", f"{API}/events", headers=auth) as stream,
    ):
        assert stream.status_code == 200
        created = served.on(
            a, "POST", f"{API}/journals", json={"title": "t", "content": "c"}, headers=auth
        )
        assert created.status_code == 201, created.text
        for line in stream.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("type") == "journal.created":
                    assert event["data"]["id"] == created.json()["id"]
                    break


@pytest.mark.slow
def test_metrics_sum_every_worker_and_one_worker_dispatches(served: Served) -> None:
    a, b = served.workers()
    before = _metric(
        httpx.get(f"{served.base}/metrics").text, "vibes_http_requests_total", route="/readyz"
    )
    for pid in (a, a, a, b, b, b):
        assert served.on(pid, "GET", "/readyz").status_code == 200
    text = httpx.get(f"{served.base}/metrics").text
    # Neither worker answered six of them: only the sum of both shows them all.
    assert _metric(text, "vibes_http_requests_total", route="/readyz") - before == 6
    # Each worker samples its pool once a second: wait for a sample, not for luck.
    wait_until_blocking(
        lambda: (
            _metric(
                httpx.get(f"{served.base}/metrics").text,
                "vibes_db_pool_connections_idle",
                pool="primary",
            )
            >= 1
        ),
        timeout=10,
        message="no idle pooled connection sampled",
    )

    folder = _metrics_folder(a)
    lock = os.stat(folder / "dispatcher.lock").st_ino
    holders = [
        line.split()[4]
        for line in Path("/proc/locks").read_text().splitlines()
        if "FLOCK" in line and line.split()[5].endswith(f":{lock}")
    ]
    assert len(holders) == 1
    assert int(holders[0]) in (a, b)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_leaves_the_live_gauges(served: Served) -> None:
    """Last in this module: it replaces a worker, then stops the serve."""
    a, b = served.workers()
    folder = _metrics_folder(a)
    wait_until_blocking(
        lambda: (folder / f"gauge_livesum_{b}.db").exists(), timeout=10, message="no pool sample"
    )
    os.kill(b, signal.SIGKILL)
    wait_until_blocking(
        lambda: len(served.workers()) == 2 and b not in served.workers(),
        timeout=60,
        message="the killed worker was not replaced",
    )
    wait_until_blocking(
        lambda: not (folder / f"gauge_livesum_{b}.db").exists(),
        timeout=30,
        message="the dead worker's live gauges stayed",
    )
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=30) == 0
    assert not folder.exists()
    # Search terms stay out of the log: uvicorn's access lines carry query strings.
    assert "uvicorn.access" not in served.log.read_text()


def test_serve_starts_no_worker_when_the_schema_upgrade_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("VIBES_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VIBES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIBES_DATABASE_URL", f"postgresql+asyncpg://127.0.0.1:{_free_port()}/x")
    monkeypatch.setenv("VIBES_REDIS_URL", "redis://127.0.0.1:9/0")
    result = CliRunner().invoke(cli_app, ["serve", "--workers", "2", "--port", str(_free_port())])
    assert result.exit_code == 1
    assert "no worker started" in result.output


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    if not PG_URL or not REDIS_URL:
        pytest.skip("needs VIBES_TEST_DATABASE_URL and VIBES_TEST_REDIS_URL")
    url = run_coroutine(create_database("vibes_workers"))
    log = tmp_path / "server.log"
    env = _env(
        VIBES_DATABASE_URL=url,
        VIBES_REDIS_URL=REDIS_URL,
        VIBES_REDIS_PREFIX=f"vibes-workers-test:{uuid.uuid4().hex}:",
        VIBES_DATA_DIR=str(tmp_path / "data"),
    )
    try:
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [*VIBES, "serve", "--workers", "2", "--port", str(_free_port())],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        wait_until_blocking(
            lambda: log.read_text().count("Application startup complete") >= 2,
            timeout=90,
            message="workers did not start",
        )
        workers = _children(proc.pid)
        assert len(workers) == 2
        # A killed parent cannot remove its folder (under systemd, PrivateTmp= does).
        folder = _metrics_folder(workers[0])
        proc.kill()
        proc.wait()
        wait_until_blocking(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers),
            timeout=30,
            message="workers outlived their killed parent",
        )
        shutil.rmtree(folder)
    finally:
        run_coroutine(drop_database(url))
