"""The SQLite file holds every account's data: it is created owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from tests.conftest import Backend, make_settings
from vibes import migrations
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


async def test_migrating_into_an_existing_data_folder_creates_the_files_0600(
    tmp_path: Path,
) -> None:
    # `vibes serve` migrates before the app opens the database: the migration created
    # vibes.db with the umask (0644) whenever the data folder already existed.
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    sqlite = Backend(name="sqlite", database_url="", redis_url=None)
    settings = make_settings(sqlite, data, database_url=None)
    await migrations.upgrade(settings.resolved_database_url)
    database = Database(settings)
    try:
        async with database.session_scope() as session:
            await session.execute(text("CREATE TABLE probe (x INTEGER)"))
        # The write-ahead log and its index exist while a connection is open.
        files = sorted(p.name for p in data.iterdir())
        assert {"vibes.db", "vibes.db-wal", "vibes.db-shm"} <= set(files), files
        for file in data.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await database.dispose()


async def test_files_left_readable_by_others_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "vibes.db").touch()  # as an earlier version left it (an empty file is a database)
    (data / "vibes.db").chmod(0o644)
    sqlite = Backend(name="sqlite", database_url="", redis_url=None)
    settings = make_settings(sqlite, data, database_url=None)
    database = Database(settings)
    try:
        async with database.session_scope() as session:
            await session.connection()
        for file in data.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await database.dispose()
