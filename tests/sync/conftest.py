"""Sync test helpers: a `Device` keeps a local replica of one user's objects by pulling
`GET /sync`, and `server_state` reads what the replica must equal from the plain GETs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import AuthedUser, make_authed_user
from tests.vault.conftest import FAST_KDF, Vault, make_vault
from vibes.vault import service as vault_service

API = "/api/v1"
Key = tuple[str, str]  # (kind, id)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault_service, "DEFAULT_KDF", FAST_KDF)


@pytest.fixture
async def alice(app: FastAPI) -> AuthedUser:
    return await make_authed_user(app)


@pytest.fixture
async def bob(app: FastAPI) -> AuthedUser:
    return await make_authed_user(app)


async def pull(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cursor: str | None = None,
    limit: int | None = None,
) -> httpx.Response:
    params: dict[str, str | int] = {}
    if cursor is not None:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    return await client.get(f"{API}/sync", params=params, headers=headers)


@dataclass
class Device:
    """One device of a user: a replica of what it may see, and its cursor."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    cursor: str | None = None
    replica: dict[Key, dict[str, Any]] = field(default_factory=dict)
    pages: int = 0

    async def pull_page(self, limit: int | None = None) -> dict[str, Any]:
        response = await pull(self.client, self.headers, self.cursor, limit)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body: dict[str, Any] = response.json()
        for change in body["changes"]:
            key = (change["kind"], change["id"])
            if change["op"] == "delete":
                assert change["data"] is None
                self.replica.pop(key, None)
            else:
                assert change["data"]["id"] == change["id"]
                assert change["data"]["version"] == change["version"]
                self.replica[key] = change["data"]
        self.cursor = body["cursor"]
        self.pages += 1
        return body

    async def sync(self, limit: int | None = None) -> None:
        """Pull until the feed has no more."""
        for _ in range(100_000):
            if not (await self.pull_page(limit))["has_more"]:
                return
        raise AssertionError("the feed never ended")


async def _all_pages(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if path.endswith("reminders"):
            params["status"] = "all"
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def server_state(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[Key, Any]:
    """Every object the headers may see, as the ordinary list routes answer."""
    state: dict[Key, Any] = {}
    for item in await _all_pages(client, f"{API}/journals", headers):
        state[("journal", item["id"])] = item
    response = await client.get(f"{API}/tags", headers=headers)
    assert response.status_code == 200, response.text
    for item in response.json():
        state[("tag", item["id"])] = item
    for item in await _all_pages(client, f"{API}/reminders", headers):
        state[("reminder", item["id"])] = item
    return state


__all__ = ["API", "Device", "Vault", "make_vault", "pull", "server_state"]
