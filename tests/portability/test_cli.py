"""`vibes export` and `vibes import` as an operator runs them: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend
from tests.factories import AuthedUser
from tests.portability.conftest import API, export_bytes, without_timestamp
from tests.portability.test_jrnl_dayone import _jrnl

VIBES = [sys.executable, "-m", "vibes.cli.main"]
pytestmark = pytest.mark.slow


def _run(backend: Backend, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(VIBES_DATABASE_URL=backend.database_url, VIBES_DATA_DIR=str(cwd / "data"))
    return subprocess.run(
        [*VIBES, *args], cwd=cwd, env=env, capture_output=True, timeout=120, check=False
    )


async def test_the_operator_exports_and_imports_one_account(
    client: httpx.AsyncClient,
    backend: Backend,
    tmp_path: Path,
    alice: AuthedUser,
    bob: AuthedUser,
) -> None:
    response = await client.post(
        f"{API}/journals",
        json={"title": "Hallo", "content": "Welt 🌍", "tags": ["a"]},
        headers=alice.headers,
    )
    assert response.status_code == 201
    done = _run(backend, tmp_path, "export", "--email", alice.email.upper())
    assert done.returncode == 0, done.stderr.decode()
    assert without_timestamp(done.stdout) == without_timestamp(
        await export_bytes(client, alice.headers)
    )

    path = tmp_path / "journal.json"
    path.write_bytes(_jrnl())
    done = _run(backend, tmp_path, "import", "--email", bob.email, "--format", "jrnl", str(path))
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["imported"]["journals"] == 2
    listed = (await client.get(f"{API}/journals", headers=bob.headers)).json()["items"]
    assert len(listed) == 2

    path.write_bytes(b"{")
    done = _run(backend, tmp_path, "import", "--email", bob.email, "--format", "jrnl", str(path))
    assert done.returncode == 1
    assert b"not valid JSON" in done.stderr
