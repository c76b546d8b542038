"""Helpers for analytics tests: users in chosen zones and entries at chosen instants."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import AuthedUser
from vibes.vault import service as vault_service
from vibes.vault.crypto import KdfParams

API = "/api/v1"


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2id for the vault tests here (the cost is not what they are about)."""
    monkeypatch.setattr(
        vault_service, "DEFAULT_KDF", KdfParams(memory_kib=1024, iterations=1, parallelism=1)
    )


def at(stamp: str) -> str:
    """An RFC 3339 UTC instant as the API takes it."""
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).isoformat()


def local_noon(zone: str, days_ago: int) -> str:
    """Noon, `days_ago` local days before today in `zone`, as a UTC instant."""
    tz = ZoneInfo(zone)
    day = dt.datetime.now(tz).date() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(12), tz).astimezone(dt.UTC).isoformat()


def today(zone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(zone)).date()


async def write(
    client: httpx.AsyncClient,
    user: AuthedUser,
    *entries: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> list[str]:
    """Create entries in one batch; each needs `entry_date`, the rest has defaults."""
    items = [{"title": "Entry", "content": "one two three", **e} for e in entries]
    response = await client.post(
        f"{API}/journals/batch", json={"items": items}, headers=headers or user.headers
    )
    assert response.status_code == 201, response.text
    ids: list[str] = response.json()["ids"]
    return ids


async def get(
    client: httpx.AsyncClient, path: str, user: AuthedUser, headers: dict[str, str] | None = None
) -> Any:
    response = await client.get(f"{API}/analytics/{path}", headers=headers or user.headers)
    assert response.status_code == 200, response.text
    return response.json()
