"""Backups: made while writes continue, verified by a real restore, refused when damaged."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.conftest import Backend, MakeApp, MakeClient
from tests.factories import make_authed_user
from vibes.backup.archive import BackupError, open_backup, write_backup
from vibes.backup.service import create_backup, restore_backup, verify_backup


async def _write(client: object, headers: dict[str, str], n: int, label: str) -> None:
    for i in range(n):
        r = await client.post(  # type: ignore[attr-defined]
            "/api/v1/journals",
            json={"title": f"{label} {i}", "content": f"Día {i} — café ☕", "tags": ["backup"]},
            headers=headers,
        )
        assert r.status_code == 201, r.text


@pytest.fixture
async def target_url(backend: Backend, empty_database_url: str) -> str:
    """An empty database of the test's kind to restore into."""
    return empty_database_url


async def test_backup_taken_during_writes_verifies_and_restores_whole(
    app: FastAPI, make_client: MakeClient, make_app: MakeApp, backend: Backend,
    tmp_path: Path, target_url: str,
) -> None:  # fmt: skip
    user = await make_authed_user(app)
    async with make_client(app) as client:
        await _write(client, user.headers, 5, "before")
        stop = asyncio.Event()

        async def keep_writing() -> int:
            written = 0
            while not stop.is_set():
                await _write(client, user.headers, 1, "during")
                written += 1
            return written

        writer = asyncio.create_task(keep_writing())
        await asyncio.sleep(0.05)
        manifest = await create_backup(backend.database_url, tmp_path / "a.vibes")
        stop.set()
        assert await writer >= 1

    assert (tmp_path / "a.vibes").stat().st_mode & 0o777 == 0o600
    entries = manifest.tables["journals"].rows
    assert entries >= 5
    assert manifest.schema_revision is not None

    checked = await verify_backup(backend.database_url, tmp_path / "a.vibes")
    assert checked.mismatches == []
    assert checked.restored["journals"].rows == entries

    await restore_backup(target_url, tmp_path / "a.vibes", replace=False)
    # The restored database serves the same account to a server holding the same keys (the
    # data folder: keys are kept apart from backups).
    async with make_client(database_url=target_url, data_dir=tmp_path / "data") as c:
        r = await c.get("/api/v1/journals", params={"limit": 100}, headers=user.headers)
        assert r.status_code == 200, r.text
        titles = [item["title"] for item in r.json()["items"]]
        assert len(titles) == entries
        assert {f"before {i}" for i in range(5)} <= set(titles)
        search = await c.get(
            "/api/v1/search", params={"q": "cafe", "type": "journals"}, headers=user.headers
        )
        assert search.status_code == 200
        assert len(search.json()["items"]) == min(entries, 20)


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def _flip_byte(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


async def test_a_damaged_backup_is_refused_before_anything_is_restored(
    app: FastAPI, backend: Backend, tmp_path: Path, target_url: str, make_client: MakeClient
) -> None:
    user = await make_authed_user(app)
    async with make_client(app) as client:
        await _write(client, user.headers, 3, "kept")
    good = tmp_path / "good.vibes"
    await create_backup(backend.database_url, good)
    await restore_backup(target_url, good, replace=False)

    size = good.stat().st_size
    # In the data, in the manifest (near the start) and in the checksum list (near the end).
    for at in (size // 2, 600, size - 1100):
        bad = tmp_path / f"bad-{at}.vibes"
        shutil.copyfile(good, bad)
        _flip_byte(bad, at)
        with pytest.raises(BackupError):
            await verify_backup(backend.database_url, bad)
        with pytest.raises(BackupError):
            await restore_backup(target_url, bad, replace=True)
    truncated = tmp_path / "truncated.vibes"
    truncated.write_bytes(good.read_bytes()[: size // 3])
    with pytest.raises(BackupError):
        await restore_backup(target_url, truncated, replace=True)

    # The target still holds the good restore.
    checked = await verify_backup(target_url, good)
    assert checked.mismatches == []
    async with make_client(database_url=target_url, data_dir=tmp_path / "data") as c:
        r = await c.get("/api/v1/journals", headers=user.headers)
        assert len(r.json()["items"]) == 3


async def test_restore_refuses_an_occupied_database_a_newer_schema_and_the_other_kind(
    app: FastAPI, backend: Backend, tmp_path: Path
) -> None:
    source = tmp_path / "b.vibes"
    manifest = await create_backup(backend.database_url, source)
    with pytest.raises(BackupError, match="not empty"):
        await restore_backup(backend.database_url, source, replace=False)

    # A backup from a later version of Vibes (a revision this code does not know).
    with open_backup(source) as (_, data):
        manifest.schema_revision = "29991231_0000"
        staged = tmp_path / "staged"
        shutil.copyfile(data, staged)
        write_backup(tmp_path / "newer.vibes", manifest, staged)
    with pytest.raises(BackupError, match="newer"):
        await restore_backup(backend.database_url, tmp_path / "newer.vibes", replace=True)

    other = "sqlite+aiosqlite:///" + str(tmp_path / "x.db") if backend.is_postgres else (
        "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    )  # fmt: skip
    with pytest.raises(BackupError, match="export and import"):
        await restore_backup(other, source, replace=True)

    # The server's keys stay out of every backup: the docs say to keep them apart.
    keys = json.loads((tmp_path / "data" / "keys.json").read_text())
    secrets = [keys["server_key"], *(str(k["secret"]) for k in keys["jwt_keys"])]
    payload = source.read_bytes()
    assert secrets
    assert not [s for s in secrets if s.encode() in payload]


@pytest.mark.long  # `vibes serve` and `vibes backup` as processes
def test_the_commands_back_up_verify_and_restore_a_sqlite_server(tmp_path: Path) -> None:
    vibes = [sys.executable, "-m", "vibes.cli.main"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}

    def run(*args: str, data: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*vibes, *args], env={**env, "VIBES_DATA_DIR": str(tmp_path / data)},
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert run("db", "upgrade", data="one").returncode == 0
    made = run("backup", "nightly.vibes", data="one")
    assert made.returncode == 0, made.stderr
    checked = run("backup", "--verify", "nightly.vibes", data="one")
    assert checked.returncode == 0, checked.stderr
    assert "sound" in checked.stderr
    restored = run("restore", "nightly.vibes", data="two")
    assert restored.returncode == 0, restored.stderr
    again = run("restore", "nightly.vibes", data="two")
    assert again.returncode == 1
    assert "--replace" in again.stderr
    _flip_byte(tmp_path / "nightly.vibes", 2000)
    broken = run("backup", "--verify", "nightly.vibes", data="one")
    assert broken.returncode == 1
    assert "corrupt" in broken.stderr or "damaged" in broken.stderr


async def test_a_restore_that_fails_halfway_leaves_the_database_as_it_was(
    app: FastAPI, backend: Backend, tmp_path: Path, target_url: str,
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """With --replace the drop and the restore are one transaction: a restore that fails
    after the old data was dropped (here: its last statement) rolls the drop back too."""
    if not backend.is_postgres:
        pytest.skip("SQLite's restore is one backup-API step: it has no halfway")
    from vibes.backup import postgres

    user = await make_authed_user(app)
    async with make_client(app) as client:
        await _write(client, user.headers, 2, "kept")
    good = tmp_path / "good.vibes"
    await create_backup(backend.database_url, good)
    await restore_backup(target_url, good, replace=False)
    before = await verify_backup(target_url, good)
    assert before.mismatches == []

    real_run = postgres._run

    async def failing_last(tool: str, *args: str, env: dict[str, str]) -> None:
        await real_run(tool, *args, env=env)
        if tool == "pg_restore":  # the script is written: make its end fail
            script = Path(args[args.index("--file") + 1])
            await asyncio.to_thread(_append, script, "\nSELECT 1 / 0;\n")

    monkeypatch.setattr(postgres, "_run", failing_last)
    with pytest.raises(BackupError, match="psql failed"):
        await restore_backup(target_url, good, replace=True)
    monkeypatch.undo()
    after = await verify_backup(target_url, good)
    assert after.mismatches == []
    assert after.restored == before.restored
