"""SQLite: the online backup API (safe while the server writes), figures from the copy."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from vibes.backup.archive import BackupError, TableStats
from vibes.db import prepare_sqlite_file


def database_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise BackupError(f"no database file in {make_url(url).render_as_string()}")
    return Path(path)


def table_stats(path: Path) -> dict[str, TableStats]:
    """Per table its rows and an order-free hash of them (the same rule as PostgreSQL's:
    each row hashed, the hashes summed)."""
    with closing(sqlite3.connect(path)) as db:
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        stats = {}
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            rows = total = 0
            for row in db.execute(f"SELECT * FROM {quoted}"):
                rows += 1
                total += int(hashlib.sha256(repr(row).encode()).hexdigest()[:15], 16)
            stats[name] = TableStats(rows=rows, content_hash=str(total))
        return stats


def revision(path: Path) -> str | None:
    with closing(sqlite3.connect(path)) as db:
        try:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
        return str(row[0]) if row else None


def _copy(source: Path, target: Path) -> None:
    """Copy a live database page by page under SQLite's own locking; the copy is made a
    single self-contained file (no write-ahead log beside it)."""
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")


def _dump(url: str, out: Path) -> tuple[str | None, dict[str, TableStats]]:
    source = database_path(url)
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    _copy(source, out)
    return revision(out), table_stats(out)


async def dump(url: str, out: Path) -> tuple[str | None, dict[str, TableStats]]:
    return await asyncio.to_thread(_dump, url, out)


def has_tables(url: str) -> bool:
    path = database_path(url)
    if not path.exists():
        return False
    with closing(sqlite3.connect(path)) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()
    return bool(count)


def _restore(url: str, data: Path) -> dict[str, TableStats]:
    target = database_path(url)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    prepare_sqlite_file(url)
    with closing(sqlite3.connect(data)) as check:
        (result,) = check.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            raise BackupError(f"the backup's database fails SQLite's integrity check: {result}")
    # The backup API replaces the target's pages in one step, under the same locks as any
    # writer, so a process that has the file open sees either the old or the new data.
    with closing(sqlite3.connect(data)) as src, closing(sqlite3.connect(target, timeout=30)) as dst:
        src.backup(dst)
    return table_stats(target)


async def restore(url: str, data: Path) -> dict[str, TableStats]:
    return await asyncio.to_thread(_restore, url, data)


def scratch_copy(data: Path, scratch: Path) -> dict[str, TableStats]:
    _copy(data, scratch)
    return _restore_check(scratch)


def _restore_check(path: Path) -> dict[str, TableStats]:
    with closing(sqlite3.connect(path)) as db:
        (result,) = db.execute("PRAGMA integrity_check").fetchone()
    if result != "ok":
        raise BackupError(f"the restored copy fails SQLite's integrity check: {result}")
    return table_stats(path)
