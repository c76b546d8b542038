"""`format=jrnl` and `format=dayone`: fixtures written here from the documented formats
import as expected; malformed variants are a precise 422 that writes nothing; unsafe
zips are refused before anything is read from them."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from typing import Any

import httpx

from tests.factories import AuthedUser, make_authed_user
from tests.portability.conftest import API, document, export_bytes, import_file

JRNL: dict[str, Any] = {
    "tags": {"@work": 1, "@reise": 1},
    "entries": [
        {
            "title": "Started the new job.",
            "body": "Long day @work, but good.\nMore tomorrow.",
            "date": "2026-03-29",
            "time": "09:15",
            "tags": ["@work"],
            "starred": True,
        },
        {
            "title": "Zug nach München 🚆",
            "body": "",
            "date": "2026-07-01",
            "time": "23:30",
            "tags": ["@reise"],
            "starred": False,
        },
    ],
}


def _jrnl(entries: list[dict[str, Any]] | None = None) -> bytes:
    data = dict(JRNL)
    if entries is not None:
        data["entries"] = entries
    return json.dumps(data, ensure_ascii=False).encode()


async def _journals(client: httpx.AsyncClient, user: AuthedUser) -> list[dict[str, Any]]:
    journals: list[dict[str, Any]] = document(await export_bytes(client, user.headers))["journals"]
    return journals


async def test_a_jrnl_export_imports_in_the_accounts_time_zone(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    response = await import_file(client, alice.headers, "jrnl", _jrnl(), "journal.json")
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == {"journals": 2, "tags": 3, "reminders": 0}
    first, second = await _journals(client, alice)
    # Berlin: 09:15 in summer time (since that morning's 02:00) is 07:15 UTC.
    assert first["entry_date"] == "2026-03-29T07:15:00Z"
    assert first["title"] == "Started the new job."
    assert first["content"] == "Long day @work, but good.\nMore tomorrow."
    assert first["tags"] == ["starred", "work"]
    assert second["entry_date"] == "2026-07-01T21:30:00Z"
    assert second["tags"] == ["reise"]
    again = await import_file(client, alice.headers, "jrnl", _jrnl())
    assert again.json()["imported"]["journals"] == 0
    assert again.json()["skipped"]["journals"] == 2
    assert len(await _journals(client, alice)) == 2


async def test_malformed_jrnl_entries_name_the_entry_and_field(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    good = JRNL["entries"][0]
    for bad, loc in (
        ({**good, "date": "29.03.2026"}, ["file", "entries", 1, "date"]),
        ({**good, "time": "25:00"}, ["file", "entries", 1, "time"]),
        ({**good, "body": 5}, ["file", "entries", 1, "body"]),
        ({**good, "tags": ["@"]}, ["file", "entries", 1, "tags", 0]),
        ({k: v for k, v in good.items() if k != "title"}, ["file", "entries", 1, "title"]),
        ({**good, "starred": "yes"}, ["file", "entries", 1, "starred"]),
    ):
        response = await import_file(client, alice.headers, "jrnl", _jrnl([good, bad]))
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["loc"] == loc, bad
    for content in (b"{", b'{"notes": []}', b"[]"):
        response = await import_file(client, alice.headers, "jrnl", content)
        assert response.status_code == 422, content
    assert await _journals(client, alice) == []
    assert (await client.get(f"{API}/tags", headers=alice.headers)).json() == []


def _dayone_entry(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "uuid": "A1B2C3D4E5F60718293A4B5C6D7E8F90",
        "text": "# Hello world\n\nThis is 1\\. not a list\\! \\(really\\)",
        "creationDate": "2026-05-01T06:30:00Z",
        "modifiedDate": "2026-05-02T10:00:00Z",
        "timeZone": "America/New_York",
        "tags": ["Morning"],
        "starred": False,
    }
    entry.update(fields)
    return entry


def _zip(members: dict[str, bytes | dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            data = (
                content
                if isinstance(content, bytes)
                else json.dumps(content, ensure_ascii=False).encode()
            )
            archive.writestr(name, data)
    return buffer.getvalue()


def _dayone() -> bytes:
    return _zip(
        {
            "Journal.json": {
                "metadata": {"version": "1.0"},
                "entries": [
                    _dayone_entry(
                        photos=[{"identifier": "P1", "md5": "abc", "type": "jpeg"}],
                        text="# Hello world\n\n![](dayone-moment://P1)\nThis is 1\\. not a "
                        "list\\! \\(really\\)",
                    ),
                    _dayone_entry(
                        uuid="0000000000000000000000000000000B",
                        text="No heading here.\nSecond line.",
                        starred=True,
                        tags=[],
                        creationDate="2026-05-03T12:00:00Z",
                    ),
                ],
            },
            "Travel Log.json": {
                "metadata": {"version": "1.0"},
                "entries": [
                    _dayone_entry(
                        uuid="0000000000000000000000000000000C",
                        text="## Lisboa 🇵🇹\nPastéis de nata\\.",
                        tags=["food"],
                        creationDate="2026-06-10T18:00:00Z",
                        photos=[{"identifier": "P2"}, {"identifier": "P3"}],
                    )
                ],
            },
            "photos/abc.jpeg": b"\xff\xd8\xff not really a jpeg",
        }
    )


async def test_a_day_one_zip_with_two_journals_photos_and_escapes(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    response = await import_file(client, alice.headers, "dayone", _dayone(), "export.zip")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["imported"]["journals"] == 3
    assert body["skipped"]["media"] == 3
    first, second, third = await _journals(client, alice)
    assert first["title"] == "Hello world"
    assert first["content"] == "This is 1. not a list! (really)"
    assert first["tags"] == ["Journal", "Morning"]
    assert first["entry_date"] == "2026-05-01T06:30:00Z"
    assert first["created_at"] == "2026-05-01T06:30:00Z"
    assert first["updated_at"] == "2026-05-02T10:00:00Z"
    assert second["title"] == "No heading here."
    assert second["content"] == "No heading here.\nSecond line."
    assert second["tags"] == ["Journal", "starred"]
    assert third["title"] == "Lisboa 🇵🇹"
    assert third["content"] == "Pastéis de nata."
    assert third["tags"] == ["food", "Travel Log"]
    again = await import_file(client, alice.headers, "dayone", _dayone())
    assert again.json()["imported"]["journals"] == 0
    assert len(await _journals(client, alice)) == 3


async def test_malformed_day_one_entries_name_the_file_entry_and_field(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    good = _dayone_entry()
    for bad, loc in (
        (_dayone_entry(uuid="B", creationDate="yesterday"), ["creationDate"]),
        (_dayone_entry(uuid="C", creationDate="2026-05-01T06:30:00"), ["creationDate"]),
        (_dayone_entry(uuid="D", timeZone="Mars/Olympus"), ["timeZone"]),
        ({k: v for k, v in good.items() if k != "uuid"}, ["uuid"]),
        (_dayone_entry(uuid="E", text=["x"]), ["text"]),
    ):
        content = _zip({"Journal.json": {"entries": [good, bad]}})
        response = await import_file(client, alice.headers, "dayone", content)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["loc"] == ["file", "Journal.json", "entries", 1, *loc]
    for content in (b"not a zip", _zip({"photos/a.jpeg": b"x"}), _zip({"J.json": b"{"})):
        response = await import_file(client, alice.headers, "dayone", content)
        assert response.status_code == 422, response.text
    assert await _journals(client, alice) == []


def _with_member(name: str, data: bytes = b"{}", *, symlink: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Journal.json", json.dumps({"entries": [_dayone_entry()]}))
        info = zipfile.ZipInfo(name)
        if symlink:
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, data)
    return buffer.getvalue()


async def test_unsafe_zips_are_refused_before_extraction(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(20_001):
            archive.writestr(f"photos/{i}.jpeg", b"")
    cases = {
        "traversal": _with_member("../../etc/evil.json"),
        "absolute": _with_member("/etc/evil.json"),
        "drive": _with_member("C:/evil.json"),
        "symlink": _with_member("photos/link", b"/etc/passwd", symlink=True),
        "members": many.getvalue(),
    }
    for case, content in cases.items():
        response = await import_file(client, alice.headers, "dayone", content)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["errors"][0]["loc"][0] == "file", case
    assert await _journals(client, alice) == []


async def test_a_zip_bomb_is_refused_before_extraction(make_app: Any, make_client: Any) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Journal.json", json.dumps({"entries": [_dayone_entry()]}))
        # 4 MiB of zeros compress to a few KiB: far under the upload limit, far over
        # the uncompressed one (the same limit).
        archive.writestr("photos/zeros.bin", bytes(4 * 1024 * 1024))
    assert len(bomb.getvalue()) < 64 * 1024
    async with make_app(import_max_bytes=1024 * 1024) as app, make_client(app) as client:
        user = await make_authed_user(app)
        response = await import_file(client, user.headers, "dayone", bomb.getvalue())
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["file", "photos/zeros.bin"]
        assert await _journals(client, user) == []
