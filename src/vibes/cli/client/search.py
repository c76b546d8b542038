"""`vibes search` (matches highlighted) and `vibes tags`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.table import Table
from rich.text import Text

from vibes.cli.client.api import ClientError, ExitCode
from vibes.cli.client.common import (
    JsonOption,
    ProfileOption,
    connect,
    err,
    handle_errors,
    out,
    print_json,
    short,
    user_zone,
)
from vibes.cli.client.dates import humanize

HIGHLIGHT = "bold black on yellow"


@handle_errors
def search(
    words: Annotated[list[str], typer.Argument(help='Words, "a phrase", word*, -word, or.')],
    kind: Annotated[
        str, typer.Option("--type", help="journals, reminders, tags or all.")
    ] = "journals",
    number: Annotated[int, typer.Option("-n", "--number", min=1)] = 20,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Full-text search, best matches first, matches highlighted."""
    if kind not in ("journals", "reminders", "tags", "all"):
        raise ClientError("--type is journals, reminders, tags or all", ExitCode.USAGE)
    with connect(profile) as client:
        items = list(client.pages("/search", {"q": " ".join(words), "type": kind}, number))
        tz = user_zone(client)
    if json_output:
        print_json(items)
        return
    if not items:
        err().print("Nothing found.")
        return
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("when", style="magenta", no_wrap=True)
    table.add_column("match", ratio=1)
    for item in items:
        cell = Text()
        cell.append(item["title"], style="bold")
        if kind == "all":
            cell.append(f"  {item['type']}", style="dim")
        snippet = highlighted(item.get("snippet") or "", item.get("highlights") or [])
        if snippet and snippet.plain != item["title"]:
            cell.append("\n")
            cell.append_text(snippet)
        table.add_row(short(item["id"]), humanize(item["created_at"], tz), cell)
    out().print(table)


def highlighted(snippet: str, spans: list[list[int]]) -> Text:
    """The snippet with the API's [start, end) character offsets styled."""
    text = Text(snippet)
    for span in spans:
        start, end = int(span[0]), int(span[1])
        if 0 <= start < end <= len(snippet):
            text.stylize(HIGHLIGHT, start, end)
    return text


@handle_errors
def tags(profile: ProfileOption = None, json_output: JsonOption = False) -> None:
    """Your tags and how many entries each has."""
    with connect(profile) as client:
        items = client.get("/tags")
    if isinstance(items, dict):  # a paginated answer
        items = items.get("items", [])
    if json_output:
        print_json(items)
        return
    if not items:
        err().print("No tags yet: add @tags when you write.")
        return
    coloured = any(item.get("color") for item in items)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("tag", style="green")
    table.add_column("entries", justify="right")
    if coloured:
        table.add_column("colour")
    for item in sorted(items, key=lambda t: (-t.get("journal_count", 0), t["name"].casefold())):
        row: list[str | Text] = [f"@{item['name']}", str(item.get("journal_count", 0))]
        if coloured:
            row.append(_swatch(item.get("color")))
        table.add_row(*row)
    out().print(table)


def _swatch(colour: str | None) -> Text:
    if not colour:
        return Text("")
    try:
        return Text(f"■ {colour}", style=Style.parse(colour))
    except StyleSyntaxError:
        return Text(colour)
