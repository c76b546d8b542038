"""`vibes remind add | list | done | snooze | delete`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from vibes.cli.client.api import ExitCode
from vibes.cli.client.common import (
    JsonOption,
    ProfileOption,
    YesOption,
    connect,
    err,
    handle_errors,
    out,
    print_json,
    resolve,
    short,
    user_zone,
)
from vibes.cli.client.dates import DateError, humanize, parse_date, parse_duration

app = typer.Typer(help="Reminders: add, list, done, snooze.", no_args_is_help=True)
SHORTHANDS = ("daily", "weekdays", "weekends", "weekly", "monthly")
# A reminder for a day with no time ("friday", "2026-12-10") rings in the morning, as
# jrnl's default hour does, not at midnight while its owner sleeps.
REMINDER_DAY_TIME = dt.time(9)


def _said(reminder: dict[str, Any], tz: Any) -> str:
    when = humanize(reminder.get("next_fire_at") or reminder["remind_at"], tz)
    repeat = f", repeats {reminder['recurrence']}" if reminder.get("recurrence") else ""
    return f"[cyan]{short(reminder['id'])}[/] {_e(reminder['title'])} [magenta]{when}[/]{repeat}"


def _e(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command("add")
@handle_errors
def add(
    when: Annotated[str, typer.Argument(help="'tomorrow 9am', 'friday 18:00', 'in 2h'…")],
    title: Annotated[list[str], typer.Argument(help="What to be reminded of.")],
    every: Annotated[
        str | None,
        typer.Option(
            "--every", help=f"{', '.join(SHORTHANDS)} or an RRULE (FREQ=WEEKLY;BYDAY=MO)."
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    priority: Annotated[int | None, typer.Option("--priority", min=1, max=5)] = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a reminder."""
    with connect(profile) as client:
        tz = user_zone(client)
        body: dict[str, Any] = {
            "title": " ".join(title),
            "remind_at": parse_date(
                when, tz=tz, prefer="future", day_time=REMINDER_DAY_TIME
            ).isoformat(),
        }
        if every:
            body["recurrence"] = every.strip().removeprefix("RRULE:")
        if notes:
            body["notes"] = notes
        if priority is not None:
            body["priority"] = priority
        reminder = client.post_once("/reminders", body)
    if json_output:
        print_json(reminder)
        return
    out().print(f"[green]Reminder set[/] {_said(reminder, tz)}")


@app.command("list")
@handle_errors
def list_reminders(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Completed ones too.")] = False,
    number: Annotated[int, typer.Option("-n", "--number", min=1)] = 50,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Reminders to come, soonest first."""
    with connect(profile) as client:
        params = {"status": "all" if all_ else "pending"}
        items = list(client.pages("/reminders", params, number))
        tz = user_zone(client)
    if json_output:
        print_json(items)
        return
    if not items:
        err().print("No reminders.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("when", style="magenta", no_wrap=True)
    table.add_column("reminder", ratio=1)
    table.add_column("repeats", style="dim")
    table.add_column("!", justify="right")
    for item in items:
        title = Text(item["title"], style="dim strike" if item["is_completed"] else "bold")
        if item.get("snoozed_until"):
            title.append("  (snoozed)", style="yellow")
        table.add_row(
            short(item["id"]),
            "done" if item["is_completed"] else humanize(item.get("next_fire_at"), tz),
            title,
            item.get("recurrence") or "",
            "!" * max(0, int(item.get("priority", 2)) - 2),
        )
    out().print(table)


@app.command("done")
@handle_errors
def done(
    reminder_id: Annotated[str, typer.Argument(metavar="ID")],
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Complete a reminder (a repeating one moves to its next time)."""
    with connect(profile) as client:
        full_id = resolve(client, "reminder", reminder_id)
        reminder = client.post_once(f"/reminders/{full_id}/complete", None)
        tz = user_zone(client)
    if json_output:
        print_json(reminder)
    elif reminder["is_completed"]:
        out().print(f"[green]Done[/] [cyan]{short(full_id)}[/] {_e(reminder['title'])}")
    else:
        out().print(f"[green]Done[/] for now; next: {_said(reminder, tz)}")


@app.command("snooze")
@handle_errors
def snooze(
    reminder_id: Annotated[str, typer.Argument(metavar="ID")],
    until: Annotated[str, typer.Argument(help="'30m', '2h', '1d', or a time: 'tomorrow 9am'.")],
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Put a reminder off: for a while, or until a time."""
    with connect(profile) as client:
        tz = user_zone(client)
        body: dict[str, Any]
        try:
            body = {"minutes": max(1, round(parse_duration(until).total_seconds() / 60))}
        except DateError:
            until_at = parse_date(until, tz=tz, prefer="future", day_time=REMINDER_DAY_TIME)
            body = {"until": until_at.isoformat()}
        full_id = resolve(client, "reminder", reminder_id)
        reminder = client.post_once(f"/reminders/{full_id}/snooze", body)
    if json_output:
        print_json(reminder)
        return
    shown = humanize(reminder.get("snoozed_until") or reminder.get("next_fire_at"), tz)
    out().print(f"[green]Snoozed[/] [cyan]{short(full_id)}[/] until [magenta]{shown}[/]")


@app.command("delete")
@handle_errors
def delete(
    reminder_id: Annotated[str, typer.Argument(metavar="ID")],
    yes: YesOption = False,
    profile: ProfileOption = None,
) -> None:
    """Delete a reminder."""
    with connect(profile) as client:
        full_id = resolve(client, "reminder", reminder_id)
        reminder = client.get(f"/reminders/{full_id}")
        if not yes and not typer.confirm(f"Delete “{reminder['title']}”?", default=False):
            raise typer.Exit(ExitCode.ERROR)
        client.request("DELETE", f"/reminders/{full_id}")
    err().print(f"Deleted {short(full_id)}.")
