"""The `vibes` command: the terminal client's commands (`cli/client/`) and the operator's
(`cli/server.py`), side by side."""

from __future__ import annotations

import typer

from vibes.cli import client, server, transfer

app = typer.Typer(
    help="Vibes: a personal journal with reminders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
client.register(app)
transfer.register(app, client.JOURNAL)
server.register(app)


if __name__ == "__main__":
    app()
