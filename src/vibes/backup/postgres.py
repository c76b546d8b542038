"""PostgreSQL: `pg_dump`/`pg_restore` in custom format, figures from the dump's snapshot."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from vibes.backup.archive import BackupError, TableStats

# Each row's text form hashed and summed: the same rows give the same figure whatever
# order they are stored or read in, and nothing but two numbers leaves the server.
_STATS = (
    "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)"
    "::text FROM {table} AS t"
)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore; the password goes in the environment,
    never on a command line that `ps` shows."""
    u = make_url(url)
    args = ["--dbname", u.database or "postgres"]
    if u.host:
        args += ["--host", u.host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    env = {**os.environ}
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    return args, env


async def _run(tool: str, *args: str, env: dict[str, str]) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            tool, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except FileNotFoundError:
        raise BackupError(f"{tool} is not installed (PostgreSQL's client tools)") from None
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"{tool} failed: {err.decode(errors='replace').strip()}")


async def table_stats(conn: asyncpg.Connection) -> dict[str, TableStats]:
    await conn.execute("SET TIME ZONE 'UTC'")
    names = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    stats = {}
    for (name,) in names:
        quoted = '"' + name.replace('"', '""') + '"'
        rows, digest = await conn.fetchrow(_STATS.format(table=quoted))
        stats[name] = TableStats(rows=rows, content_hash=digest)
    return stats


async def _revision(conn: asyncpg.Connection) -> str | None:
    try:
        value: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return None
    return value


async def dump(url: str, out: Path) -> tuple[str | None, dict[str, TableStats]]:
    """Dump the database to `out` while it keeps serving writes; the figures are counted
    in the very snapshot the dump reads (an exported snapshot held open meanwhile)."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            revision = await _revision(conn)
            stats = await table_stats(conn)
            args, env = _tool_args(url)
            await _run(
                "pg_dump", "--format=custom", f"--snapshot={snapshot}", "--file", str(out),
                *args, env=env,
            )  # fmt: skip
    finally:
        await conn.close()
    return revision, stats


async def has_tables(url: str) -> bool:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return bool(
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        )
    finally:
        await conn.close()


async def restore(url: str, data: Path, *, replace: bool) -> dict[str, TableStats]:
    """Restore a dump into the database at `url` in one transaction; with `replace`, what
    the database held is dropped in that same transaction, so a restore that fails or is
    killed halfway leaves the database as it was. Returns the restored figures."""
    args, env = _tool_args(url)
    script = data.with_name(data.name + ".sql")
    # The dump as SQL, then one psql transaction: the drop, and the whole restore.
    await _run(
        "pg_restore", "--no-owner", "--no-privileges", "--file", str(script), str(data),
        env=env,
    )  # fmt: skip
    try:
        prelude = "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;" if replace else ""
        await _run(
            "psql", "--quiet", "--no-psqlrc", "--single-transaction",
            "--set", "ON_ERROR_STOP=1", *args, "--command", prelude or "SELECT 1",
            "--file", str(script), env=env,
        )  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    conn = await asyncpg.connect(_dsn(url))
    try:
        return await table_stats(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(url: str) -> AsyncIterator[str]:
    """A new, empty database on the same server, dropped afterwards."""
    name = f"vibes_verify_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_dsn(url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError:
        raise BackupError(
            "verifying needs a scratch database: grant CREATEDB to this role, or pass "
            "--scratch-url with an empty database"
        ) from None
    finally:
        await admin.close()
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_dsn(url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
