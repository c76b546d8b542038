"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from vibes.errors import problem
from vibes.platform.runtime import runtime_of

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> Any:
    """Whether the process can serve, and which dependency is down.

    The database is required: without it the answer is 503 (take the process out of the
    balancer). Redis is not: without it every feature falls back to this process (rate
    limits counted locally, caches missed, live streams reading the database), so the
    answer stays 200 with `"status": "degraded"` and `checks.redis: "down"`. Nor is a
    read replica (`checks.replica_1`: "lagging" or "down" sends its reads to the primary).
    """
    runtime = runtime_of(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3):
            async with runtime.database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "down"
    if runtime.redis is not None:
        try:
            async with asyncio.timeout(3):
                await runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "down"
        checks["event_relay"] = "ok" if runtime.broker.relaying else "polling"
    # Read replicas, as the background checks last found them: one not "ok" ("lagging",
    # "down") is skipped, its reads answered by the primary.
    for number, replica in enumerate(runtime.database.replicas, start=1):
        checks[f"replica_{number}"] = replica.status
    if checks["database"] != "ok":
        return problem(
            503,
            detail="The database is unreachable.",
            type_suffix="unavailable",
            headers={"Retry-After": "5"},
            extra={"checks": checks},
        )
    degraded = any(value != "ok" for value in checks.values())
    return JSONResponse({"status": "degraded" if degraded else "ok", "checks": checks})
