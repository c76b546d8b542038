"""A hosted Vibes on loopback: a PostgreSQL primary and its streaming replica (private
servers, `pg_basebackup -R`), `vibes serve` processes behind nginx, `vibes worker`
processes, and the shared test Redis under a namespace of its own.

Used by the cluster test (tests/cluster) and the cluster benchmark (bench/cluster.py).
Everything runs as real processes in a temporary folder and is stopped on `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from tests.events.servers import free_port
from tests.faults.postgres import PrivatePostgres, find_postgres_bin

NGINX = "/usr/sbin/nginx"

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{sites}
}}
"""

# As deploy/nginx/vibes.conf, on plain HTTP: the least busy process, a process that fails
# is left alone for a while, idempotent requests go to the next one.
NGINX_SITE = """\
    upstream vibes_api_{port} {{
        least_conn;
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 8m;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_connect_timeout 2s;
        proxy_read_timeout 60s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 2;
        location / {{
            proxy_pass http://vibes_api_{port};
        }}
    }}
"""


def missing_tools() -> list[str]:
    """What this machine lacks to run a cluster."""
    missing = [
        name for name in ("initdb", "postgres", "pg_basebackup") if find_postgres_bin(name) is None
    ]
    if not os.path.exists(NGINX) and shutil.which("nginx") is None:
        missing.append("nginx")
    return missing


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def sql(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn(url), timeout=5)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    port: int | None = None

    def alive(self) -> bool:
        return self.process.poll() is None


