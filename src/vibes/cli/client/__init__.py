"""The terminal client: `vibes login`, `write`, `list`… talking to a Vibes server over
HTTP only (it imports nothing of the server's domains)."""

from __future__ import annotations

import typer

from vibes.cli.client import account, entries, reminders, search, vault

ACCOUNT = "Account"
JOURNAL = "Journal"
MORE = "Reminders and secret tags"


def register(app: typer.Typer) -> None:
    """Add the client commands to the `vibes` command."""
    app.command(rich_help_panel=ACCOUNT)(account.login)
    app.command(rich_help_panel=ACCOUNT)(account.logout)
    app.command(rich_help_panel=ACCOUNT)(account.whoami)
    app.command(rich_help_panel=JOURNAL)(entries.write)
    app.command("list", rich_help_panel=JOURNAL)(entries.list_entries)
    app.command(rich_help_panel=JOURNAL)(entries.show)
    app.command(rich_help_panel=JOURNAL)(entries.edit)
    app.command(rich_help_panel=JOURNAL)(entries.delete)
    app.command(rich_help_panel=JOURNAL)(search.search)
    app.command(rich_help_panel=JOURNAL)(search.tags)
    app.add_typer(reminders.app, name="remind", rich_help_panel=MORE)
    app.command(rich_help_panel=MORE)(vault.unlock)
    app.command(rich_help_panel=MORE)(vault.lock)
