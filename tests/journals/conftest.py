"""Fixtures for journal, tag and search tests: two signed-in users and small helpers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.factories import AuthedUser, journal_read, make_authed_user
from vibes.db import Database
from vibes.journals.models import Journal

API = "/api/v1"


@pytest.fixture
async def alice(app: FastAPI) -> AuthedUser:
    return await make_authed_user(app)


@pytest.fixture
async def bob(app: FastAPI) -> AuthedUser:
    return await make_authed_user(app)


async def create_entry(
    client: httpx.AsyncClient, user: AuthedUser, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"title": "An entry", "content": "Some words here."}
    body.update(fields)
    response = await client.post(f"{API}/journals", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return journal_read(response.json())


async def count_journals(database: Database, user: AuthedUser | None = None) -> int:
    stmt = select(func.count()).select_from(Journal)
    if user is not None:
        stmt = stmt.where(Journal.user_id == user.id)
    async with database.read_sessionmaker() as session:
        return int(await session.scalar(stmt) or 0)


def is_problem(response: httpx.Response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith(
        "application/problem+json"
    )
