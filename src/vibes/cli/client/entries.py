"""Entries: `vibes write`, `list`, `show`, `edit`, `delete`."""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from vibes.cli.client.api import Client, ClientError, ExitCode, Problem
from vibes.cli.client.common import (
    JsonOption,
    ProfileOption,
    YesOption,
    connect,
    edit_text,
    err,
    handle_errors,
    out,
    print_json,
    rescue,
    resolve,
    short,
    stdin_is_piped,
    user_zone,
)
from vibes.cli.client.dates import DateError, humanize, parse_date, parse_instant
from vibes.cli.client.text import from_editable, quick, to_editable

EDIT_DATE_FORMAT = "%Y-%m-%d %H:%M"


def _tags_text(tags: list[str]) -> str:
    return " ".join(f"@{tag}" for tag in tags)


def _secret_tag_id(client: Client, name: str) -> str:
    for unlock in client.profile.live_unlocks():
        for tag in unlock.tags:
            if str(tag.get("name", "")).casefold() == name.casefold():
                return str(tag["id"])
    raise ClientError(
        f"no unlocked secret tag named {name!r}: run `vibes unlock` first", ExitCode.AUTH
    )


@handle_errors
def write(
    text: Annotated[
        list[str] | None,
        typer.Argument(help="'Title. Body with @tags' (none: $EDITOR, or standard input)."),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", "-d", help="When it happened: 'yesterday 21:00', 'friday'…"),
    ] = None,
    mood: Annotated[int | None, typer.Option("--mood", "-m", min=1, max=10)] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Add a tag.")] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="Into this unlocked secret tag.")
    ] = None,
    edit: Annotated[bool, typer.Option("--edit", "-e", help="Open $EDITOR anyway.")] = False,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write an entry: the first sentence is the title, @words are tags."""
    with connect(profile) as client:
        if not client.profile.signed_in:
            raise ClientError("not signed in: run `vibes login URL`", ExitCode.AUTH)
        typed = None
        if text and not edit:
            source = " ".join(text)
            draft = quick(source)
            title, content, tags, when, feeling = draft.title, draft.content, draft.tags, None, None
        else:
            if edit or not stdin_is_piped():
                source = typed = edit_text(" ".join(text or []))
            else:
                source = typer.get_text_stream("stdin").read()
            if not source.strip():
                err().print("Nothing written (the entry is empty).")
                return
            try:
                form = from_editable(source)
            except ValueError as exc:
                raise _kept(ClientError(str(exc), ExitCode.USAGE), typed) from None
            title, content, tags, when, feeling = (
                form.title,
                form.content,
                form.tags,
                form.date,
                form.mood,
            )
        body: dict[str, Any] = {"title": title, "content": content}
        for extra in tag or []:
            if extra.casefold() not in {t.casefold() for t in tags}:
                tags.append(extra)
        body["tags"] = tags
        try:
            when = date or when
            if when:
                body["entry_date"] = parse_date(when, tz=user_zone(client)).isoformat()
            if mood is not None or feeling is not None:
                body["mood_rating"] = mood if mood is not None else feeling
            if secret:
                body["secret_tag_id"] = _secret_tag_id(client, secret)
            entry = client.post_once("/journals", body)
        except DateError as exc:
            raise _kept(ClientError(str(exc), ExitCode.USAGE), typed) from None
        except ClientError as exc:
            raise _kept(exc, typed) from None
        if json_output:
            print_json(entry)
            return
        where = f" in {entry['secret_tag']['name']}" if entry.get("secret_tag") else ""
        out().print(
            f"[green]Written[/] [cyan]{short(entry['id'])}[/] [bold]{_e(entry['title'])}[/]"
            f"{_e(' ' + _tags_text(entry['tags'])) if entry['tags'] else ''}{_e(where)}"
        )


def _kept(error: ClientError, typed: str | None) -> ClientError:
    """Text typed in the editor is never lost: kept in a file the message names."""
    if typed is not None:
        error.message += f" (your text is kept in {rescue(typed, 'new-entry')})"
    return error


def _e(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@handle_errors
def list_entries(
    number: Annotated[int, typer.Option("-n", "--number", min=1, help="How many.")] = 10,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Only with this tag (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this day or time.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Up to this day or time.")] = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """List entries, newest first."""
    with connect(profile) as client:
        tz = user_zone(client)
        params: dict[str, Any] = {}
        if tag:
            params["tag"] = tag
        if since:
            params["from"] = parse_date(since, tz=tz).isoformat()
        if until:
            params["to"] = parse_date(until, tz=tz, end_of_day=True).isoformat()
        items = list(client.pages("/journals", params, number))
    if json_output:
        print_json(items)
        return
    if not items:
        err().print("No entries.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("when", style="magenta", no_wrap=True)
    table.add_column("title", ratio=1, min_width=16)
    table.add_column("tags", style="green")
    table.add_column("mood", justify="right")
    table.add_column("words", justify="right", style="dim")
    for item in items:
        title = Text()
        title.append(item["title"], style="bold")
        if item.get("secret_tag"):
            title.append(f"  🔒 {item['secret_tag']['name']}", style="yellow")
        table.add_row(
            short(item["id"]),
            humanize(item["entry_date"], tz),
            title,
            _tags_text(item["tags"]),
            "" if item.get("mood_rating") is None else str(item["mood_rating"]),
            str(item.get("word_count", "")),
        )
    out().print(table)


@handle_errors
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The id, or 4+ of its characters.")],
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one entry."""
    with connect(profile) as client:
        entry = client.get(f"/journals/{resolve(client, 'entry', entry_id)}")
        tz = user_zone(client)
    if json_output:
        print_json(entry)
        return
    console = out()
    console.print(Text(entry["title"], style="bold"))
    facts = [humanize(entry["entry_date"], tz), f"{entry.get('word_count', 0)} words"]
    if entry.get("mood_rating") is not None:
        facts.append(f"mood {entry['mood_rating']}")
    if entry.get("secret_tag"):
        facts.append(f"🔒 {entry['secret_tag']['name']}")
    facts.append(entry["id"])
    console.print(Text(" · ".join(facts), style="dim"))
    if entry["tags"]:
        console.print(Text(_tags_text(entry["tags"]), style="green"))
    if entry["content"]:
        console.print()
        if console.is_terminal:
            from rich.markdown import Markdown  # markdown-it: only when it is drawn

            console.print(Markdown(entry["content"]))
        else:
            console.print(Text(entry["content"]))


