"""`vibes login`, `whoami`, `logout`: the credentials file, refresh, profiles, exit codes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import API, PASSWORD, VIBES, Cli, Server, clean_env, free_port

# Against a real `vibes serve` (a subprocess shared by the client's tests).
pytestmark = pytest.mark.slow


def test_login_keeps_credentials_private_and_whoami_reads_them(cli: Cli, server: Server) -> None:
    email = server.register("ada")
    # Even under a umask that lets everyone read new files: the mode is set at creation.
    umask = os.umask(0)
    try:
        result = cli.login(email)
    finally:
        os.umask(umask)
    assert f"Signed in to {server.url} as {email}" in result.stderr

    mode = stat.S_IMODE(cli.credentials.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(cli.credentials.parent.stat().st_mode) == 0o700
    saved = json.loads(cli.credentials.read_text())["profiles"]["default"]
    assert saved["kind"] == "session"
    assert saved["url"] == server.url
    assert saved["timezone"] == "Europe/Berlin"
    assert PASSWORD not in cli.credentials.read_text()

    me = cli.json("whoami")
    assert me["email"] == email
    assert me["profile"] == "default"
    assert email in cli("whoami").stdout
    # Rewritten on every change, and still 0600 (never a world-readable moment: the file
    # is made with that mode and renamed into place).
    cli("whoami")
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600


def test_an_expired_access_token_is_refreshed_transparently(cli: Cli, server: Server) -> None:
    cli.login(server.register())
    before = json.loads(cli.credentials.read_text())["profiles"]["default"]
    document = json.loads(cli.credentials.read_text())
    document["profiles"]["default"]["access_token"] = "not-a-token-any-more"
    cli.credentials.write_text(json.dumps(document))

    assert cli.json("list") == []
    after = json.loads(cli.credentials.read_text())["profiles"]["default"]
    assert after["access_token"] != "not-a-token-any-more"
    assert after["refresh_token"] != before["refresh_token"]  # rotated, and kept
    # The old refresh token is spent: the server revokes a session that reuses one.
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600


def test_logout_ends_the_session_on_the_server(cli: Cli, server: Server) -> None:
    cli.login(server.register())
    saved = json.loads(cli.credentials.read_text())["profiles"]["default"]
    result = cli("logout")
    assert "Signed out" in result.stderr
    # The server forgot the session: its refresh token and access token are dead.
    refreshed = server.http.post(
        f"{API}/auth/refresh", json={"refresh_token": saved["refresh_token"]}
    )
    assert refreshed.status_code == 401
    me = server.http.get(
        f"{API}/users/me", headers={"Authorization": f"Bearer {saved['access_token']}"}
    )
    assert me.status_code == 401
    assert "access_token" not in {
        k for k, v in json.loads(cli.credentials.read_text())["profiles"]["default"].items() if v
    }

    not_signed_in = cli("list", code=3)
    assert "vibes login" in not_signed_in.stderr
    assert len(not_signed_in.stderr.strip().splitlines()) == 1
    assert "Not signed in" in cli("logout").stderr


def test_profiles_keep_several_accounts_apart(cli: Cli, server: Server) -> None:
    home, work = server.register("home"), server.register("work")
    cli.login(home)
    cli.login(work, "--profile", "work")
    assert cli.json("whoami")["email"] == home
    assert cli.json("whoami", "--profile", "work")["email"] == work
    assert cli.json("whoami", VIBES_PROFILE="work")["email"] == work
    cli("write", "Only at work. @job", "-p", "work")
    assert cli.json("list") == []
    assert [e["title"] for e in cli.json("list", VIBES_PROFILE="work")] == ["Only at work"]
    cli("logout", "--profile", "work")
    cli("whoami")  # the other profile is untouched
    cli("whoami", "--profile", "work", code=3)


def test_wrong_password_unknown_server_and_bad_usage_have_their_exit_codes(
    cli: Cli, server: Server
) -> None:
    email = server.register()
    wrong = cli(
        "login", server.url, "--email", email, "--password-stdin", input="not it at all\n", code=3
    )
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert "[401]" in wrong.stderr
    assert not cli.credentials.exists() or 'access_token": null' in cli.credentials.read_text()

    nobody = f"http://127.0.0.1:{free_port()}"
    unreachable = cli(
        "login", nobody, "--email", email, "--password-stdin", input=PASSWORD + "\n", code=6
    )
    assert "cannot reach" in unreachable.stderr
    cli("list", "--number", "zero", code=2)
    cli("login", server.url, "--token", "not-a-pat", code=3)


def test_the_installed_command_signs_in_and_out_as_a_real_process(
    sqlite_server: Server, tmp_path: Path
) -> None:
    """The entry point itself, as a separate process (the others run in process)."""
    server, cli = sqlite_server, Cli(tmp_path, sqlite_server)
    email = server.register()
    done = cli.subprocess(
        "login", server.url, "--email", email, "--password-stdin", input=PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    written = cli.subprocess("write", "From a real process. It works @proc", "--json")
    assert written.returncode == 0, written.stderr
    assert json.loads(written.stdout)["tags"] == ["proc"]
    assert cli.subprocess("logout").returncode == 0
    cli("whoami", code=3)


def test_two_shells_refreshing_at_once_keep_the_session(
    sqlite_server: Server, tmp_path: Path
) -> None:
    """Both find the access token expired; one refreshes (the file lock), the other uses
    the new pair: the refresh token is never spent twice, which would end the session."""
    cli = Cli(tmp_path, sqlite_server)
    cli.login(sqlite_server.register())
    document = json.loads(cli.credentials.read_text())
    document["profiles"]["default"]["access_expires_at"] = "2020-01-01T00:00:00+00:00"
    cli.credentials.write_text(json.dumps(document))

    env = clean_env(**cli.env)
    shells = [
        subprocess.Popen(
            [*VIBES, "list", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    for shell in shells:
        out, errors = shell.communicate(timeout=60)
        assert shell.returncode == 0, errors
        assert json.loads(out) == []
    cli("whoami")  # still signed in
