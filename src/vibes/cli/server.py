"""The operator's commands of `vibes`: serve, worker, db, keys, users, invites, backup,
restore, and the database side of export/import (`--email`). They work on the server's
database directly.

Each command imports the server's modules itself: `vibes write` and the other client
commands start without loading SQLAlchemy, Alembic and the app (a third of a second)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

app = typer.Typer(
    help="Vibes: a personal journal with reminders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts, made by the operator.", no_args_is_help=True)
invites_app = typer.Typer(help="Invite codes (VIBES_REGISTRATION=invite).", no_args_is_help=True)
OPERATOR = "Server (operator)"
app.add_typer(db_app, name="db", rich_help_panel=OPERATOR)
app.add_typer(keys_app, name="keys", rich_help_panel=OPERATOR)
app.add_typer(users_app, name="users", rich_help_panel=OPERATOR)
app.add_typer(invites_app, name="invites", rich_help_panel=OPERATOR)
console = Console(stderr=True)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from vibes.config import Settings


@app.command(rich_help_panel=OPERATOR)
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    migrate: bool = typer.Option(True, help="Upgrade the database to the newest schema first."),
    workers: int | None = typer.Option(
        None,
        min=1,
        max=256,
        help="API processes on this port (default: one per core on PostgreSQL with Redis, "
        "else 1; more than one needs both).",
    ),
) -> None:
    """Run the API (and, on the embedded default, the dispatcher): in one process, or in
    WORKERS processes sharing the port."""
    import uvicorn

    from vibes.config import Settings
    from vibes.platform.keys import load_keyring
    from vibes.platform.logging import configure_logging

    settings = Settings()
    configure_logging(settings)
    count = default_workers(settings) if workers is None else workers
    refusal = workers_refusal(settings, count)
    if refusal is not None:
        console.print(f"[red]{refusal}[/red]")
        raise typer.Exit(2)
    if settings.is_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Before any worker starts: the data folder's keys are made once, not raced for.
    load_keyring(settings)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        # Our middleware writes the access log, without query strings (search terms).
        "access_log": False,
        # The app reads X-Forwarded-* itself, from VIBES_TRUSTED_PROXIES only.
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    if migrate:
        _upgrade_in_a_child()
    if count == 1:
        from vibes.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    _serve_workers(count, options)


def _upgrade_in_a_child() -> None:
    """The schema upgrade, once, before any worker starts, in a process of its own: the
    parent of N workers only supervises, and would otherwise keep SQLAlchemy, Alembic and
    every model in memory (some 80 MB) for the life of the serve; a single worker would
    keep Alembic and Mako (~6 MB of its peak, measured with the export benchmark)."""
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(
        target=upgrade_schema, name="vibes-migrate"
    )
    process.start()
    process.join()
    if process.exitcode != 0:
        console.print("[red]the schema upgrade failed: no worker started[/red]")
        raise typer.Exit(1)


def upgrade_schema() -> None:
    from vibes import migrations
    from vibes.config import Settings
    from vibes.platform.keys import load_keyring
    from vibes.platform.logging import configure_logging

    settings = Settings()
    configure_logging(settings)
    asyncio.run(migrations.upgrade(settings.resolved_database_url, keyring=load_keyring(settings)))


def default_workers(settings: Settings) -> int:
    """One per core where the processes share everything (PostgreSQL and Redis), else 1."""
    if settings.is_sqlite or not settings.redis_url:
        return 1
    return len(os.sched_getaffinity(0)) or 1


def workers_refusal(settings: Settings, count: int) -> str | None:
    """Why `count` processes cannot serve with these settings, or None."""
    if count == 1:
        return None
    if settings.is_sqlite:
        return (
            f"--workers {count} needs PostgreSQL (VIBES_DATABASE_URL): SQLite takes one "
            "writer at a time, and one process is what it serves best."
        )
    if not settings.redis_url:
        return (
            f"--workers {count} needs Redis (VIBES_REDIS_URL): without it rate limits, "
            "secret-tag unlocks, cached figures and live events are kept per process, so "
            "each process would count its own limits and see its own unlocks."
        )
    return None


def _serve_workers(count: int, options: dict[str, Any]) -> None:
    """uvicorn's supervisor with `count` workers, each building the app from the same
    environment (`serve_app`); their metrics meet in a fresh folder, removed at the end."""
    import shutil
    import tempfile

    import uvicorn

    folder = Path(tempfile.mkdtemp(prefix="vibes-serve-"))
    # Read by prometheus_client when a worker first imports it, and by Settings.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    stop = threading.Event()
    sweeper = threading.Thread(
        target=_sweep_dead_workers, args=(folder, stop), name="vibes-metrics-sweeper"
    )
    sweeper.start()
    try:
        uvicorn.run(f"{__name__}:serve_app", factory=True, workers=count, **options)
    finally:
        stop.set()
        sweeper.join()
        shutil.rmtree(folder, ignore_errors=True)


SWEEP_SECONDS = 2.0


def _sweep_dead_workers(folder: Path, stop: threading.Event) -> None:
    """Drop the live gauges of every process that wrote into `folder` and is gone: uvicorn
    replaces a dead worker without telling anyone. (Here rather than in the metrics
    module, whose imports the parent would then carry.)"""
    from prometheus_client import multiprocess

    while not stop.wait(SWEEP_SECONDS):
        pids = set()
        for path in folder.glob("gauge_live*_*.db"):
            digits = path.stem.rpartition("_")[2]
            if digits.isdigit():
                pids.add(int(digits))
        for pid in pids:
            if not _alive(pid):
                multiprocess.mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: a zombie cannot be told from a live process
    # "pid (name) S ...": a zombie has exited, whoever has yet to reap it.
    return stat.rpartition(")")[2].split()[0] != "Z"


PR_SET_PDEATHSIG = 1


def _end_with_the_parent() -> None:
    """This worker gets SIGTERM (a graceful stop) when the supervising parent dies, even
    killed: left alone it would go on answering on the port with nobody to stop it."""
    import ctypes
    import signal
    import sys

    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def serve_app() -> FastAPI:
    """A worker's app under `vibes serve --workers N`: settings from the environment the
    parent passed down (migrations already ran there)."""
    import logging

    from vibes.app import create_app
    from vibes.config import Settings
    from vibes.platform.logging import configure_logging

    _end_with_the_parent()
    settings = Settings()
    configure_logging(settings)
    # uvicorn silenced its access log (it has query strings: search terms) before this
    # ran, and configure_logging opened it again.
    logging.getLogger("uvicorn.access").propagate = False
    return create_app(settings)


@app.command(rich_help_panel=OPERATOR)
def worker() -> None:
    """Run the dispatcher alone: fire due reminders, deliver events.

    Stops on SIGTERM/SIGINT after the step in flight (run several on one PostgreSQL
    database to share the work)."""
    import signal

    from vibes.config import Settings
    from vibes.events.dispatcher import Dispatcher
    from vibes.platform.logging import configure_logging
    from vibes.runtime import open_runtime

    settings = Settings()
    configure_logging(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # Publish-only: a worker has no stream clients of its own, so it relays nothing.
        async with open_runtime(settings, relay_events=False, serves_reads=False) as runtime:
            await Dispatcher(
                runtime.database,
                settings,
                runtime.broker,
                keyring=runtime.keyring,
                wakeups=runtime.wakeups,
            ).run(stop)

    try:
        import uvloop
    except ImportError:  # not built for this platform: asyncio's own loop
        asyncio.run(main())
    else:
        # The loop `vibes serve` gets from uvicorn; ~30 % less CPU per webhook sent.
        uvloop.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Upgrade the database to REVISION (default: the newest)."""
    from vibes import migrations
    from vibes.config import Settings
    from vibes.platform.keys import load_keyring

    settings = Settings()
    asyncio.run(
        migrations.upgrade(settings.resolved_database_url, revision, keyring=load_keyring(settings))
    )
    console.print(f"upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Downgrade the database to REVISION."""
    from vibes import migrations
    from vibes.config import Settings
    from vibes.platform.keys import load_keyring

    settings = Settings()
    asyncio.run(
        migrations.downgrade(
            settings.resolved_database_url, revision, keyring=load_keyring(settings)
        )
    )
    console.print(f"downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision."""
    from vibes import migrations
    from vibes.config import Settings

    settings = Settings()
    revision = asyncio.run(migrations.current(settings.resolved_database_url))
    head = migrations.head_revision()
    print(revision or "base")
    if revision != head:
        console.print(f"(newest is {head})")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key to the data folder; tokens signed by older keys still verify."""
    from vibes.config import Settings
    from vibes.platform.keys import rotate_signing_key

    key = rotate_signing_key(Settings())
    print(f"new signing key {key.kid}")


@users_app.command("add")
def users_add(
    email: str = typer.Argument(..., help="The account's email address."),
    display_name: str | None = typer.Option(None, help="The name shown in the apps."),
    timezone: str | None = typer.Option(None, help="IANA time zone (default UTC)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Create an account, whatever VIBES_REGISTRATION says (the way in when it is closed)."""
    import sys

    from vibes.accounts.signin import create_account
    from vibes.config import Settings
    from vibes.errors import DomainError
    from vibes.platform.usercache import standalone_database

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = Settings()

    async def main() -> str:
        async with standalone_database(settings) as database, database.session_scope() as session:
            user = await create_account(
                session,
                settings,
                email=email,
                password=password,
                display_name=display_name,
                timezone=timezone,
            )
            return str(user.id)

    try:
        user_id = asyncio.run(main())
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    print(f"created account {user_id} for {email}")


@invites_app.command("create")
def invites_create(
    count: int = typer.Option(1, min=1, max=100, help="How many codes."),
    days: int = typer.Option(7, min=1, max=365, help="Days each code stays valid."),
    note: str | None = typer.Option(None, max=200, help="A reminder of whom they are for."),
) -> None:
    """Print new single-use invite codes (shown once; only their hashes are stored)."""
    import datetime as dt

    from vibes.accounts.invites import create_invites
    from vibes.config import Settings
    from vibes.platform.usercache import standalone_database

    settings = Settings()

    async def main() -> list[str]:
        async with standalone_database(settings) as database, database.session_scope() as session:
            return await create_invites(
                session, count=count, valid_for=dt.timedelta(days=days), note=note
            )

    for code in asyncio.run(main()):
        print(code)
    if settings.registration != "invite":
        console.print(f"(VIBES_REGISTRATION is {settings.registration!r}: codes apply in 'invite')")


def operator_export(email: str, format: str, write: Callable[[bytes], object]) -> None:
    """`vibes export --email`: one account's export, straight from the database (secret
    entries stay out)."""
    from vibes.config import Settings
    from vibes.errors import DomainError
    from vibes.portability.operator import export_to

    try:
        asyncio.run(export_to(Settings(), email, format, write))  # type: ignore[arg-type]
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None


def operator_import(file: Path, email: str, format: str) -> None:
    """`vibes import --email`: a file into one account, straight into the database: all
    of it or (an error, printed) nothing."""
    import json

    from vibes.config import Settings
    from vibes.errors import DomainError
    from vibes.portability.operator import import_from

    try:
        summary = asyncio.run(import_from(Settings(), email, format, file))  # type: ignore[arg-type]
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    print(json.dumps(summary.model_dump()))


@app.command("backup", rich_help_panel=OPERATOR)
def backup(
    file: Path = typer.Argument(..., dir_okay=False, help="The backup file to write (or check)."),
    verify: bool = typer.Option(
        False, "--verify", help="Check FILE: restore it into a scratch database and compare."
    ),
    scratch_url: str | None = typer.Option(
        None, help="PostgreSQL: an empty database to verify into (default: a temporary one)."
    ),
) -> None:
    """Back up the whole database into FILE while the server runs (keys are not included)."""
    from vibes.backup.archive import BackupError
    from vibes.backup.service import create_backup, verify_backup
    from vibes.config import Settings

    url = Settings().resolved_database_url
    try:
        if not verify:
            manifest = asyncio.run(create_backup(url, file))
            rows = sum(t.rows for t in manifest.tables.values())
            console.print(
                f"backed up {len(manifest.tables)} tables, {rows} rows "
                f"({manifest.data_bytes} bytes, schema {manifest.schema_revision}) to {file}"
            )
            return
        result = asyncio.run(verify_backup(url, file, scratch_url=scratch_url))
    except BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if result.mismatches:
        for problem in result.mismatches:
            console.print(f"[red]{problem}[/red]")
        raise typer.Exit(1)
    rows = sum(t.rows for t in result.restored.values())
    console.print(
        f"{file} is sound: {len(result.restored)} tables, {rows} rows restored and matching "
        f"(made {result.manifest.created_at}, schema {result.manifest.schema_revision})"
    )


@app.command("restore", rich_help_panel=OPERATOR)
def restore(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A `vibes backup` file."),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite a database that already holds data."
    ),
) -> None:
    """Restore FILE into the configured database, then upgrade its schema.

    Stop the servers first: anything written meanwhile is overwritten."""
    from vibes.backup.archive import BackupError
    from vibes.backup.service import restore_backup
    from vibes.config import Settings
    from vibes.platform.keys import load_keyring

    settings = Settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        manifest = asyncio.run(
            restore_backup(
                settings.resolved_database_url,
                file,
                replace=replace,
                keyring=load_keyring(settings),
            )
        )
    except BackupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    rows = sum(t.rows for t in manifest.tables.values())
    console.print(f"restored {rows} rows from {file} (made {manifest.created_at})")


def register(target: typer.Typer) -> None:
    """Add these commands to the `vibes` command (after the client's, which people meet
    first in `vibes --help`)."""
    target.registered_commands.extend(app.registered_commands)
    target.registered_groups.extend(app.registered_groups)
