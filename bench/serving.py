"""What the overload and soak benchmarks share: a private database, `vibes serve` as a real
subprocess on loopback, accounts with tokens, and latency percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

API = "/api/v1"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PrivateDatabase:
    """A PostgreSQL database of its own on the given server, dropped at the end."""

    def __init__(self, admin_url: str, prefix: str) -> None:
        self.admin_url = admin_url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(False)

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(_dsn(self.admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def __enter__(self) -> PrivateDatabase:
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU from /proc (0 once it is gone, or where it cannot be
    read: PostgreSQL on another host)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bare:
    """`bench/bare.py` under uvicorn with its defaults (as `vibes serve` runs): the
    ratios' denominator."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "bare:app"),
                *("--app-dir", str(Path(__file__).resolve().parent)),
                *("--port", str(self.port), "--no-access-log", "--log-level", "warning"),
            ],
        )

    async def wait_ready(self) -> None:
        for _ in range(150):
            try:
                status, _, _ = await Connection(self.port).request("GET", "/bare")
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError("bare server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


class VibesServer:
    """`vibes serve` in a subprocess of its own, as an operator runs it."""

    def __init__(
        self, database_url: str | None, *, extra_args: list[str] | None = None, **env: str
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="vibes-bench-"))
        environment = {
            **os.environ,
            "VIBES_DATA_DIR": str(self.data_dir),
            "VIBES_RATE_LIMITS_ENABLED": "false",
            "VIBES_ACCESS_LOG": "false",
            "VIBES_LOG_LEVEL": "WARNING",
            # Tokens outlive the longest run (the soak): a refresh cycle is not under test.
            "VIBES_ACCESS_TOKEN_MINUTES": "240",
            **env,
        }
        if database_url:
            environment["VIBES_DATABASE_URL"] = database_url
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("vibes")),
                "serve",
                "--port",
                str(self.port),
                # One process unless told otherwise: the benchmarks measure one.
                *(extra_args or ["--workers", "1"]),
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vibes serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("vibes serve did not become ready")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> VibesServer:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


async def make_users(base: str, count: int) -> list[str]:
    """Registers `count` accounts and returns one access token each."""
    password = "soak test passphrase " + secrets.token_hex(8)
    tokens: list[str] = []
    async with httpx.AsyncClient(base_url=base + API, timeout=30) as client:
        for i in range(count):
            email = f"bench{i}-{secrets.token_hex(3)}@example.com"
            response = await client.post(
                "/auth/register", json={"email": email, "password": password}
            )
            response.raise_for_status()
            response = await client.post("/auth/login", json={"email": email, "password": password})
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
    return tokens


def entry_body(rng: Any, i: int) -> dict[str, Any]:
    words = ["morning", "walk", "harbour", "coffee", "quiet", "rain", "letter", "garden"]
    return {
        "title": f"Bench entry {i}",
        "content": " ".join(rng.choice(words) for _ in range(rng.randint(20, 80))),
        "tags": rng.sample([f"tag{j}" for j in range(8)], 2),
        "mood_rating": rng.randint(1, 10),
    }


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def when(label: str) -> str:
    """Wall-clock time and load average: figures from a busy machine are not comparable."""
    one, five, fifteen = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return f"{label}: {stamp}, load average {one:.2f} {five:.2f} {fifteen:.2f}"


class Connection:
    """One keep-alive HTTP/1.1 connection on loopback, as lean as a load generator must be:
    httpx spends far more CPU per request than the server under test (measured: about
    150 req/s out of one process), so it measured itself."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
            status_line = await self.reader.readuntil(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            answer_headers: dict[str, str] = {}
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                answer_headers[name.strip().lower()] = value.strip()
            length = int(answer_headers.get("content-length", "0"))
            content = await self.reader.readexactly(length) if length else b""
        except BaseException:
            self.close()
            raise
        if answer_headers.get("connection", "").lower() == "close":
            self.close()
        return status, answer_headers, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# wrk: the script's `done` prints one JSON line that `run_wrk` reads.
LUA_DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50":%d,"p95":%d,"p99":%d,"non2xx":%d,' ..
    '"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
"""


# Each wrk thread seeds Lua's random numbers differently (else they all draw the same).
LUA_SEEDED = (
    "setup = function(thread) thread:set('seed', math.random(1, 1000000)) end\n"
    "init = function(args) math.randomseed(os.time() + (seed or 0)) end\n"
)


def write_wrk_scripts(folder: Path, common: str, scenarios: dict[str, str]) -> dict[str, Path]:
    """One wrk script per scenario: `common`, the scenario's request function, the result
    printer; returns their paths by name."""
    paths = {}
    for name, body in scenarios.items():
        paths[name] = folder / f"{name}.lua"
        paths[name].write_text(common + body + LUA_DONE)
    return paths


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_array(values: list[str]) -> str:
    return "{" + ",".join(lua_string(v) for v in values) + "}"


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result
