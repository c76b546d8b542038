"""`vibes write` when the answer is lost on the way back: a real server behind a loopback
proxy that lets a create through, then cuts the connection before its answer. The client
sends the create again with the same `Idempotency-Key`; the server replays it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cli.conftest import API, PASSWORD, Cli, Server

# Against a real `vibes serve` (a subprocess shared by the client's tests).
pytestmark = pytest.mark.slow


class LossyProxy:
    """Relays loopback TCP to the server; the first `cuts` answers to a request line that
    starts with `cut_request` reach the server's side and are then dropped, and the
    client's connection is closed instead."""

    def __init__(self, target: str, cut_request: bytes, cuts: int = 1) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.cut_request = cut_request
        self.cuts_left = cuts
        self.cut = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = False

    def serve(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            doomed = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, doomed), daemon=True).start()
            threading.Thread(
                target=self._down, args=(upstream, client, doomed), daemon=True
            ).start()

    def _up(self, client: socket.socket, upstream: socket.socket, doomed: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.cut_request in data:
                    with self.lock:
                        if self.cuts_left > 0:
                            self.cuts_left -= 1
                            doomed.set()
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _down(
        self, upstream: socket.socket, client: socket.socket, doomed: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if doomed.is_set():
                    # The server answered (it committed); the client never hears it.
                    with self.lock:
                        self.cut += 1
                    break
                client.sendall(data)
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@contextlib.contextmanager
def lossy(server: Server, cut_request: bytes) -> Iterator[LossyProxy]:
    proxy = LossyProxy(server.url, cut_request)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(timeout=5)


def test_a_write_whose_answer_was_lost_is_written_once(
    sqlite_server: Server, tmp_path: Path
) -> None:
    email = sqlite_server.register()
    with lossy(sqlite_server, f"POST {API}/journals ".encode()) as proxy:
        cli = Cli(tmp_path, sqlite_server)
        cli("login", proxy.url, "--email", email, "--password-stdin", input=PASSWORD + "\n")
        entry = cli.json("write", "Lost and found. The answer went missing, the entry did not.")
        assert proxy.cut == 1  # the first answer really was dropped
        assert entry["title"] == "Lost and found"

        listed = cli.json("list")
        assert [e["id"] for e in listed] == [entry["id"]]


def test_a_reminder_whose_answer_was_lost_is_set_once(
    sqlite_server: Server, tmp_path: Path
) -> None:
    email = sqlite_server.register()
    with lossy(sqlite_server, f"POST {API}/reminders ".encode()) as proxy:
        cli = Cli(tmp_path, sqlite_server)
        cli("login", proxy.url, "--email", email, "--password-stdin", input=PASSWORD + "\n")
        cli("remind", "add", "tomorrow 9am", "Water", "the", "plants")
        assert proxy.cut == 1
        listed = cli.json("remind", "list")
        assert [r["title"] for r in listed] == ["Water the plants"]
