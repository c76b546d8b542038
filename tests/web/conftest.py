"""Browser tests: Debian's Chromium driven by Playwright, against a real `vibes serve`.

One server per pytest process, shared by the modules (each signs up accounts of its own;
a module that needs other settings starts its own `server`): a `vibes serve` start-up
costs seconds on a busy CI machine. One browser per module.
Screenshots go to one folder per run (printed at the end of the session).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

CHROMIUM = os.environ.get("VIBES_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
VENDOR = Path(__file__).parent / "vendor"
SHOTS_ENV = "VIBES_SCREENSHOTS_DIR"


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = _browser_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run the browser tests: {missing}")
    skip = pytest.mark.skip(reason=missing)
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    log: Path


def _start_server(tmp: Path, **env: str) -> tuple[subprocess.Popen[bytes], Server]:
    port = free_port()
    data_dir = tmp / "data"
    log = tmp / "server.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIBES_")},
        "VIBES_DATA_DIR": str(data_dir),
        "VIBES_RATE_LIMITS_ENABLED": "false",
        "VIBES_DISPATCHER_POLL_SECONDS": "0.25",
        "VIBES_EVENTS_HEARTBEAT_SECONDS": "5",
        "VIBES_LOG_LEVEL": "WARNING",
        "VIBES_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    vibes = Path(sys.executable).parent / "vibes"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(vibes), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"vibes serve did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return process, Server(url, data_dir, log)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process, served = _start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield served
    finally:
        _stop(process)


def screenshots_folder(config: pytest.Config) -> Path:
    """`VIBES_SCREENSHOTS_DIR`, else `.web-screenshots/` in the project (kept after the run)."""
    configured = os.environ.get(SHOTS_ENV)
    return Path(configured) if configured else config.rootpath / ".web-screenshots"


@pytest.fixture(scope="session")
def shots_dir(pytestconfig: pytest.Config) -> Path:
    path = screenshots_folder(pytestconfig)
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    folder = screenshots_folder(terminalreporter.config)
    if folder.is_dir() and any(folder.iterdir()):
        terminalreporter.section("web app screenshots")
        terminalreporter.write_line(f"{len(list(folder.iterdir()))} screenshots in {folder}")


# Generous waits: Argon2 (passwords, vault phrases) on a busy CI machine takes seconds.
EXPECT_TIMEOUT_MS = 20_000


# Per module, not per session: while Playwright's sync API is open its event loop counts as
# running in this thread, and every async test after it would fail to start its own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watch:
    """What a page said that it should not have: dialogs, console errors, page errors."""

    problems: list[str] = field(default_factory=list)
    # Chromium logs every 4xx answer as a console error; a test may expect some.
    expected_statuses: tuple[int, ...] = ()

    def attach(self, page: Page) -> Page:
        def on_dialog(dialog: Dialog) -> None:
            self.problems.append(f"dialog {dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            expected = any(
                f"status of {status} " in message.text for status in self.expected_statuses
            )
            if not (expected and message.text.startswith("Failed to load resource")):
                self.problems.append(f"console error: {message.text}")

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page


DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}
