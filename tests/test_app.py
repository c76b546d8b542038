"""The application skeleton: operations endpoints, problem documents, request ids."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from tests.conftest import Backend, MakeClient
from tests.platform.logcapture import configured_logs
from tests.waiting import wait_until
from vibes.config import Settings
from vibes.platform.runtime import app_runtime

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    return body


async def test_healthz_and_readyz_answer_ok(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_readyz_reports_redis_when_configured(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    checks = (await client.get("/readyz")).json()["checks"]
    assert ("redis" in checks) == (backend.redis_url is not None)


def _aiosqlite_workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


@pytest.mark.long  # start-up waits out the unreachable database
async def test_readyz_is_503_when_the_database_is_unreachable(
    backend: Backend, tmp_path: Path, make_client: MakeClient
) -> None:
    if backend.is_postgres:
        url = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/sub/vibes.db"
    workers_before = _aiosqlite_workers()
    async with make_client(database_url=url) as c:
        ready = await c.get("/readyz")
        body = _assert_problem(ready, 503)
        assert body["checks"]["database"] == "down"
        assert ready.headers["Retry-After"] == "5"
    # The worker thread of an aiosqlite connection that failed to open stops on its own,
    # handing its last result to this loop (call_soon_threadsafe) as it goes: wait for the
    # thread to end, then let the loop run that callback while it still can.
    gc.collect()
    await wait_until(lambda: not (_aiosqlite_workers() - workers_before), timeout=10)
    await asyncio.sleep(0)


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Vibes"
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/api/v1/no-such-thing"), 404)


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.post("/healthz"), 405)


class _Body(BaseModel):
    name: str = Field(min_length=1)
    count: int


@pytest.fixture
def probe_app(app: FastAPI) -> FastAPI:
    @app.post("/_probe/validate")
    async def validate(body: _Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/_probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: SELECT * FROM users")

    return app


async def test_validation_error_is_a_422_problem_with_errors(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/_probe/validate", json={"name": "", "count": "many", "password": "hunter2"}
    )
    body = _assert_problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(e["loc"]) for e in errors} == {("body", "name"), ("body", "count")}
    assert "hunter2" not in response.text


async def test_malformed_json_is_a_422_problem(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/_probe/validate",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    _assert_problem(response, 422)


async def test_unexpected_error_is_a_500_problem_without_internals(
    probe_app: FastAPI, make_client: MakeClient
) -> None:
    async with make_client(probe_app, raise_app_exceptions=False) as c:
        response = await c.get("/_probe/boom")
    _assert_problem(response, 500)
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text


async def test_every_answer_has_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) >= 16
    missing = await client.get("/nope")
    assert missing.headers["x-request-id"]


async def test_a_well_formed_caller_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123.def"})
    assert echoed.headers["x-request-id"] == "abc-123.def"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert replaced.headers["x-request-id"] != "bad id\twith junk"


async def test_metrics_are_exposed_in_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "vibes_http_requests_total" in response.text


async def test_a_500_carries_the_usual_headers_and_keeps_the_connection(
    probe_app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Regression: the 500 used to be rendered outside our middleware, so it lacked the
    # request id, security and rate-limit headers, and the server dropped the connection.
    response = await client.get("/_probe/boom")
    _assert_problem(response, 500)
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-ratelimit-limit" in response.headers


async def test_database_errors_never_log_statement_parameters(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: a failed statement logged its parameters: an entry's text, in the clear.
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from vibes.db import Database

    database: Database = app_runtime(app).database
    with pytest.raises(DBAPIError) as caught:
        async with database.session_scope() as session:
            await session.execute(
                text("INSERT INTO no_such_table (x) VALUES (:secret)"),
                {"secret": "my private diary line"},
            )
    assert "my private diary line" not in str(caught.value)


async def test_openapi_documents_errors_as_problem_documents(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [op for item in spec["paths"].values() for op in item.values()]
    for operation in operations:
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], status


async def test_access_log_never_holds_the_query_string(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Regression: uvicorn's access log wrote `?q=` search terms; ours logs the path only.
    with configured_logs(settings, "json") as output:
        await client.get("/api/v1/search?q=my+therapist+said")
    lines = [json.loads(line) for line in output.getvalue().splitlines() if "vibes.access" in line]
    assert len(lines) == 1
    assert lines[0]["path"] == "/api/v1/search"
    assert lines[0]["status"] == 401
    assert "therapist" not in output.getvalue()
