"""`vibes login`, `vibes logout`, `vibes whoami`."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from vibes.cli.client.api import (
    Client,
    ExitCode,
    NotSignedIn,
    Problem,
    Unreachable,
    normalise_url,
)
from vibes.cli.client.common import (
    JsonOption,
    ProfileOption,
    err,
    handle_errors,
    out,
    print_json,
)
from vibes.cli.client.store import Profile, Store, profile_name

DEFAULT_URL = "http://127.0.0.1:8000"
PAT_PREFIX = "vibes_pat_"
_TOTP = re.compile(r"^\d{6,8}$")


def _device_name() -> str:
    return f"vibes CLI on {socket.gethostname()}"[:100]


def _read_secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt(prompt, hide_input=True)
    return value


@handle_errors
def login(
    url: Annotated[
        str | None,
        typer.Argument(help="The server, e.g. https://vibes.example.org (default: the saved one)."),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", "-e", help="The account.")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Sign in with a personal access token (vibes_pat_…) instead; '-' reads it "
            "from standard input or a hidden prompt.",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    profile: ProfileOption = None,
) -> None:
    """Sign in and keep the credentials (in the XDG config folder, mode 0600)."""
    store = Store()
    name = profile_name(profile)
    saved = store.profile(name)
    if url is None:
        url = saved.url or typer.prompt("Server", default=DEFAULT_URL)
    fresh = Profile(url=normalise_url(url), email=saved.email)
    previous = saved if saved.signed_in and saved.url == fresh.url else None
    with Client(store, name, fresh) as client:
        if token is not None:
            _with_token(client, token)
        else:
            _with_password(client, email, password_stdin)
        try:
            me = _me(client)
        except Problem as exc:
            if exc.status != 403:  # a token may be kept from the account's own routes
                raise
            me = {}
        client.save()
        if previous is not None and previous.kind == "session" and previous.refresh_token:
            with contextlib.suppress(Problem):  # the session this login replaces
                _revoke(client, previous.refresh_token)
    who = me.get("email") or client.profile.email or "a personal access token"
    where = "" if name == "default" else f" (profile {name})"
    err().print(f"[green]Signed in[/] to {client.profile.url} as [bold]{who}[/]{where}.")


def _with_token(client: Client, token: str) -> None:
    if token == "-":
        # Kept out of the shell's history: piped in, or typed at a hidden prompt.
        token = _read_secret("Access token", from_stdin=not sys.stdin.isatty()).strip()
    if not token.startswith(PAT_PREFIX):
        raise NotSignedIn(f"a personal access token starts with {PAT_PREFIX}")
    client.profile.kind = "token"
    client.profile.access_token = token


def _with_password(client: Client, email: str | None, password_stdin: bool) -> None:
    if email is None:
        if password_stdin:
            if not client.profile.email:
                raise NotSignedIn("--password-stdin needs --email", ExitCode.USAGE)
            email = client.profile.email
        else:
            email = typer.prompt("Email", default=client.profile.email or None)
    assert email is not None
    password = _read_secret("Password", password_stdin)
    response = client.request(
        "POST",
        "/auth/login",
        json={"email": email, "password": password, "device_name": _device_name()},
        auth=False,
        ok=(401,),
    )
    if response.status_code == 401:
        problem = Problem(response)
        if problem.kind != "mfa-required" or not problem.body.get("mfa_token"):
            raise NotSignedIn(problem.message)
        pair = _second_factor(client, str(problem.body["mfa_token"]), password_stdin)
    else:
        pair = response.json()
    client.profile.email = email
    client.set_pair(pair)


def _second_factor(client: Client, mfa_token: str, from_stdin: bool) -> dict[str, Any]:
    """The `mfa-required` challenge: a code from the authenticator app or a recovery
    code, three tries."""
    for attempt in range(3):
        if from_stdin:
            code = sys.stdin.readline().strip()
        else:
            code = typer.prompt("Two-factor code (or a recovery code)").strip()
        body: dict[str, str] = {"mfa_token": mfa_token}
        if _TOTP.match(code.replace(" ", "")):
            body["code"] = code.replace(" ", "")
        else:
            body["recovery_code"] = code
        response = client.request("POST", "/auth/2fa/verify", json=body, auth=False, ok=(401,))
        if response.status_code != 401:
            answer: dict[str, Any] = response.json()
            return answer
        problem = Problem(response)
        if from_stdin or attempt == 2:
            raise NotSignedIn(problem.message)
        said = str(problem.body.get("detail") or problem.message)
        err().print(f"[red]{escape(said)}[/] Try again.")
    raise AssertionError("unreachable")


def _me(client: Client) -> dict[str, Any]:
    me: dict[str, Any] = client.get("/users/me")
    client.profile.email = me.get("email") or client.profile.email
    client.profile.timezone = me.get("timezone") or client.profile.timezone
    return me


def _revoke(client: Client, refresh_token: str) -> None:
    client.request(
        "POST", "/auth/logout", json={"refresh_token": refresh_token}, auth=False, ok=(401, 422)
    )


@handle_errors
def logout(profile: ProfileOption = None) -> None:
    """Sign out: end the session on the server and forget its tokens."""
    store = Store()
    name = profile_name(profile)
    saved = store.profile(name)
    if not saved.signed_in:
        err().print("Not signed in.")
        return
    kind, url = saved.kind, saved.url
    with Client(store, name, saved) as client:
        if saved.kind == "session" and saved.refresh_token:
            # Best effort: a server that cannot be reached must not keep the tokens here.
            with contextlib.suppress(Problem, Unreachable):
                _revoke(client, saved.refresh_token)
        client.profile.sign_out()
        client.save()
    err().print(f"Signed out of {url}.")
    if kind == "token":
        err().print(
            "[dim]The access token itself stays valid until it is revoked "
            "(web app → Security, or DELETE /api/v1/auth/tokens/{id}).[/]"
        )


@handle_errors
def whoami(profile: ProfileOption = None, json_output: JsonOption = False) -> None:
    """Show the signed-in account, its server and how it signed in."""
    name = profile_name(profile)
    with Client(Store(), name) as client:
        if not client.profile.signed_in:
            raise NotSignedIn("not signed in: run `vibes login URL`")
        me = _me(client)
        client.save()
        if json_output:
            print_json({**me, "server": client.profile.url, "profile": name})
            return
        how = "personal access token" if client.profile.kind == "token" else "session"
        unlocked = [t["name"] for u in client.profile.live_unlocks() for t in u.tags]
        console = out()
        console.print(f"[bold]{me.get('email')}[/] ({me.get('display_name') or 'no name'})")
        console.print(f"server    {client.profile.url}")
        console.print(f"profile   {name} · {how}")
        console.print(f"zone      {me.get('timezone')}")
        console.print(f"saved in  {client.store.path}")
        if unlocked:
            console.print(f"unlocked  {', '.join(unlocked)}")
