"""`vibes unlock` and `vibes lock`: secret tags, opened by their phrase for a while."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated

import typer

from vibes.cli.client.api import ClientError, ExitCode
from vibes.cli.client.common import (
    JsonOption,
    ProfileOption,
    connect,
    err,
    handle_errors,
    print_json,
)
from vibes.cli.client.store import Unlock


@handle_errors
def unlock(
    phrase_stdin: Annotated[
        bool, typer.Option("--phrase-stdin", help="Read the phrase from standard input.")
    ] = False,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Unlock a secret tag: its phrase says which.

    Its entries show in every command until the unlock expires (the server's lifetime,
    15 minutes by default) or `vibes lock`."""
    with connect(profile) as client:
        if not client.profile.signed_in:
            raise ClientError("not signed in: run `vibes login URL`", ExitCode.AUTH)
        if phrase_stdin:
            phrase = sys.stdin.readline().rstrip("\r\n")
        else:
            phrase = typer.prompt("Secret phrase", hide_input=True)
        answer = client.post("/secret-tags/unlock", {"phrase": phrase})
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(answer["expires_in"]))
        opened = Unlock(answer["unlock_token"], expires.isoformat(), answer.get("tags", []))
        with client.store.edit() as profiles:
            saved = profiles.get(client.profile_name, client.profile)
            # Only tokens of this session work: drop the expired ones while here.
            saved.unlocks = [*saved.live_unlocks(), opened]
            profiles[client.profile_name] = saved
    if json_output:
        print_json({"tags": opened.tags, "expires_at": opened.expires_at})
        return
    names = ", ".join(str(tag["name"]) for tag in opened.tags) or "a secret tag"
    minutes = max(1, round(int(answer["expires_in"]) / 60))
    err().print(f"[green]Unlocked[/] [bold]{names}[/] for {minutes} minutes.")


@handle_errors
def lock(profile: ProfileOption = None) -> None:
    """Lock every secret tag this profile has unlocked, at once."""
    with connect(profile) as client:
        live = client.profile.live_unlocks()
        if live:
            client.request("POST", "/secret-tags/lock", ok=(401, 403))
        with client.store.edit() as profiles:
            saved = profiles.get(client.profile_name)
            if saved is not None:
                saved.unlocks = []
    err().print("Locked." if live else "Nothing was unlocked.")
