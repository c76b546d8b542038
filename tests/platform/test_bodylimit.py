"""Bodies over the limit are refused with 413 before they are read whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from tests.conftest import asgi_client
from vibes.platform.bodylimit import BodyLimitMiddleware

LIMIT = 1000


class Recorder:
    """A tiny ASGI app that reads its whole body, then answers how much it got."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        size = 0
        while True:
            message: Message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = str(size).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def test_declared_length_over_limit_is_413_without_calling_the_app() -> None:
    inner = Recorder()
    app = BodyLimitMiddleware(inner, default_limit=LIMIT)
    async with asgi_client(app) as c:
        response = await c.post("/x", content=b"a" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
    assert inner.called is False


async def test_body_at_the_limit_passes() -> None:
    app = BodyLimitMiddleware(Recorder(), default_limit=LIMIT)
    async with asgi_client(app) as c:
        response = await c.post("/x", content=b"a" * LIMIT)
    assert response.status_code == 200
    assert response.text == str(LIMIT)


async def test_streamed_body_is_cut_off_once_it_passes_the_limit() -> None:
    sent_chunks = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent_chunks
        for _ in range(100):
            sent_chunks += 1
            yield b"a" * 300

    app = BodyLimitMiddleware(Recorder(), default_limit=LIMIT)
    async with asgi_client(app) as c:
        response = await c.post("/x", content=chunks())
    assert response.status_code == 413
    # Reading stopped right after the chunk that crossed the limit.
    assert sent_chunks <= 5


async def test_longest_prefix_limit_wins() -> None:
    app = BodyLimitMiddleware(
        Recorder(), default_limit=LIMIT, limits={"/big": 10 * LIMIT, "/big/small": LIMIT}
    )
    async with asgi_client(app) as c:
        assert (await c.post("/big", content=b"a" * (5 * LIMIT))).status_code == 200
        assert (await c.post("/big/small", content=b"a" * (5 * LIMIT))).status_code == 413
        assert (await c.post("/other", content=b"a" * (5 * LIMIT))).status_code == 413


@pytest.fixture
def probe_app(app: FastAPI) -> FastAPI:
    @app.post("/api/v1/_probe/echo")
    async def echo(request: Request, body: dict[str, str]) -> dict[str, int]:
        return {"size": len(body.get("text", ""))}

    return app


async def test_application_answers_413_for_big_json_even_when_streamed(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(5):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    declared = await client.post(
        "/api/v1/_probe/echo", content=b'{"text": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    )
    streamed = await client.post("/api/v1/_probe/echo", content=chunks())
    small = await client.post("/api/v1/_probe/echo", json={"text": "hello"})
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == "application/problem+json"
    assert small.json() == {"size": 5}


async def test_http2_bodies_without_length_headers_are_still_counted() -> None:
    """HTTP/1.x requests without Content-Length or Transfer-Encoding carry no body and skip
    the counting; HTTP/2 frames bodies without either header, so they are counted."""
    chunks = [b"a" * 300] * 10
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "http_version": "2",
        "method": "POST",
        "path": "/x",
        "headers": [],
    }
    await BodyLimitMiddleware(Recorder(), default_limit=LIMIT)(scope, receive, send)
    assert sent[0]["status"] == 413
