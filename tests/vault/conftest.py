"""Helpers for the vault tests: make a secret tag, unlock it, dump the whole database.

Every vault test runs Argon2id at cheap parameters (`FAST_KDF`) unless it is marked
`real_kdf`: the real cost (64 MiB, 3 passes) is what makes a phrase guess expensive, and
only the tests about that cost need to pay it.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from tests.conftest import Backend
from tests.factories import AuthedUser, make_authed_user
from vibes.config import Settings
from vibes.platform.runtime import app_runtime
from vibes.vault import service as vault_service
from vibes.vault.crypto import KdfParams
from vibes.vault.runtime import VaultRuntime

API = "/api/v1"

# Argon2id at 1 MiB, one pass: a phrase operation costs about a millisecond.
FAST_KDF = KdfParams(memory_kib=1024, iterations=1, parallelism=1)


@pytest.fixture(autouse=True)
def fast_kdf(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> KdfParams:
    """The cost new phrases are derived with: `FAST_KDF`, or the real default for tests
    marked `real_kdf`. The service records the cost on each tag and unlock derives with the
    recorded cost, so tags made here open as they would with the real one."""
    real = vault_service.DEFAULT_KDF
    if request.node.get_closest_marker("real_kdf"):
        return real
    monkeypatch.setattr(vault_service, "DEFAULT_KDF", FAST_KDF)
    return FAST_KDF


@dataclass
class Vault:
    """One user's secret tag and a live unlock token for it."""

    user: AuthedUser
    tag_id: str
    phrase: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {**self.user.headers, "X-Vibes-Unlock": self.token}


async def create_secret_tag(
    client: httpx.AsyncClient,
    user: AuthedUser,
    *,
    name: str = "therapy",
    phrase: str = "blue whales sing at dawn",
    color: str | None = None,
) -> dict[str, object]:
    body: dict[str, object] = {"name": name, "phrase": phrase}
    if color is not None:
        body["color"] = color
    response = await client.post(f"{API}/secret-tags", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


async def unlock(client: httpx.AsyncClient, user: AuthedUser, phrase: str) -> httpx.Response:
    return await client.post(
        f"{API}/secret-tags/unlock", json={"phrase": phrase}, headers=user.headers
    )


async def make_vault(
    client: httpx.AsyncClient,
    app: FastAPI,
    *,
    user: AuthedUser | None = None,
    name: str = "therapy",
    phrase: str = "blue whales sing at dawn",
) -> Vault:
    user = user or await make_authed_user(app)
    created = await create_secret_tag(client, user, name=name, phrase=phrase)
    response = await unlock(client, user, phrase)
    assert response.status_code == 200, response.text
    return Vault(user, str(created["id"]), phrase, response.json()["unlock_token"])


def runtime(app: FastAPI) -> VaultRuntime:
    return app_runtime(app).part(VaultRuntime)


async def dump_database(backend: Backend, settings: Settings) -> bytes:
    """Every byte the database holds: pg_dump of the test database, or the SQLite files
    (main file and write-ahead log) as they are on disk."""
    if backend.is_postgres:
        pg_dump = shutil.which("pg_dump") or "/usr/bin/pg_dump"
        url = make_url(backend.database_url).set(drivername="postgresql")
        proc = await asyncio.create_subprocess_exec(
            pg_dump,
            "--no-owner",
            url.render_as_string(hide_password=False),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out
    db_file = Path(make_url(backend.database_url).database or "")
    chunks = []
    for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-journal")):
        if path.exists():
            chunks.append(path.read_bytes())
    assert chunks
    return b"".join(chunks)
