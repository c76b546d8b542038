"""`vibes login --token` (a personal access token) and the two-factor prompt of
`vibes login`, against a real server."""

from __future__ import annotations

import json
import time

import pyotp
import pytest

from tests.cli.conftest import API, PASSWORD, Cli, Server

# Against a real `vibes serve` (a subprocess shared by the client's tests).
pytestmark = pytest.mark.slow


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_with_a_personal_access_token_and_its_scopes(cli: Cli, server: Server) -> None:
    email = server.register()
    session = server.token(email)
    made = {}
    for scope in ("read", "write"):
        answer = server.http.post(
            f"{API}/auth/tokens",
            json={
                "name": f"cli {scope}",
                "scopes": [scope] if scope == "read" else ["read", "write"],
            },
            headers=_bearer(session),
        )
        assert answer.status_code == 201, answer.text
        made[scope] = answer.json()

    said = cli("login", server.url, "--token", "-", input=made["read"]["token"] + "\n")
    assert f"as {email}" in said.stderr
    saved = json.loads(cli.credentials.read_text())["profiles"]["default"]
    assert (saved["kind"], saved["refresh_token"]) == ("token", None)
    assert cli.json("whoami")["email"] == email
    assert cli.json("list") == []
    refused = cli("write", "Not with a read token.", code=3)
    assert "[403]" in refused.stderr

    cli("login", "--token", made["write"]["token"], "--profile", "scripts", server.url)
    assert cli.json("write", "Logged by a script. @auto", "-p", "scripts")["tags"] == ["auto"]
    assert [e["title"] for e in cli.json("list")] == ["Logged by a script"]

    # Revoked: refused at once, and no refresh to fall back on.
    revoked = server.http.delete(
        f"{API}/auth/tokens/{made['write']['id']}", headers=_bearer(session)
    )
    assert revoked.status_code == 204
    gone = cli("list", "-p", "scripts", code=3)
    assert "vibes login" in gone.stderr
    assert "stays valid" in cli("logout").stderr
    cli("login", server.url, "--token", "vibes_pat_nothing-like-it", code=3)


def test_login_asks_for_the_second_factor_and_takes_a_recovery_code(
    cli: Cli, server: Server
) -> None:
    email = server.register()
    session = server.token(email)
    setup = server.http.post(f"{API}/auth/2fa/setup", headers=_bearer(session))
    assert setup.status_code == 200, setup.text
    totp = pyotp.TOTP(setup.json()["secret"])
    confirmed = server.http.post(
        f"{API}/auth/2fa/confirm", json={"code": totp.now()}, headers=_bearer(session)
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]

    # At the prompt: a wrong code, then a recovery code.
    prompted = cli(
        "login", server.url, "--email", email, input=f"{PASSWORD}\n000000\n{recovery[0]}\n"
    )
    assert "Two-factor code" in prompted.stdout
    assert "not correct" in prompted.stderr
    assert f"Signed in to {server.url} as {email}" in prompted.stderr
    assert cli.json("whoami")["email"] == email

    # From standard input (scripts): the password line, then the code line. The code of
    # the step after the one `confirm` spent (a code works once).
    code = totp.at(time.time() + 30)
    piped = cli.login(email, input=f"{PASSWORD}\n{code}\n")
    assert "Signed in" in piped.stderr
    assert cli.json("list") == []
    # The same recovery code again: refused, nothing kept.
    cli("logout")
    cli(
        "login",
        server.url,
        "--email",
        email,
        input=f"{PASSWORD}\n" + f"{recovery[0]}\n" * 3,
        code=3,
    )
    cli("whoami", code=3)
