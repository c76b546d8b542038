"""What the client commands share: options, consoles, errors as exit codes, `$EDITOR`,
short ids, rescue files."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from vibes.cli.client.api import Client, ClientError, ExitCode
from vibes.cli.client.dates import DateError, zone
from vibes.cli.client.store import PROFILE_ENV, Store, StoreError, profile_name, state_dir

P = ParamSpec("P")
R = TypeVar("R")

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar=PROFILE_ENV,
        show_envvar=True,
        help="Which saved server/account to use (default: 'default').",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

SHORT_ID = 8


def out() -> Console:
    # Made per call: Typer's test runner swaps sys.stdout, and colour support is
    # detected when a Console is made.
    return Console(highlight=False, soft_wrap=False)


def err() -> Console:
    # Soft wrap: an error stays one line however narrow the terminal (or 80 in a pipe).
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def fail(message: str, code: int = ExitCode.ERROR) -> typer.Exit:
    err().print(f"[bold red]vibes:[/] {_escape(message)}")
    return typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Client errors become one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ClientError as exc:
            raise fail(exc.message, exc.code) from None
        except DateError as exc:
            raise fail(str(exc), ExitCode.USAGE) from None
        except StoreError as exc:
            raise fail(str(exc), ExitCode.ERROR) from None

    return wrapper


@contextlib.contextmanager
def connect(profile: str | None) -> Iterator[Client]:
    store, name = Store(), profile_name(profile)
    store.prune(name)
    with Client(store, name) as client:
        yield client


def user_zone(client: Client) -> dt.tzinfo:
    return zone(client.profile.timezone)


# -- ids -----------------------------------------------------------------------------


def short(identifier: str) -> str:
    """The random end of a UUIDv7 (its start is a timestamp, shared by entries made in
    the same minute): what tables show, and what `show`/`edit`/... accept back."""
    return identifier[-SHORT_ID:]


def resolve(client: Client, kind: str, fragment: str) -> str:
    """A full id, or any unique part of one (4+ characters: the short id `list` shows, or
    the start of the id), found by listing."""
    fragment = fragment.strip().lower()
    with contextlib.suppress(ValueError):
        return str(uuid.UUID(fragment))
    if len(fragment) < 4 or any(c not in "0123456789abcdef-" for c in fragment):
        raise ClientError(
            f"{fragment!r} is not an id (the full id or 4+ of its characters)", ExitCode.USAGE
        )
    path, params = ("/journals", {}) if kind == "entry" else ("/reminders", {"status": "all"})
    matches = [item["id"] for item in client.pages(path, params, None) if fragment in item["id"]]
    if not matches:
        raise ClientError(f"no {kind} with an id like {fragment!r}", ExitCode.NOT_FOUND)
    if len(matches) > 1:
        raise ClientError(
            f"{fragment!r} matches {len(matches)} {kind}s: give more of the id", ExitCode.USAGE
        )
    return str(matches[0])


# -- the editor and files the user must not lose ---------------------------------------


def editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


def edit_text(initial: str, *, suffix: str = ".md") -> str:
    """Open `$VISUAL`/`$EDITOR` on a private temporary file holding `initial`; return what
    the user saved."""
    fd, name = tempfile.mkstemp(prefix="vibes-", suffix=suffix)  # mode 0600
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(initial)
        try:
            done = subprocess.run([*editor_command(), str(path)], check=False)
        except FileNotFoundError:
            raise ClientError(
                f"editor {editor_command()[0]!r} not found: set $EDITOR", ExitCode.USAGE
            ) from None
        if done.returncode != 0:
            raise ClientError(f"the editor exited with {done.returncode}; nothing was saved")
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def rescue(text: str, label: str) -> Path:
    """Keep text the server did not take in a private file; return where."""
    folder = state_dir() / "unsaved"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{label}-{stamp}.md"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{label}-{stamp}-{counter}.md"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def stdin_is_piped() -> bool:
    return not sys.stdin.isatty()
