"""`vibes serve` and `vibes db ...` as an operator runs them: real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend
from tests.waiting import wait_until_blocking
from vibes import migrations

VIBES = [sys.executable, "-m", "vibes.cli.main"]

# Real processes: `vibes serve` and `vibes db` run as an operator runs them.
pytestmark = pytest.mark.slow


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(values)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_server(cwd: Path, port: int) -> subprocess.Popen[bytes]:
    with (cwd / "server.log").open("ab") as log:
        return subprocess.Popen(
            [*VIBES, "serve", "--port", str(port)],
            cwd=cwd,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    def ready() -> bool:
        assert proc.poll() is None, "server exited early; see server.log"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until_blocking(ready, timeout=timeout, message="server did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an orchestrator sends it."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


def test_serve_with_no_settings_makes_its_data_folder_and_keeps_it(tmp_path: Path) -> None:
    port = _free_port()
    proc = _start_server(tmp_path, port)
    try:
        _wait_ready(port, proc)
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200
        missing = httpx.get(f"http://127.0.0.1:{port}/nowhere")
        assert missing.headers["content-type"].startswith("application/problem+json")
    finally:
        _stop(proc)
    # Graceful: in-flight requests drained, lifespan shutdown ran.
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()

    data = tmp_path / "vibes-data"
    assert (data / "vibes.db").exists()
    keys = (data / "keys.json").read_bytes()
    assert (data / "keys.json").stat().st_mode & 0o777 == 0o600

    proc = _start_server(tmp_path, port)
    try:
        _wait_ready(port, proc)
    finally:
        _stop(proc)
    assert (data / "keys.json").read_bytes() == keys


def test_db_commands_upgrade_report_and_downgrade(
    backend: Backend, empty_database_url: str, tmp_path: Path
) -> None:
    env = _env(VIBES_DATABASE_URL=empty_database_url, VIBES_DATA_DIR=str(tmp_path / "d"))

    def vibes(*args: str) -> str:
        done = subprocess.run(
            [*VIBES, *args], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert vibes("db", "current") == "base"
    vibes("db", "upgrade")
    assert vibes("db", "current") == migrations.head_revision()
    vibes("db", "downgrade", "base")
    assert vibes("db", "current") == "base"
    vibes("db", "upgrade", "head")
    assert vibes("db", "current") == migrations.head_revision()


def test_operator_makes_accounts_and_invite_codes(tmp_path: Path) -> None:
    """`vibes users add` (the way in when registration is closed), `vibes invites create`
    (codes for VIBES_REGISTRATION=invite)."""
    env = _env(VIBES_DATA_DIR=str(tmp_path / "d"), VIBES_REGISTRATION="closed")

    def vibes(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VIBES, *args], env=env, cwd=tmp_path, capture_output=True, text=True, input=stdin
        )

    assert vibes("db", "upgrade").returncode == 0
    password = "violet kettle drums at noon"
    added = vibes("users", "add", "ada@example.com", "--password-stdin", stdin=password + "\n")
    assert added.returncode == 0, added.stderr
    assert "created account" in added.stdout
    again = vibes("users", "add", "ADA@example.com", "--password-stdin", stdin=password + "\n")
    assert again.returncode == 1
    assert "already exists" in again.stdout + again.stderr
    weak = vibes("users", "add", "bob@example.com", "--password-stdin", stdin="password\n")
    assert weak.returncode == 1

    made = vibes("invites", "create", "--count", "2", "--days", "3")
    assert made.returncode == 0, made.stderr
    codes = made.stdout.split()
    assert len(codes) == 2
    assert all(code.startswith("vibes_inv_") for code in codes)
