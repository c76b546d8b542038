"""`vibes write`, `list`, `show`, `edit`, `delete`, `search`, `tags` against a real server."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.cli.conftest import API, Cli, Server, editor

BERLIN = ZoneInfo("Europe/Berlin")

# Against a real `vibes serve` (a subprocess shared by the client's tests).
pytestmark = pytest.mark.slow


@pytest.fixture
def me(cli: Cli, server: Server) -> Cli:
    """A client signed in to an account of its own (lists start empty), on each backend:
    for what differs between them (lists, filters, full-text search)."""
    cli.login(server.register())
    return cli


@pytest.fixture
def mine(sqlite_server: Server, tmp_path: Path) -> Cli:
    """The same on SQLite only: for what runs one code path on both databases."""
    cli = Cli(tmp_path, sqlite_server)
    cli.login(sqlite_server.register())
    return cli


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_write_reads_jrnl_quick_syntax_dates_and_moods(mine: Cli) -> None:
    entry = mine.json(
        "write",
        "Went to the sea. It was cold, @Sea and @family-time, mail me@example.com.",
        "--date",
        "yesterday 21:00",
        "--mood",
        "7",
    )
    assert entry["title"] == "Went to the sea"
    assert entry["content"] == "It was cold, @Sea and @family-time, mail me@example.com."
    assert entry["tags"] == ["family-time", "Sea"] or sorted(entry["tags"]) == sorted(
        ["Sea", "family-time"]
    )
    assert entry["mood_rating"] == 7
    yesterday = dt.datetime.now(BERLIN).date() - dt.timedelta(days=1)
    expected = dt.datetime.combine(yesterday, dt.time(21), tzinfo=BERLIN)
    assert _instant(entry["entry_date"]) == _utc(expected)

    said = mine("write", "Unquoted", "words", "work", "too!", "Really", "@x").stdout
    assert re.search(r"Written [0-9a-f]{8} Unquoted words work too! @x", said)

    piped = mine.json("write", input="From a pipe.\nSecond line @pipe\n")
    assert (piped["title"], piped["content"], piped["tags"]) == (
        "From a pipe",
        "Second line @pipe",
        ["pipe"],
    )
    mine("write", "x", "--date", "the day after never", code=2)
    mine("write", "x", "--mood", "11", code=2)
    assert "Nothing written" in mine("write", input="  \n").stderr


def test_list_filters_by_tag_and_date_and_prints_for_people_or_scripts(me: Cli) -> None:
    me("write", "Old one. @walk", "--date", "2025-01-10 08:00")
    me("write", "Older one. @walk @rain", "--date", "2025-01-05")
    me("write", "Recent. @rain", "--date", "yesterday 21:00")

    assert [e["title"] for e in me.json("list")] == ["Recent", "Old one", "Older one"]
    assert [e["title"] for e in me.json("list", "-n", "2")] == ["Recent", "Old one"]
    assert [e["title"] for e in me.json("list", "--tag", "walk")] == ["Old one", "Older one"]
    both = me.json("list", "--tag", "walk", "--tag", "rain")
    assert [e["title"] for e in both] == ["Older one"]
    january = me.json("list", "--from", "2025-01-06", "--to", "2025-01-10")
    assert [e["title"] for e in january] == ["Old one"]  # --to includes its whole day

    table = me("list").stdout
    assert re.search(r"[0-9a-f]{8}\s+yesterday 21:00\s+Recent\s+@rain", table)
    assert "10 Jan 2025" in table
    assert "No entries" in me("list", "--tag", "nothing-here").stderr


def test_show_takes_the_short_id_and_answers_4_for_nothing(mine: Cli) -> None:
    entry = mine.json("write", "Show me. A body with *markdown* @shown", "--mood", "3")
    short = entry["id"][-8:]
    shown = mine("show", short).stdout
    assert "Show me" in shown
    assert "A body with *markdown* @shown" in shown  # not a terminal: the text as written
    assert "mood 3" in shown
    assert mine.json("show", entry["id"][:13])["id"] == entry["id"]  # or the id's start
    missing = mine("show", "0000dead", code=4)
    assert missing.stderr.count("\n") == 1
    mine("show", "01234567-89ab-7def-8123-456789abcdef", code=4)
    mine("show", "xyz", code=2)


def test_edit_in_the_editor_sends_only_what_changed_with_if_match(
    mine: Cli, tmp_path: Path
) -> None:
    entry = mine.json("write", "Draft title. Draft body @one", "--date", "2026-03-01 10:00")
    script = editor(
        tmp_path,
        "assert 'date: 2026-03-01 10:00' in text, text\n"
        "text = text.replace('Draft title', 'Final title').replace('Draft body', 'Final')\n"
        "text = text.replace('tags: one', 'tags: one, two').replace('mood: ', 'mood: 9')",
    )
    saved = mine.json("edit", entry["id"][-8:], EDITOR=script)
    assert saved["title"] == "Final title"
    assert saved["content"] == "Final @one"
    assert saved["tags"] == ["one", "two"]
    assert saved["mood_rating"] == 9
    assert saved["version"] == entry["version"] + 1
    assert saved["entry_date"] == entry["entry_date"]

    untouched = mine("edit", entry["id"], EDITOR=editor(tmp_path, "pass"))
    assert "No changes" in untouched.stderr
    assert mine.json("show", entry["id"])["version"] == saved["version"]


def test_an_edit_conflict_is_shown_and_the_text_is_never_lost(
    me: Cli, server: Server, tmp_path: Path
) -> None:
    entry = me.json("write", "Shared. Written on the phone too")
    # While "the editor is open", another device changes the entry.
    script = editor(
        tmp_path,
        "import urllib.request, json\n"
        "request = urllib.request.Request(\n"
        f"    '{server.url}{API}/journals/{entry['id']}', method='PATCH',\n"
        "    data=json.dumps({'content': 'Changed on the phone'}).encode(),\n"
        "    headers={'Authorization': 'Bearer ' + os.environ['TOKEN'],\n"
        "             'Content-Type': 'application/json'})\n"
        "urllib.request.urlopen(request).read()\n"
        "text = text.replace('Written on the phone too', 'My precious paragraph')",
    )
    conflict = me("edit", entry["id"], EDITOR=script, TOKEN=me.access_token(), code=5)
    assert "Conflict" in conflict.stderr
    assert "-Changed on the phone" in conflict.stderr
    assert "+My precious paragraph" in conflict.stderr
    kept = Path(re.search(r"kept in (\S+)", conflict.stderr.replace("\n", "")).group(1))  # type: ignore[union-attr]
    assert "My precious paragraph" in kept.read_text()
    assert kept.stat().st_mode & 0o077 == 0
    assert me.json("show", entry["id"])["content"] == "Changed on the phone"

    # Text the server refuses is kept too.
    typed = "---\ntitle: Too happy\nmood: 11\n---\nA long day's writing"
    refused = me("write", "-e", EDITOR=editor(tmp_path, f"text = {typed!r}"), code=1)
    assert "mood_rating" in refused.stderr
    kept = Path(re.search(r"kept in (\S+)\)", refused.stderr.replace("\n", "")).group(1))  # type: ignore[union-attr]
    assert kept.read_text() == typed
    # And text the client cannot read (a front matter line it does not know).
    unread = "---\ntitle: Weather\nweather: fine\n---\nSunny all day"
    refused = me("write", "-e", EDITOR=editor(tmp_path, f"text = {unread!r}"), code=2)
    assert "unknown line" in refused.stderr
    kept = Path(re.search(r"kept in (\S+)\)", refused.stderr.replace("\n", "")).group(1))  # type: ignore[union-attr]
    assert kept.read_text() == unread


def test_write_alone_opens_the_editor_on_a_terminal(sqlite_server: Server, tmp_path: Path) -> None:
    """A real process with a terminal as its standard input, as a person runs it."""
    cli = Cli(tmp_path, sqlite_server)
    cli.login(sqlite_server.register())
    script = editor(tmp_path, "text = 'From the editor. Typed at a terminal @tty\\n'")
    leader, follower = os.openpty()
    try:
        done = cli.subprocess("write", "--json", EDITOR=script, stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    assert (entry["title"], entry["tags"]) == ("From the editor", ["tty"])


def test_delete_asks_first_unless_told_yes(mine: Cli) -> None:
    entry = mine.json("write", "Doomed. @gone")
    kept = mine("delete", entry["id"][-8:], input="n\n", code=1)
    assert "Delete “Doomed”?" in kept.stdout
    mine("show", entry["id"])
    mine("delete", entry["id"][-8:], "--yes")
    mine("show", entry["id"], code=4)
    mine("delete", entry["id"], "-y", code=4)


def test_search_highlights_the_matches_and_tags_counts_them(me: Cli) -> None:
    me("write", "Harbour walk. The lighthouse was glowing at dusk @sea @walk")
    me("write", "Kitchen. Baked bread with rosemary @home")
    me("write", "Harbour again. No lighthouse today, only fog @sea")

    hits = me.json("search", "lighthouse")
    assert len(hits) == 2
    for hit in hits:
        snippet = hit["snippet"]
        assert [snippet[a:b].lower() for a, b in hit["highlights"]] == ["lighthouse"]
    assert me.json("search", "rosemary")[0]["title"] == "Kitchen"
    assert "Nothing found" in me("search", "zeppelin").stderr

    coloured = me("search", "rosemary", NO_COLOR="", FORCE_COLOR="1", TERM="xterm").stdout
    assert re.search(r"\x1b\[[0-9;]+mrosemary\x1b\[0m", coloured), coloured

    tags = {t["name"]: t["journal_count"] for t in me.json("tags")}
    assert tags == {"sea": 2, "walk": 1, "home": 1}
    table = me("tags").stdout
    assert re.search(r"@sea\s+2", table)
