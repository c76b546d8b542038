"""A PostgreSQL server of the test's own (its own `initdb`, folder and port), to kill -9.

The shared test server must never be killed; this one lives for one test. Run as root
(containers, CI images), PostgreSQL refuses to start, so it then runs as `postgres`.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from tests.events.servers import free_port


def find_postgres_bin(name: str) -> str | None:
    """`name` from the newest PostgreSQL under /usr/lib/postgresql (Debian keeps the
    server binaries off PATH), else from PATH."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return candidates[-1] if candidates else shutil.which(name)


class PrivatePostgres:
    """`replica_of`: a streaming replica of that (started) server, made with
    `pg_basebackup -R` instead of `initdb`."""

    def __init__(self, *, replica_of: PrivatePostgres | None = None) -> None:
        initdb, postgres = find_postgres_bin("initdb"), find_postgres_bin("postgres")
        assert initdb is not None
        assert postgres is not None
        self.postgres = postgres
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
        # Not under pytest's tmp_path: its parents are private to root, and the server
        # may run as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="vibes-faults-pg-"))
        self.data = self.root / "data"
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if replica_of is not None:
            basebackup = find_postgres_bin("pg_basebackup")
            assert basebackup is not None
            subprocess.run(
                [
                    *(basebackup, "-h", "127.0.0.1", "-p", str(replica_of.port)),
                    *("-U", "postgres", "-D", str(self.data), "-R", "-X", "stream"),
                    *("--no-sync", "--checkpoint=fast"),
                ],
                check=True,
                capture_output=True,
                user=self.user,
            )
            return
        subprocess.run(
            [
                *(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres"),
                *("-E", "UTF8", "--no-locale", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            user=self.user,
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Starts the server (recovering from its WAL after a crash) and waits until it
        takes connections."""
        self.process = subprocess.Popen(
            [
                *(self.postgres, "-D", str(self.data), "-p", str(self.port)),
                *("-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}"),
                *("-c", "max_connections=100", "-c", "shared_buffers=16MB"),
            ],
            user=self.user,
            # Its own process group: a kill -9 takes the postmaster and every backend at
            # once, as a crash of the machine or container would.
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                asyncio.run(self._ping())
                return
            except (OSError, asyncpg.PostgresError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    async def _ping(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=2)
        await conn.close()

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """A fast shutdown (sessions cut, no crash recovery needed): start() again later."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
