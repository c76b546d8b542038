"""A Redis server of the test's own on a free port, to stop and start again.

The shared test Redis must never be stopped; this one lives for one test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from tests.events.servers import free_port


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the private Redis did not start")

    def kill(self) -> None:
        """SIGKILL: connections drop at once, as in a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    close = kill
