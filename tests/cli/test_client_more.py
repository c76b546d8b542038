"""`vibes remind …`, `unlock`/`lock`, and the client's `export`/`import` over HTTP."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import stat
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.cli.conftest import API, Cli, Server

BERLIN = ZoneInfo("Europe/Berlin")
PHRASE = "purple elephants dance quietly at dawn"

# Against a real `vibes serve` (a subprocess shared by the client's tests).
pytestmark = pytest.mark.slow


@pytest.fixture
def me(cli: Cli, server: Server) -> Cli:
    cli.login(server.register())
    return cli


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_reminders_are_added_listed_snoozed_and_done(sqlite_server: Server, tmp_path: Path) -> None:
    """The server side is one code path on both databases: SQLite only."""
    me = Cli(tmp_path, sqlite_server)
    me.login(sqlite_server.register())
    call = me.json("remind", "add", "tomorrow 9am", "Call", "mum", "--every", "weekdays")
    tomorrow = dt.datetime.now(BERLIN).date() + dt.timedelta(days=1)
    assert _instant(call["remind_at"]) == dt.datetime.combine(tomorrow, dt.time(9), BERLIN)
    assert (call["title"], call["recurrence"]) == ("Call mum", "weekdays")
    once = me.json("remind", "add", "in 2h", "Water the plants", "--priority", "4")
    assert abs(_instant(once["remind_at"]) - dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)) < (
        dt.timedelta(minutes=1)
    )
    rule = me.json("remind", "add", "friday 18:00", "Review", "--every", "FREQ=WEEKLY;BYDAY=FR")
    assert rule["recurrence"] == "FREQ=WEEKLY;BYDAY=FR"
    me("remind", "add", "tomorrow", "Bad rule", "--every", "FREQ=SOMETIMES", code=1)

    listed = me.json("remind", "list")
    assert [r["title"] for r in listed] == ["Water the plants", "Call mum", "Review"]
    table = me("remind", "list").stdout
    assert re.search(r"[0-9a-f]{8}\s+(today|tomorrow) \d\d:\d\d\s+Water the plants", table)
    assert "weekdays" in table

    snoozed = me.json("remind", "snooze", once["id"][-8:], "30m")
    assert snoozed["snoozed_until"] is not None
    later = me.json("remind", "snooze", once["id"][-8:], "tomorrow 20:00")
    assert _instant(later["snoozed_until"]) == dt.datetime.combine(tomorrow, dt.time(20), BERLIN)

    done = me("remind", "done", once["id"][-8:]).stdout
    assert "Done" in done
    moved = me.json("remind", "done", call["id"])  # a repeating one moves on
    assert moved["is_completed"] is False
    assert _instant(moved["next_fire_at"]) > _instant(call["next_fire_at"])
    assert [r["title"] for r in me.json("remind", "list")] == ["Call mum", "Review"] or [
        r["title"] for r in me.json("remind", "list")
    ] == ["Review", "Call mum"]
    assert len(me.json("remind", "list", "--all")) == 3
    me("remind", "delete", rule["id"][-8:], "-y")
    me("remind", "done", rule["id"], code=4)
    me("remind", "snooze", call["id"], "whenever", code=2)
    # A day without a time rings in the morning, not at midnight.
    bins = me.json("remind", "add", "next friday", "Bins")
    assert _instant(bins["remind_at"]).astimezone(BERLIN).time() == dt.time(9)
    assert _instant(bins["remind_at"]).astimezone(BERLIN).weekday() == 4


def test_unlock_shows_secret_entries_until_lock_and_keeps_the_token_its_lifetime(
    me: Cli, server: Server
) -> None:
    headers = {"Authorization": f"Bearer {me.access_token()}"}
    made = server.http.post(
        f"{API}/secret-tags", json={"name": "Dreams", "phrase": PHRASE}, headers=headers
    )
    assert made.status_code == 201, made.text
    me("write", "Plain day. @open")
    me("write", "Secret. x", "--secret", "Dreams", code=3)  # not unlocked yet

    wrong = me("unlock", input="not the phrase\n", code=3)
    assert "Wrong phrase" in wrong.stderr
    assert "vibes login" not in wrong.stderr  # a wrong phrase is no reason to sign in again
    opened = me("unlock", input=PHRASE + "\n")
    assert "Unlocked Dreams for 15 minutes" in opened.stderr
    saved = json.loads(me.credentials.read_text())["profiles"]["default"]["unlocks"]
    assert len(saved) == 1
    assert saved[0]["tags"][0]["name"] == "Dreams"
    assert PHRASE not in me.credentials.read_text()

    secret = me.json("write", "I flew. Over the city @night", "--secret", "dreams")
    assert secret["secret_tag"]["name"] == "Dreams"
    assert "🔒 Dreams" in me("list").stdout
    assert len(me.json("search", "city")) == 1

    token = json.loads(me.credentials.read_text())["profiles"]["default"]["unlocks"][0]
    me("lock")
    assert [e["title"] for e in me.json("list")] == ["Plain day"]
    me("show", secret["id"], code=4)
    assert json.loads(me.credentials.read_text())["profiles"]["default"]["unlocks"] == []
    assert "Nothing was unlocked" in me("lock").stderr

    # The lock ended the unlock on the server: the token, put back, opens nothing.
    document = json.loads(me.credentials.read_text())
    document["profiles"]["default"]["unlocks"] = [token]
    me.credentials.write_text(json.dumps(document))
    assert [e["title"] for e in me.json("list")] == ["Plain day"]
    # Once expired, an unlock token leaves the file on the next command.
    token["expires_at"] = "2020-01-01T00:00:00+00:00"
    document["profiles"]["default"]["unlocks"] = [token]
    me.credentials.write_text(json.dumps(document))
    me.json("list")
    assert json.loads(me.credentials.read_text())["profiles"]["default"]["unlocks"] == []


def test_export_and_import_over_http_with_private_files(
    me: Cli, server: Server, tmp_path: Path
) -> None:
    me("write", "Exported. With @tags and ümlauts", "--date", "2025-06-01 12:00")
    me("remind", "add", "tomorrow 8:00", "Stretch")

    document = tmp_path / "out.json"
    said = me("export", "-o", str(document))
    assert "Exported to" in said.stderr
    assert stat.S_IMODE(document.stat().st_mode) == 0o600
    exported = json.loads(document.read_text())
    assert exported["format"] == "vibes"
    assert [j["title"] for j in exported["journals"]] == ["Exported"]
    assert json.loads(me("export").stdout)["format"] == "vibes"  # stdout without -o

    archive = tmp_path / "out.zip"
    me("export", "--format", "markdown", "-o", str(archive))
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as zipped:
        (name,) = [n for n in zipped.namelist() if n.endswith(".md")]
        assert "ümlauts" in zipped.read(name).decode()
    me("export", "--format", "pdf", code=2)

    # Into another account: everything arrives; the same file twice adds nothing.
    other = Cli(tmp_path / "other", server)
    other.login(server.register())
    summary = other.json("import", str(document), "--format", "vibes")
    assert summary["imported"]["journals"] == 1
    assert summary["imported"]["reminders"] == 1
    assert "Imported 0 journals" in other("import", str(document), "-f", "vibes").stdout
    assert [e["title"] for e in other.json("list")] == ["Exported"]
    other("import", str(archive), "--format", "markdown")

    jrnl = tmp_path / "journal.json"
    jrnl.write_text(
        json.dumps(
            {
                "tags": {"@old": 1},
                "entries": [
                    {
                        "date": "2019-05-04",
                        "time": "07:30",
                        "title": "From jrnl.",
                        "body": "Imported @old",
                        "tags": ["@old"],
                        "starred": False,
                    }
                ],
            }
        )
    )
    assert other.json("import", str(jrnl), "-f", "jrnl")["imported"]["journals"] == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    failed = other("import", str(broken), "-f", "jrnl", code=1)
    assert "[422]" in failed.stderr
    other("import", str(broken), "-f", "word", code=2)
