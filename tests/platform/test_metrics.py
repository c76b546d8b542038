"""/metrics shows what an operator needs: pools, statement time, caches, refusals, activity."""

from __future__ import annotations

import io
import json
import re

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import DEFAULT_PASSWORD, make_authed_user
from vibes.platform.metrics import pool_waiters
from vibes.platform.runtime import app_runtime


def _value(text: str, name: str, **labels: str) -> float:
    """The sample `name{labels...}` (labels matched as a subset), 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def test_the_operator_figures_move_with_what_happens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    before = (await client.get("/metrics")).text
    user = await make_authed_user(app)
    me = (await client.get("/api/v1/users/me", headers=user.headers)).json()
    wrong = {"email": me["email"], "password": "not " + DEFAULT_PASSWORD}
    assert (await client.post("/api/v1/auth/login", json=wrong)).status_code == 401
    created = await client.post(
        "/api/v1/journals", json={"title": "t", "content": "c"}, headers=user.headers
    )
    assert created.status_code == 201
    await client.post(
        "/api/v1/secret-tags", json={"name": "s", "phrase": "a phrase long enough"},
        headers=user.headers,
    )  # fmt: skip
    bad_unlock = await client.post(
        "/api/v1/secret-tags/unlock", json={"phrase": "another phrase entirely"},
        headers=user.headers,
    )  # fmt: skip
    assert bad_unlock.status_code == 401
    for _ in range(2):
        dash = await client.get("/api/v1/analytics/dashboard", headers=user.headers)
        assert dash.status_code == 200
    assert (await client.get("/api/v1/sync", headers=user.headers)).status_code == 200
    entry = {"title": "J", "body": "b", "date": "2026-01-02", "time": "09:00", "tags": ["@x"]}
    upload = json.dumps({"entries": [{**entry, "starred": False}]})
    imported = await client.post(
        "/api/v1/import", params={"format": "jrnl"}, headers=user.headers,
        files={"file": ("j.json", io.BytesIO(upload.encode()), "application/json")},
    )  # fmt: skip
    assert imported.status_code == 200, imported.text
    after = (await client.get("/metrics")).text

    def grew(name: str, **labels: str) -> bool:
        return _value(after, name, **labels) > _value(before, name, **labels)

    assert grew("vibes_login_failures_total", reason="credentials")
    assert grew("vibes_unlock_failures_total", reason="phrase")
    assert grew("vibes_cache_lookups_total", cache="dashboard", result="miss")
    assert grew("vibes_cache_lookups_total", cache="dashboard", result="hit")
    assert grew("vibes_sync_pulls_total", outcome="ok")
    assert grew("vibes_imports_total", format="jrnl", outcome="ok")
    assert grew("vibes_imported_entries_total")
    assert grew("vibes_db_statement_duration_seconds_count", kind="insert")
    assert grew("vibes_db_statement_duration_seconds_count", kind="select")
    assert re.search(r'^vibes_db_pool_connections_in_use\{pool="primary"\} ', after, re.M)
    assert re.search(r'^vibes_db_pool_waiting\{pool="primary"\} 0', after, re.M)


async def test_pool_waiters_reads_the_queue_of_the_installed_sqlalchemy(app: FastAPI) -> None:
    # The waiting figure reads SQLAlchemy's private queue: an upgrade that moves it must
    # fail here, not report 0 forever.
    pool = app_runtime(app).database.engine.pool
    queue = pool._pool  # type: ignore[attr-defined]
    async with app_runtime(app).database.engine.connect() as conn:
        assert conn is not None
        assert hasattr(queue, "_queue")
    assert pool_waiters(pool) == 0
    assert hasattr(queue._queue, "_getters")


async def test_rate_limit_refusals_are_counted_by_limit(make_client: object, app: FastAPI) -> None:
    del make_client
    runtime = app_runtime(app)
    from vibes.errors import TooManyRequests
    from vibes.platform.ratelimit import Rule

    rule = Rule.of("test-rule", "1/minute")
    await runtime.ratelimiter.hit(rule, "x")
    with pytest.raises(TooManyRequests):
        await runtime.ratelimiter.hit(rule, "x")
    from prometheus_client import generate_latest

    assert _value(generate_latest().decode(), "vibes_rate_limited_total", limit="test-rule") >= 1
