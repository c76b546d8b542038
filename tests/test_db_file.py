"""The SQLite file holds every account's data: it is created owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import Backend, make_settings
from vibes.db import Database


async def test_the_sqlite_file_is_created_0600(tmp_path: Path) -> None:
    sqlite = Backend(name="sqlite", database_url="", redis_url=None)
    settings = make_settings(sqlite, tmp_path / "data", database_url=None)
    database = Database(settings)
    try:
        async with database.session_scope() as session:
            await session.connection()
    finally:
        await database.dispose()
    files = list((tmp_path / "data").glob("*.db"))
    assert files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
