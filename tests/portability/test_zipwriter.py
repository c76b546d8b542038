"""The streaming zip writer of the Markdown export: what it writes, `zipfile` reads."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from vibes.portability import zipwriter
from vibes.portability.zipwriter import ZipWriter

WHEN = dt.datetime(2026, 3, 29, 14, 5, 7, tzinfo=dt.UTC)


def _write(members: list[tuple[str, bytes, dt.datetime]]) -> bytes:
    writer = ZipWriter()
    return b"".join([*(writer.add(*member) for member in members), *writer.close()])


def _archive(members: list[tuple[str, bytes, dt.datetime]]) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(_write(members)))
    assert archive.testzip() is None
    return archive


def test_members_names_dates_and_modes_read_back() -> None:
    body = "---\ntitle: Über\n---\n".encode() + b"x" * 10_000
    archive = _archive(
        [
            ("2026/03/29-uber-0badcafe.md", body, WHEN),
            ("2026/04/01-ri-ben-yu-12345678.md", "本文".encode(), WHEN),
            ("1975/01/01-old-00000000.md", b"", dt.datetime(1975, 1, 1, tzinfo=dt.UTC)),
        ]
    )
    first, second, old = archive.infolist()
    assert archive.read(first) == body
    assert first.compress_type == zipfile.ZIP_DEFLATED
    assert first.compress_size < 200
    assert first.date_time == (2026, 3, 29, 14, 5, 6)  # DOS time: two-second steps
    assert first.external_attr >> 16 == 0o100644
    assert archive.read(second).decode() == "本文"
    assert old.date_time == (1980, 1, 1, 0, 0, 0)  # before DOS time: its first day
    assert archive.read(old) == b""


def test_zip64_end_records_past_65535_members(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 16-bit count is lowered so that three members need the ZIP64 records.
    monkeypatch.setattr(zipwriter, "_MAX16", 2)
    monkeypatch.setattr(zipwriter, "_IN_MEMORY", 64)  # the directory spills to disk
    members = [(f"{i}.md", str(i).encode(), WHEN) for i in range(3)]
    data = _write(members)
    # The locator (20 bytes before the 22-byte end record) points at the ZIP64 end record.
    locator = data[-42:-22]
    assert locator[:4] == b"PK\x06\x07"
    at = int.from_bytes(locator[8:16], "little")
    assert data[at : at + 4] == b"PK\x06\x06"
    assert int.from_bytes(data[at + 32 : at + 40], "little") == 3  # members, 64 bits
    archive = _archive(members)
    assert [archive.read(f"{i}.md") for i in range(3)] == [b"0", b"1", b"2"]
