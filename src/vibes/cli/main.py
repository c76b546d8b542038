"""The `vibes` command: server commands (serve, worker, db, keys)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from vibes import migrations
from vibes.config import Settings

app = typer.Typer(
    help="Vibes: a personal journal with reminders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    migrate: bool = typer.Option(True, help="Upgrade the database to the newest schema first."),
) -> None:
    """Run the API (and, on the embedded default, the dispatcher) in one process."""
    import uvicorn

    from vibes.app import create_app
    from vibes.platform.keys import load_keyring
    from vibes.platform.logging import configure_logging

    settings = Settings()
    configure_logging(settings)
    if settings.is_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if migrate:
        asyncio.run(
            migrations.upgrade(settings.resolved_database_url, keyring=load_keyring(settings))
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        # Our middleware writes the access log, without query strings (search terms).
        access_log=False,
        # The app reads X-Forwarded-* itself, from VIBES_TRUSTED_PROXIES only.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker() -> None:
    """Run the dispatcher alone: fire due reminders, deliver events. Stops on SIGTERM/SIGINT
    after the step in flight (run several on one PostgreSQL database to share the work)."""
    import signal

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
        async with open_runtime(settings, relay_events=False) as runtime:
            await Dispatcher(
                runtime.database, settings, runtime.broker, keyring=runtime.keyring
            ).run(stop)

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Upgrade the database to REVISION (default: the newest)."""
    from vibes.platform.keys import load_keyring

    settings = Settings()
    asyncio.run(
        migrations.upgrade(settings.resolved_database_url, revision, keyring=load_keyring(settings))
    )
    console.print(f"upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Downgrade the database to REVISION."""
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
    settings = Settings()
    revision = asyncio.run(migrations.current(settings.resolved_database_url))
    head = migrations.head_revision()
    print(revision or "base")
    if revision != head:
        console.print(f"(newest is {head})")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key to the data folder; tokens signed by older keys still verify."""
    from vibes.platform.keys import rotate_signing_key

    key = rotate_signing_key(Settings())
    print(f"new signing key {key.kid}")


if __name__ == "__main__":
    app()
