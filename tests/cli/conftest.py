"""A real `vibes serve` for the terminal client's tests, one per backend and pytest
process (free port, temporary data folder; on PostgreSQL a private database of its own),
and the client run in process through Typer's CliRunner with its own config folder."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.conftest import PG_URL, REDIS_URL, create_database, drop_database, run_coroutine
from tests.waiting import wait_until_blocking
from vibes.cli.main import app

API = "/api/v1"
PASSWORD = "violet kettle drums at noon"
VIBES = [sys.executable, "-m", "vibes.cli.main"]
CLIENT_BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIBES_", "XDG_"))}
    env.update(values)
    return env


@dataclass
class Server:
    url: str
    backend: str
    http: httpx.Client

    def register(self, name: str = "user", timezone: str = "Europe/Berlin") -> str:
        email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
        response = self.http.post(
            f"{API}/auth/register",
            json={"email": email, "password": PASSWORD, "timezone": timezone},
        )
        assert response.status_code == 201, response.text
        return email

    def token(self, email: str) -> str:
        response = self.http.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def _serve(backend: str, folder: Path, template: Path | None = None) -> Iterator[Server]:
    """`vibes serve` as a subprocess (on SQLite: a copy of the suite's migrated template)."""
    env = clean_env(
        VIBES_DATA_DIR=str(folder / "data"),
        VIBES_LOG_LEVEL="WARNING",
        # Every test makes its accounts from one address; the limits stay on otherwise.
        VIBES_RATE_LIMIT_REGISTER_ADDRESS="1000/hour",
        VIBES_RATE_LIMIT_LOGIN_ADDRESS="1000/15 minutes",
    )
    database = None
    migrate = "--migrate"
    if template is not None:
        (folder / "data").mkdir(mode=0o700)
        shutil.copyfile(template, folder / "data" / "vibes.db")
        migrate = "--no-migrate"
    if backend == "postgresql":
        database = run_coroutine(create_database("vibes_cli"))
        env["VIBES_DATABASE_URL"] = database
        if REDIS_URL:
            env["VIBES_REDIS_URL"] = REDIS_URL
            env["VIBES_REDIS_PREFIX"] = f"vibes-test:{uuid.uuid4().hex}:"
    port = free_port()
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen(
        [*VIBES, "serve", "--port", str(port), migrate],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, (folder / "server.log").read_text()
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until_blocking(ready, timeout=90, message="vibes serve did not become ready")
        with httpx.Client(base_url=base, timeout=30) as http:
            yield Server(base, backend, http)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if database is not None:
            run_coroutine(drop_database(database))


@pytest.fixture(scope="session")
def sqlite_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Server]:
    yield from _serve("sqlite", tmp_path_factory.mktemp("server-sqlite"), sqlite_template)


@pytest.fixture(scope="session")
def postgresql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """On a private database of its own (and Redis when the suite has one)."""
    yield from _serve("postgresql", tmp_path_factory.mktemp("server-postgresql"))


@pytest.fixture(scope="session", params=CLIENT_BACKENDS)
def server(request: pytest.FixtureRequest) -> Server:
    """The server of each backend, one per pytest process, shared by the client's tests.
    A module whose server side is the same on both overrides this with `sqlite_server`."""
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


@dataclass
class Cli:
    """`vibes …` in process, with its own config folder (and `$EDITOR` when given)."""

    home: Path
    server: Server
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "VIBES_PROFILE": "",
            "COLUMNS": "200",
            "NO_COLOR": "1",
            **self.env,
        }

    @property
    def credentials(self) -> Path:
        return self.home / "config" / "vibes" / "credentials.json"

    def __call__(
        self, *args: str, input: str | None = None, code: int | None = 0, **env: str
    ) -> Result:
        result = CliRunner().invoke(app, list(args), input=input, env={**self.env, **env})
        if code is not None:
            assert result.exit_code == code, (
                f"vibes {' '.join(args)} exited {result.exit_code}, not {code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        import json

        return json.loads(self(*args, "--json", **kwargs).stdout)

    def login(self, email: str, *extra: str, input: str = PASSWORD + "\n") -> Result:
        return self(
            "login", self.server.url, "--email", email, "--password-stdin", *extra, input=input
        )

    def subprocess(
        self, *args: str, input: str | None = None, stdin: int | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """The real thing: `python -m vibes.cli.main …` as a process (`stdin`: a file
        descriptor, such as a terminal's)."""
        return subprocess.run(
            [*VIBES, *args],
            env=clean_env(**{**self.env, **env}),
            capture_output=stdin is None,
            stdout=None if stdin is None else subprocess.PIPE,
            stderr=None if stdin is None else subprocess.PIPE,
            stdin=stdin,
            text=True,
            input=input,
            timeout=60,
            check=False,
        )

    def access_token(self, profile: str = "default") -> str:
        import json

        token: str = json.loads(self.credentials.read_text())["profiles"][profile]["access_token"]
        return token


def editor(path: Path, code: str) -> str:
    """An `$EDITOR` command running `code` (a Python body) with `path` = the file to edit
    and `text` = its content; whatever `text` is at the end is saved."""
    script = path / f"editor-{uuid.uuid4().hex[:6]}.py"
    script.write_text(
        "import os, pathlib, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "text = path.read_text()\n"
        f"{code}\n"
        "path.write_text(text)\n"
    )
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    """A client with an empty config folder (not signed in)."""
    return Cli(tmp_path, server)


@pytest.fixture(scope="module")
def signed_in(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A client signed in to a fresh account, shared by the tests of a module."""
    cli = Cli(tmp_path_factory.mktemp("client"), server)
    cli.login(server.register())
    return cli
