"""Helpers for import and export tests: export an account, import a file, compare."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.factories import AuthedUser, make_authed_user
from tests.vault.conftest import fast_kdf

__all__ = ["fast_kdf"]

API = "/api/v1"
_EXPORTED_AT = re.compile(rb'"exported_at":"[^"]*"')


@pytest.fixture
async def alice(app: FastAPI) -> AuthedUser:
    return await make_authed_user(app, timezone="Europe/Berlin")


@pytest.fixture
async def bob(app: FastAPI) -> AuthedUser:
    return await make_authed_user(app, timezone="Europe/Berlin")


async def export_bytes(
    client: httpx.AsyncClient, headers: dict[str, str], fmt: str = "json"
) -> bytes:
    response = await client.get(f"{API}/export", params={"format": fmt}, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def without_timestamp(document: bytes) -> bytes:
    return _EXPORTED_AT.sub(b'"exported_at":"-"', document)


async def import_file(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    fmt: str,
    content: bytes,
    filename: str = "upload",
) -> httpx.Response:
    return await client.post(
        f"{API}/import",
        params={"format": fmt},
        files={"file": (filename, content, "application/octet-stream")},
        headers=headers,
    )


def document(content: bytes) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(content)
    return data


def without_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """The document less what is specific to one account: ids, the profile's email and
    creation, the export's time."""
    journal_index = {j["id"]: i for i, j in enumerate(doc["journals"])}
    out = dict(doc)
    out.pop("exported_at")
    out.pop("profile")
    out["journals"] = [{k: v for k, v in j.items() if k != "id"} for j in doc["journals"]]
    out["reminders"] = [
        {
            **{k: v for k, v in r.items() if k not in ("id", "journal_id")},
            "journal": journal_index.get(r["journal_id"]),
        }
        for r in doc["reminders"]
    ]
    return out
