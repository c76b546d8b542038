"""HTTP method semantics (RFC 9110): HEAD wherever GET, 405 with the path's every method,
literal paths before parameters, and a trailing-slash redirect that names no host."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.events.servers import serving
from tests.factories import AuthedUser, make_authed_user

# Headers that differ between two requests whatever the method.
VOLATILE = {"date", "x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset"}


# An export's file name carries the second it was made: a GET and a HEAD astride a second
# boundary name two seconds (seen failing on a loaded machine).
_STAMPED_NAME = re.compile(r'filename="vibes-\d{8}-\d{6}\.')


def _comparable(headers: httpx.Headers) -> dict[str, str]:
    found = {k: v for k, v in headers.items() if k not in VOLATILE}
    if "content-disposition" in found:
        found["content-disposition"] = _STAMPED_NAME.sub(
            'filename="vibes-<stamp>.', found["content-disposition"]
        )
    return found


async def _entry(client: httpx.AsyncClient, user: AuthedUser) -> str:
    r = await client.post(
        "/api/v1/journals",
        json={"title": "Walk", "content": "By the river", "tags": ["outside"]},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    entry_id: str = r.json()["id"]
    return entry_id


def _get_paths(app: FastAPI, entry_id: str) -> list[str]:
    paths = []
    for context in iter_route_contexts(app.routes):
        if context.path and "GET" in (context.methods or ()):
            path = context.path
            for name in ("journal_id", "reminder_id", "webhook_id", "tag_id", "id", "entry_id"):
                path = path.replace("{" + name + "}", entry_id)
            path = path.replace("{path:path}", "app.js")  # the web app's assets
            paths.append(path)
    return paths


async def test_head_answers_every_get_route_like_get_without_a_body(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    entry_id = await _entry(client, user)
    paths = [p for p in _get_paths(app, entry_id) if not p.endswith("/events")]
    assert not [p for p in paths if "{" in p]  # every parameter was filled
    assert len(paths) > 10
    for path in paths:
        get = await client.get(path, headers=user.headers)
        head = await client.head(path, headers=user.headers)
        assert head.status_code == get.status_code != 405, path
        assert head.content == b"", path
        if path.startswith("/api/v1"):
            assert _comparable(head.headers) == _comparable(get.headers), path


async def test_head_on_a_fast_path_answers_like_its_get_conditional_included(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    entry_id = await _entry(client, user)
    for path in (f"/api/v1/journals/{entry_id}", "/api/v1/journals?limit=5"):
        get = await client.get(path, headers=user.headers)
        head = await client.head(path, headers=user.headers)
        assert get.status_code == head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(get.content))
        assert head.headers.get("etag") == get.headers.get("etag")
    etag = (await client.get(f"/api/v1/journals/{entry_id}", headers=user.headers)).headers["etag"]
    head = await client.head(
        f"/api/v1/journals/{entry_id}", headers=user.headers | {"If-None-Match": etag}
    )
    assert head.status_code == 304


async def test_head_on_the_live_stream_answers_its_headers_and_ends(app: FastAPI) -> None:
    user = await make_authed_user(app)
    async with (
        serving(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        async with asyncio.timeout(10):
            r = await http.head("/api/v1/events", headers=user.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.content == b""


async def test_head_is_refused_where_get_is_not_allowed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    r = await client.head("/api/v1/journals/batch", headers=user.headers)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/journals/{id}", "GET, HEAD, PATCH, DELETE"),
        ("POST", "/api/v1/journals/{id}", "GET, HEAD, PATCH, DELETE"),
        ("DELETE", "/api/v1/journals", "GET, HEAD, POST"),
        ("PUT", "/api/v1/reminders/{id}", "GET, HEAD, PATCH, DELETE"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
async def test_a_405_lists_every_method_of_the_path(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    user = await make_authed_user(app)
    r = await client.request(method, path.format(id=uuid.uuid4()), headers=user.headers)
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == allowed
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 405


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "PUT"])
async def test_a_wrong_method_on_journals_batch_is_405_not_422(
    app: FastAPI, client: httpx.AsyncClient, method: str
) -> None:
    # `batch` is a literal segment: it is not read as the id of `/journals/{id}`.
    user = await make_authed_user(app)
    r = await client.request(method, "/api/v1/journals/batch", headers=user.headers, json={})
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == "POST"
    assert r.headers["content-type"] == "application/problem+json"
    assert "x-ratelimit-limit" in r.headers


async def test_the_trailing_slash_redirect_is_relative_and_ignores_the_host_header(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    r = await client.get(
        "/api/v1/journals/?limit=5&tag=a%20b",
        headers=user.headers | {"Host": "evil.example"},
    )
    assert r.status_code == 307
    assert r.headers["location"] == "/api/v1/journals?limit=5&tag=a%20b"
    assert r.content == b""
    followed = await client.get(r.headers["location"], headers=user.headers)
    assert followed.status_code == 200
    r = await client.get("/healthz/", headers={"Host": "evil.example"})
    assert r.status_code == 307
    assert r.headers["location"] == "/healthz"
    assert (await client.get("/no-such-path/")).status_code == 404


async def test_head_over_a_real_server_answers_without_a_body_and_without_an_error(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: the method was still GET on the server's scope when the answer started,
    # so the server waited for a body of Content-Length bytes and failed the response.
    user = await make_authed_user(app)
    async with (
        serving(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        async with asyncio.timeout(10):
            anonymous = await http.head("/api/v1/journals")
            signed_in = await http.head("/api/v1/journals", headers=user.headers)
            page = await http.head("/")
    assert anonymous.status_code == 401
    assert signed_in.status_code == 200
    assert page.status_code == 200
    assert anonymous.content == signed_in.content == page.content == b""
    assert int(signed_in.headers["content-length"]) > 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
