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
    """The process can serve: its database answers (and Redis, when configured)."""
    database = runtime_of(request).database
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(3):
            async with database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        return problem(503, detail="The database is unreachable.", type_suffix="unavailable")
    redis = runtime_of(request).redis
    if redis is not None:
        try:
            async with asyncio.timeout(3):
                await redis.ping()
            checks["redis"] = "ok"
        except Exception:
            return problem(503, detail="Redis is unreachable.", type_suffix="unavailable")
    return JSONResponse({"status": "ok", "checks": checks})
