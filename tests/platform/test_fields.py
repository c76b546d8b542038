"""Bad characters and out-of-range instants are 422 problems everywhere, never 500s."""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import AuthedUser, make_authed_user
from vibes.journals.tagnames import TAG_NAME_PATTERN, clean_tag_name
from vibes.platform import fields
from vibes.platform.fields import check_line, text_problem
from vibes.vault.schemas import SECRET_TAG_NAME_PATTERN

API = "/api/v1"
NUL = "a\x00b"
SURROGATE = "a\ud800b"


def _raw(body: dict[str, Any]) -> bytes:
    """JSON with `\\u` escapes kept as such, the way a client sends a lone surrogate."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


async def _send(
    client: httpx.AsyncClient, user: AuthedUser, method: str, url: str, body: dict[str, Any]
) -> httpx.Response:
    headers = {**user.headers, "content-type": "application/json"}
    return await client.request(method, url, content=_raw(body), headers=headers)


def _assert_problem(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(error["loc"][-1] == field for error in r.json()["errors"]), r.text


async def _objects(client: httpx.AsyncClient, user: AuthedUser) -> dict[str, str]:
    r = await client.post(
        f"{API}/journals", json={"title": "t", "content": "c", "tags": ["x"]}, headers=user.headers
    )
    assert r.status_code == 201, r.text
    journal = r.json()["id"]
    r = await client.post(
        f"{API}/reminders",
        json={"title": "t", "remind_at": "2030-01-01T09:00:00Z"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    reminder = r.json()["id"]
    r = await client.get(f"{API}/tags", headers=user.headers)
    tag = next(t["id"] for t in r.json() if t["name"] == "x")
    return {"journal": journal, "reminder": reminder, "tag": tag}


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_bad_characters_in_any_text_field_are_422(
    app: FastAPI, client: httpx.AsyncClient, bad: str
) -> None:
    user = await make_authed_user(app)
    ids = await _objects(client, user)
    cases: list[tuple[str, str, dict[str, Any], str | None]] = [
        ("POST", "/journals", {"title": bad, "content": "c"}, "title"),
        ("POST", "/journals", {"title": "t", "content": bad}, "content"),
        ("POST", "/journals", {"title": "t", "content": "c", "tags": [bad]}, None),
        ("POST", "/journals/batch", {"items": [{"title": "t", "content": bad}]}, "content"),
        ("PATCH", f"/journals/{ids['journal']}", {"content": bad}, "content"),
        ("POST", "/reminders", {"title": bad, "remind_at": "2030-01-01T09:00:00Z"}, "title"),
        (
            "POST",
            "/reminders",
            {"title": "t", "notes": bad, "remind_at": "2030-01-01T09:00:00Z"},
            "notes",
        ),
        ("PATCH", f"/reminders/{ids['reminder']}", {"notes": bad}, "notes"),
        ("POST", "/webhooks", {"url": "https://example.com/h", "description": bad}, "description"),
        ("PATCH", "/users/me", {"display_name": bad}, "display_name"),
        ("PATCH", f"/tags/{ids['tag']}", {"name": bad}, "name"),
        ("POST", "/secret-tags", {"name": bad, "phrase": "long enough phrase"}, "name"),
        ("POST", "/auth/login", {"email": bad, "password": "whatever"}, "email"),
        (
            "POST",
            "/auth/login",
            {"email": user.email, "password": "x", "device_name": bad},
            "device_name",
        ),
    ]
    for method, path, body, field in cases:
        r = await _send(client, user, method, API + path, body)
        if field is None:
            assert r.status_code == 422, (path, r.text)
        else:
            _assert_problem(r, field)


async def test_control_characters_refused_in_single_line_fields_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    for title in ("line\nbreak", "car\rriage", "bell\x07", "para\u2029graph"):
        r = await client.post(
            f"{API}/journals", json={"title": title, "content": "c"}, headers=user.headers
        )
        _assert_problem(r, "title")
        r = await client.post(
            f"{API}/reminders",
            json={"title": title, "remind_at": "2030-01-01T09:00:00Z"},
            headers=user.headers,
        )
        _assert_problem(r, "title")
    r = await client.patch(f"{API}/users/me", json={"display_name": "a\nb"}, headers=user.headers)
    _assert_problem(r, "display_name")
    # Multi-line fields keep tab and line breaks.
    r = await client.post(
        f"{API}/journals",
        json={"title": "ok", "content": "one\r\ntwo\tthree\n"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "one\r\ntwo\tthree\n"
    r = await client.post(
        f"{API}/journals", json={"title": "ok", "content": "bell\x07"}, headers=user.headers
    )
    _assert_problem(r, "content")


async def test_bad_characters_in_query_strings_are_422(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    for path in ("/journals", "/search"):
        r = await client.get(f"{API}{path}", params={"q": NUL}, headers=user.headers)
        _assert_problem(r, "q")
    r = await client.get(f"{API}/journals", params={"tag": NUL}, headers=user.headers)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1899-12-31T00:00:00Z"],
)
async def test_journal_dates_out_of_range_are_422(
    app: FastAPI, client: httpx.AsyncClient, value: str
) -> None:
    user = await make_authed_user(app)
    body = {"title": "t", "content": "c", "entry_date": value}
    r = await client.post(f"{API}/journals", json=body, headers=user.headers)
    _assert_problem(r, "entry_date")
    r = await client.post(f"{API}/journals/batch", json={"items": [body]}, headers=user.headers)
    _assert_problem(r, "entry_date")
    for path in ("/journals", "/search?q=x"):
        sep = "&" if "?" in path else "?"
        r = await client.get(
            f"{API}{path}{sep}{httpx.QueryParams({'from': value})}", headers=user.headers
        )
        _assert_problem(r, "from")
    r = await client.get(f"{API}/reminders", params={"to": value}, headers=user.headers)
    _assert_problem(r, "to")


@pytest.mark.parametrize(
    ("value", "recurrence"),
    [
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:00:00Z", "daily"),
        ("1890-06-01T09:00:00+00:09", "daily"),
    ],
)
async def test_reminder_instants_out_of_range_are_422(
    app: FastAPI, client: httpx.AsyncClient, value: str, recurrence: str | None
) -> None:
    user = await make_authed_user(app, timezone="Europe/Paris")
    body = {"title": "t", "remind_at": value, "recurrence": recurrence}
    r = await client.post(f"{API}/reminders", json=body, headers=user.headers)
    _assert_problem(r, "remind_at")
    r = await client.post(
        f"{API}/reminders",
        json={"title": "t", "remind_at": "2030-01-01T09:00:00Z"},
        headers=user.headers,
    )
    reminder = r.json()["id"]
    r = await client.patch(
        f"{API}/reminders/{reminder}", json={"remind_at": value}, headers=user.headers
    )
    _assert_problem(r, "remind_at")
    r = await client.post(
        f"{API}/reminders/{reminder}/snooze", json={"until": value}, headers=user.headers
    )
    _assert_problem(r, "until")


async def test_dates_inside_the_range_still_work(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "entry_date": "1900-01-01T12:00:00+05:00"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.get(
        f"{API}/journals", params={"from": "1900-01-01", "to": "8999-12-31"}, headers=user.headers
    )
    assert r.status_code == 200
    assert len(r.json()["items"]) == 1


async def test_numbers_are_strict(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_authed_user(app)
    for mood in ("5", True, 5.5):
        r = await client.post(
            f"{API}/journals",
            json={"title": "t", "content": "c", "mood_rating": mood},
            headers=user.headers,
        )
        _assert_problem(r, "mood_rating")
    for priority in ("3", True):
        r = await client.post(
            f"{API}/reminders",
            json={"title": "t", "remind_at": "2030-01-01T09:00:00Z", "priority": priority},
            headers=user.headers,
        )
        _assert_problem(r, "priority")
    r = await client.post(
        f"{API}/reminders",
        json={"title": "t", "remind_at": "2030-01-01T09:00:00Z", "priority": 3},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{API}/reminders/{r.json()['id']}/snooze", json={"minutes": "10"}, headers=user.headers
    )
    _assert_problem(r, "minutes")
    r = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "mood_rating": 5},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text


async def test_a_lone_surrogate_as_a_json_key_is_422(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    headers = {**user.headers, "content-type": "application/json"}
    r = await client.post(
        f"{API}/journals", content=b'{"title":"t","content":"c","\\ud800":1}', headers=headers
    )
    assert r.status_code == 422, r.text


def _text_problem_by_rule(value: str, *, single_line: bool) -> str | None:
    """The rule `text_problem` implements, one character at a time (its earlier form)."""
    for ch in value:
        code = ord(ch)
        if code == 0 or 0xD800 <= code <= 0xDFFF:
            return "refused"
        category = unicodedata.category(ch)
        if category == "Cc" and (single_line or ch not in "\t\n\r"):
            return "refused"
        if single_line and category in ("Zl", "Zp"):
            return "refused"
    return None


@pytest.mark.parametrize("single_line", [True, False])
def test_text_problem_refuses_exactly_the_rule_for_every_code_point(single_line: bool) -> None:
    """The regex pre-screen must not miss a character the rule refuses, nor refuse one it
    accepts: every code point, alone and after ordinary text."""
    for code in range(0x110000):
        ch = chr(code)
        expected = _text_problem_by_rule(ch, single_line=single_line) is not None
        assert (text_problem(ch, single_line=single_line) is not None) is expected, hex(code)
    assert text_problem("ok " * 1000 + "\x00", single_line=single_line) == (
        "must not contain NUL characters"
    )


@pytest.mark.parametrize("single_line", [True, False])
def test_ascii_text_is_judged_by_the_rule_too(single_line: bool) -> None:
    """ASCII text takes a shortcut (`isprintable`): mixtures of every ASCII character
    (tab, CR and LF among ordinary ones) are refused or taken as the rule says, and
    `is_blank` agrees with its definition."""
    rng = random.Random(11)
    alphabet = [chr(c) for c in range(128)] + list("abc \t\n\r")
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        expected = _text_problem_by_rule(text, single_line=single_line) is not None
        assert (text_problem(text, single_line=single_line) is not None) is expected, repr(text)
        blank = all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)
        assert fields.is_blank(text) is blank, repr(text)


async def test_a_whole_number_written_with_a_fraction_is_that_integer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # JSON Schema's `integer` takes 7.0 (found by schemathesis): so does the API.
    user = await make_authed_user(app)
    r = await client.post(
        f"{API}/journals",
        json={"title": "t", "content": "c", "mood_rating": 7.0},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["mood_rating"] == 7
    r = await client.post(
        f"{API}/reminders",
        json={"title": "t", "remind_at": "2030-01-01T09:00:00Z", "priority": 4.0},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["priority"] == 4
    r = await client.post(
        f"{API}/reminders/{r.json()['id']}/snooze", json={"minutes": 10.0}, headers=user.headers
    )
    assert r.status_code == 200, r.text


_SAMPLES = [
    "",
    "a",
    " a ",
    "   ",
    "\u200b",
    "\u200ba",
    "a\u00adb",
    "\u3000",
    "tab\there",
    "line\nbreak",
    "cr\rhere",
    "nul\x00",
    "del\x7f",
    "c1\x85",
    "sep\u2028",
    "para\u2029",
    "bidi\u202e",
    "emoji 👩\u200d💻",
    "\ufeff",
    "é",
    "日本語",
]


@pytest.mark.parametrize(
    ("pattern", "check"),
    [
        (fields.UNICODE_PATTERN, fields.check_unicode),
        (fields.LINE_PATTERN, fields.check_line),
        (fields.REQUIRED_LINE_PATTERN, fields.check_required_line),
        (fields.TEXT_PATTERN, fields.check_text),
        (TAG_NAME_PATTERN, clean_tag_name),
        (SECRET_TAG_NAME_PATTERN, lambda v: check_line(v) if v.strip() else fail(v)),
    ],
)
def test_a_declared_pattern_takes_exactly_what_its_validator_takes(
    pattern: str, check: Callable[[str], object]
) -> None:
    # The schema used to offer what the validators refused (found by schemathesis).
    for value in _SAMPLES:
        try:
            check(value)
            accepted = True
        except ValueError:
            accepted = False
        if pattern == TAG_NAME_PATTERN and "\u200d" in value:
            # A pattern cannot say "a joiner between emoji": the schema is stricter there.
            assert accepted
            assert re.match(pattern, value) is None
            continue
        assert (re.match(pattern, value) is not None) == accepted, repr(value)


def fail(value: str) -> None:
    raise ValueError(value)
