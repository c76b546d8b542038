"""Real servers on loopback for the events tests: uvicorn in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from tests.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(app: Any, *, lifespan: str = "off", **options: Any) -> AsyncIterator[int]:
    """Run `app` on a free loopback port until the block ends; yields the port.
    `options` go to uvicorn (`ssl_certfile`, `ssl_keyfile` for HTTPS)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        log_level="warning",
        ws="none",
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout=20)
        if task.done():
            task.result()  # it failed to start: raise its error
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    # The sender's end of the TCP connection: one per connection, so a test can count them.
    peer: tuple[str, int] = ("", 0)


@dataclass
class Receiver:
    """A webhook receiver: records every request and answers with scripted statuses."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)
    default_status: int = 200
    delay: float = 0.0
    # Set on every request, so a test can wait for arrivals without polling.
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> None:
        while len(self.requests) < count:
            self.arrived.clear()
            await self.arrived.wait()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender died mid-request (the SIGKILL test): nothing arrived
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        script = self.scripts.get(path)
        status = script.pop(0) if script else self.default_status
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.delay:
            # A receiver this slow to answer is what the test is about, not a wait.
            await asyncio.sleep(self.delay)
        client = scope.get("client") or ("", 0)
        self.requests.append(Received(path, headers, body, status, (client[0], client[1])))
        self.arrived.set()
        extra = [(b"location", b"http://127.0.0.1:1/elsewhere")] if 300 <= status < 400 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})
