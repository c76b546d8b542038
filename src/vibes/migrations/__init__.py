"""Running the Alembic migrations shipped inside the package, on either database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from vibes.db import prepare_sqlite_file
from vibes.platform.keys import KeyRing

HERE = Path(__file__).resolve().parent
# Any constant would do: it only has to be the same in every process that migrates.
_ADVISORY_LOCK_ID = 727_274_001


# Objects that exist only in migrations (SQLite's FTS5 tables and their triggers,
# PostgreSQL's expression indexes) are not in the models; comparisons skip them.
MIGRATION_ONLY_PREFIXES = ("journals_fts", "fts_")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (name and name.startswith(MIGRATION_ONLY_PREFIXES))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option(
        "file_template",
        "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s",
    )
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def _run(
    url: str, action: str, revision: str | None = None, keyring: KeyRing | None = None
) -> str | None:
    # A plain engine, not the app's: on SQLite foreign keys must stay off while batch
    # migrations copy tables, or dropping the old copy would cascade into other tables.
    if url.startswith("sqlite"):
        # Migrating first creates the file: owner-only, as the app would have made it.
        prepare_sqlite_file(url)
    engine = create_async_engine(url)
    result: list[str | None] = [None]

    def work(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            # Several processes starting at once: one migrates, the others wait and find
            # nothing left to do.
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        # For migrations that seal or open data under the server key (else they load it).
        cfg.attributes["keyring"] = keyring
        if action == "upgrade":
            command.upgrade(cfg, revision or "head")
        elif action == "downgrade":
            assert revision is not None
            command.downgrade(cfg, revision)
        else:
            result[0] = MigrationContext.configure(conn).get_current_revision()

    try:
        async with engine.begin() as conn:
            await conn.run_sync(work)
    finally:
        await engine.dispose()
    return result[0]


async def upgrade(url: str, revision: str = "head", *, keyring: KeyRing | None = None) -> None:
    await _run(url, "upgrade", revision, keyring)


async def downgrade(url: str, revision: str, *, keyring: KeyRing | None = None) -> None:
    await _run(url, "downgrade", revision, keyring)


async def current(url: str) -> str | None:
    return await _run(url, "current")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    """Every revision this version of Vibes ships (a backup from a newer one is refused)."""
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
