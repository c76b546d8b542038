"""`vibes export` and `vibes import`: over the HTTP API as the signed-in user, or, with
`--email`, the operator's way, straight on the server's database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vibes.cli.client import transfer as client_transfer
from vibes.cli.client.common import JsonOption, ProfileOption, fail, handle_errors

EXPORT_FORMATS = ("json", "markdown")
IMPORT_FORMATS = ("vibes", "markdown", "jrnl", "dayone")

EmailOption = Annotated[
    str | None,
    typer.Option(
        "--email",
        help="Operator: work on this account directly in the server's database "
        "(VIBES_DATABASE_URL/VIBES_DATA_DIR), no sign-in.",
    ),
]


@handle_errors
def export_account(
    format: Annotated[
        str, typer.Option("--format", "-f", help="json (the vibes document) or markdown (a zip).")
    ] = "json",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="File to write (default: stdout)."),
    ] = None,
    email: EmailOption = None,
    profile: ProfileOption = None,
) -> None:
    """Export your journal (secret entries only while unlocked).

    With --email, the operator's way: one account straight from the server's database.
    """
    if format not in EXPORT_FORMATS:
        raise fail("--format is json or markdown", 2)
    if format == "markdown" and output is None and sys.stdout.isatty():
        raise fail("a zip is no sight for a terminal: add -o FILE (or pipe it)", 2)
    if email is None:
        client_transfer.export(profile, format, output)
        return
    from vibes.cli.server import operator_export

    with client_transfer.private_output(output) as sink:
        operator_export(email, format, sink.write)


@handle_errors
def import_account(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file to import.")],
    format: Annotated[str, typer.Option("--format", "-f", help="vibes, markdown, jrnl or dayone.")],
    email: EmailOption = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Import a file (all of it, or nothing and an error).

    The same file twice adds nothing new. With --email, the operator's way: into one
    account straight in the server's database.
    """
    if format not in IMPORT_FORMATS:
        raise fail("--format is vibes, markdown, jrnl or dayone", 2)
    if email is None:
        client_transfer.import_(profile, format, file, json_output)
        return
    from vibes.cli.server import operator_import

    operator_import(file, email, format)


def register(app: typer.Typer, panel: str) -> None:
    app.command("export", rich_help_panel=panel)(export_account)
    app.command("import", rich_help_panel=panel)(import_account)