def _editable(entry: dict[str, Any], tz: dt.tzinfo) -> str:
    return to_editable(
        entry["title"],
        entry["content"],
        date=parse_instant(entry["entry_date"]).astimezone(tz).strftime(EDIT_DATE_FORMAT),
        tags=entry["tags"],
        mood=entry.get("mood_rating"),
    )


@handle_errors
def edit(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The id, or 4+ of its characters.")],
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Edit an entry in $EDITOR.

    If it changed on the server meanwhile, nothing is overwritten: the conflict is shown
    and your text kept in a file."""
    with connect(profile) as client:
        full_id = resolve(client, "entry", entry_id)
        response = client.request("GET", f"/journals/{full_id}")
        entry = response.json()
        etag = response.headers.get("ETag") or f'"{entry["version"]}"'
        tz = user_zone(client)
        before = _editable(entry, tz)
        after = edit_text(before)
        if after == before:
            err().print("No changes.")
            return
        try:
            patch = _patch(entry, after, tz)
        except (ValueError, ClientError) as exc:
            message = exc.message if isinstance(exc, ClientError) else str(exc)
            raise ClientError(
                f"{message} (your text is kept in {rescue(after, short(full_id))})",
                ExitCode.USAGE,
            ) from None
        if not patch:
            err().print("No changes.")
            return
        try:
            updated = client.request(
                "PATCH", f"/journals/{full_id}", json=patch, headers={"If-Match": etag}
            ).json()
        except Problem as exc:
            kept = rescue(after, short(full_id))
            if exc.status == 412:
                _show_conflict(client, full_id, after, tz)
                raise ClientError(
                    f"the entry changed on the server while you edited it; nothing was "
                    f"overwritten. Your text is kept in {kept}",
                    ExitCode.CONFLICT,
                ) from None
            exc.message += f" (your text is kept in {kept})"
            raise
    if json_output:
        print_json(updated)
        return
    out().print(
        f"[green]Saved[/] [cyan]{short(updated['id'])}[/] [bold]{_e(updated['title'])}[/] "
        f"[dim](version {updated['version']})[/]"
    )


def _patch(entry: dict[str, Any], text: str, tz: dt.tzinfo) -> dict[str, Any]:
    form = from_editable(text)
    patch: dict[str, Any] = {}
    if form.title != entry["title"]:
        patch["title"] = form.title
    if form.content != entry["content"].rstrip("\n"):
        patch["content"] = form.content
    if [t.casefold() for t in form.tags] != [t.casefold() for t in entry["tags"]]:
        patch["tags"] = form.tags
    if form.mood != entry.get("mood_rating"):
        patch["mood_rating"] = form.mood
    shown = parse_instant(entry["entry_date"]).astimezone(tz).strftime(EDIT_DATE_FORMAT)
    if form.date and form.date != shown:
        patch["entry_date"] = parse_date(form.date, tz=tz).isoformat()
    return patch


def _show_conflict(client: Client, full_id: str, mine: str, tz: dt.tzinfo) -> None:
    try:
        theirs = _editable(client.get(f"/journals/{full_id}"), tz)
    except Problem as exc:
        err().print(f"[yellow]The entry is gone from the server ({exc.message}).[/]")
        return
    console = err()
    console.print("[bold yellow]Conflict:[/] the server's version → yours:")
    diff = difflib.unified_diff(
        theirs.splitlines(), mine.splitlines(), "server", "yours", lineterm=""
    )
    for line in diff:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        console.print(Text(line, style=style))


@handle_errors
def delete(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The id, or 4+ of its characters.")],
    yes: YesOption = False,
    profile: ProfileOption = None,
) -> None:
    """Delete an entry."""
    with connect(profile) as client:
        full_id = resolve(client, "entry", entry_id)
        response = client.request("GET", f"/journals/{full_id}")
        entry = response.json()
        if not yes and not typer.confirm(f"Delete “{entry['title']}”?", default=False):
            raise typer.Exit(ExitCode.ERROR)
        etag = response.headers.get("ETag") or f'"{entry["version"]}"'
        client.request("DELETE", f"/journals/{full_id}", headers={"If-Match": etag})
    err().print(f"Deleted {short(full_id)}.")
