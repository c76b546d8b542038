"""The ratio baseline: a bare FastAPI app answering a constant, served like the real one."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