class Cluster:
    """Start with `start()`, stop everything with `close()` (safe after a failed start)."""

    def __init__(
        self,
        *,
        redis_url: str | None,
        apis: int = 2,
        workers: int = 2,
        replica: bool = True,
        max_lag_seconds: float = 3.0,
        pool_size: int = 4,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.api_count = apis
        self.worker_count = workers
        self.with_replica = replica
        self.max_lag_seconds = max_lag_seconds
        self.pool_size = pool_size
        self.extra_env = extra_env or {}
        # Outside pytest's tmp_path: nginx's workers and PostgreSQL may run as other users.
        self.root = Path(tempfile.mkdtemp(prefix="vibes-cluster-"))
        os.chmod(self.root, 0o755)
        self.data_dir = self.root / "vibes-data"
        self.primary: PrivatePostgres | None = None
        self.replica: PrivatePostgres | None = None
        self.apis: list[Process] = []
        self.workers: list[Process] = []
        self.nginx: Process | None = None
        self.port = free_port()
        self.redis_prefix = f"vibes-cluster:{uuid.uuid4().hex}:"

    # -- the databases ------------------------------------------------------------------

    @property
    def primary_url(self) -> str:
        assert self.primary is not None
        return self.primary.url

    @property
    def replica_url(self) -> str:
        assert self.replica is not None
        return self.replica.url

    def start_databases(self) -> None:
        from vibes import migrations

        self.primary = PrivatePostgres()
        self.primary.start()
        with ThreadPoolExecutor(1) as pool:
            # The replica is copied and started while the schema is made: it streams it.
            made = pool.submit(self._start_replica) if self.with_replica else None
            asyncio.run(migrations.upgrade(self.primary.url))
            if made is not None:
                made.result()

    def _start_replica(self) -> None:
        assert self.primary is not None
        self.replica = PrivatePostgres(replica_of=self.primary)
        self.replica.start()

    # -- Vibes processes ----------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
        env.update(
            VIBES_DATABASE_URL=self.primary_url,
            VIBES_DATA_DIR=str(self.data_dir),
            VIBES_RUN_DISPATCHER="false",
            VIBES_RATE_LIMITS_ENABLED="false",
            VIBES_DATABASE_POOL_SIZE=str(self.pool_size),
            VIBES_REPLICA_MAX_LAG_SECONDS=str(self.max_lag_seconds),
            VIBES_DISPATCHER_POLL_SECONDS="0.2",
            VIBES_LOG_LEVEL="WARNING",
            VIBES_REDIS_PREFIX=self.redis_prefix,
        )
        if self.redis_url:
            env["VIBES_REDIS_URL"] = self.redis_url
        if self.replica is not None:
            env["VIBES_DATABASE_REPLICA_URLS"] = self.replica_url
        env.update(self.extra_env)
        return env

    def _spawn(
        self, name: str, args: list[str], *, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "vibes.cli.main", *args],
                env=env or self.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def start_api(self, index: int, *, replica: bool = True) -> Process:
        port = free_port()
        env = self.env()
        if not replica:
            env.pop("VIBES_DATABASE_REPLICA_URLS", None)
        process = self._spawn(
            f"api{index}", ["serve", "--port", str(port), "--no-migrate", "--workers", "1"], env=env
        )
        return Process(f"api{index}", process, port)

    def replica_for_api(self, index: int) -> bool:
        """Whether API process `index` reads from the replica (all do, when there is one)."""
        return True

    def start_vibes(self) -> None:
        from vibes.config import Settings
        from vibes.platform.keys import load_keyring

        # The key file, made once before the processes that share it start.
        load_keyring(Settings(_env_file=None, data_dir=self.data_dir))  # type: ignore[call-arg]
        self.apis = [
            self.start_api(i, replica=self.replica_for_api(i)) for i in range(self.api_count)
        ]
        self.workers = [
            Process(f"worker{i}", self._spawn(f"worker{i}", ["worker"]))
            for i in range(self.worker_count)
        ]
        deadline = time.monotonic() + 60
        for api in self.apis:
            assert api.port is not None
            self._wait_http(f"http://127.0.0.1:{api.port}/readyz", api, deadline)

    def _wait_http(self, url: str, process: Process, deadline: float) -> None:
        while True:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited; see {self.root}/{process.name}.log")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} not ready at {url}")
            time.sleep(0.1)

    # -- nginx --------------------------------------------------------------------------

    def _nginx_bin(self) -> str:
        return NGINX if os.path.exists(NGINX) else shutil.which("nginx") or NGINX

    def _nginx_args(self, conf: Path) -> list[str]:
        errors = str(self.root / "nginx.err")
        return [self._nginx_bin(), "-p", str(self.root), "-c", str(conf), "-e", errors]

    def _write_nginx_conf(self) -> Path:
        sites = []
        for port, apis in self.sites().items():
            servers = "\n".join(
                f"        server 127.0.0.1:{api.port} max_fails=2 fail_timeout=10s;" for api in apis
            )
            sites.append(NGINX_SITE.format(port=port, servers=servers))
        conf = self.root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=self.root, sites="".join(sites)))
        return conf

    def sites(self) -> dict[int, list[Process]]:
        """nginx's ports and the API processes behind each: all of them on `self.port`."""
        return {self.port: self.apis}

    def start_nginx(self) -> None:
        conf = self._write_nginx_conf()
        with (self.root / "nginx.log").open("ab") as log:
            process = subprocess.Popen(
                self._nginx_args(conf),
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        self.nginx = Process("nginx", process, self.port)
        self._wait_http(f"{self.base_url}/readyz", self.nginx, time.monotonic() + 30)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the whole ----------------------------------------------------------------------

    def start(self) -> None:
        self.start_databases()
        self.start_vibes()
        self.start_nginx()

    def stop(self, process: Process, timeout: float = 20) -> None:
        """SIGTERM, as systemd stops a unit: the process finishes the requests it has and
        exits; nginx sends the next ones to the other process."""
        if not process.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            process.process.send_signal(signal.SIGTERM)
        try:
            process.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(process)

    def kill(self, process: Process) -> None:
        if not process.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            process.process.send_signal(signal.SIGKILL)
        process.process.wait()

    def close(self) -> None:
        """Everything killed (nothing here outlives the test), the folders removed."""
        for process in [*self.apis, *self.workers]:
            self.kill(process)
        if self.nginx is not None and self.nginx.alive():
            # Its own process group: the master and its worker at once.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.nginx.process.pid, signal.SIGKILL)
            self.nginx.process.wait()
        for server in (self.replica, self.primary):
            if server is not None:
                if server.process is not None:
                    server.kill()
                server.close()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.redis_url:
            self._clear_redis()

    def _clear_redis(self) -> None:
        from redis import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(self.redis_url or "", socket_timeout=2)
        try:
            keys = list(client.scan_iter(match=self.redis_prefix + "*"))
            if keys:
                client.delete(*keys)
        except RedisError:
            pass  # the shared test Redis is gone: nothing of ours to leave behind either
        finally:
            client.close()

    def logs(self) -> str:
        """The processes' error output (for a failing test's message)."""
        parts = []
        for path in sorted(self.root.glob("*.log")):
            text = path.read_text(errors="replace").strip()
            if text:
                parts.append(f"--- {path.name}\n{text[-12000:]}")
        return "\n".join(parts)
