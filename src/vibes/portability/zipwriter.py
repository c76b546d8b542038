"""A zip archive written as a stream, member by member, in flat memory.

`zipfile.ZipFile` keeps a `ZipInfo` object per member until it writes the central
directory at the end (~1 KiB each: +110 MiB for 100,000 entries). This writer keeps only
the central directory's own bytes (46 bytes and the name per member: ~10 MB for 100,000),
packed as each member is written, in a temporary file past the first MiB: memory stays
flat whatever the number of members. Each member is whole in memory when added (an entry's
file), so its CRC and sizes go in its local header: no data descriptors. ZIP64 records
are written when the archive needs them (over 65,535 members, or offsets past 4 GiB), as
`zipfile` does; names are UTF-8 (flag bit 11); members are regular files, mode 0644.
"""

from __future__ import annotations

import datetime as dt
import struct
import tempfile
import zlib
from collections.abc import Iterator

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sBBHHHHHIIIHHHHHII")
_ZIP64_OFFSET = struct.Struct("<HHQ")  # extra field 0x0001 holding only the offset
_ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_END = struct.Struct("<4sHHHHIIH")

_UTF8 = 0x0800
_DEFLATED = 8
_UNIX = 3
_V20 = 20  # deflate
_V45 = 45  # ZIP64
_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_MAX16 = 0xFFFF
_MAX32 = 0xFFFFFFFF
_IN_MEMORY = 1 << 20  # of the central directory; the rest waits in a temporary file


def _dos_time(when: dt.datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS format, which spans 1980-2107 (clamped to it)."""
    if when.year < 1980:
        return 0, (1 << 5) | 1  # 1980-01-01 00:00:00
    if when.year > 2107:
        return (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31
    return (
        (when.hour << 11) | (when.minute << 5) | (when.second // 2),
        ((when.year - 1980) << 9) | (when.month << 5) | when.day,
    )


class ZipWriter:
    """`add` returns the member's bytes to send; `close` yields the central directory
    (in pieces of up to a MiB) and the end records."""

    def __init__(self, *, level: int = zlib.Z_DEFAULT_COMPRESSION) -> None:
        self._level = level
        self._offset = 0
        self._count = 0
        self._size = 0
        # Closed by `close`, or by leaving the writer's `with` block (an export cut short).
        self._directory = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115

    def __enter__(self) -> ZipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._directory.close()

    def add(self, name: str, data: bytes, modified: dt.datetime) -> bytes:
        encoded = name.encode()
        compressed = zlib.compress(data, self._level, wbits=-zlib.MAX_WBITS)
        crc = zlib.crc32(data)
        time, date = _dos_time(modified)
        local = _LOCAL.pack(
            b"PK\x03\x04",
            _V20,
            _UTF8,
            _DEFLATED,
            time,
            date,
            crc,
            len(compressed),
            len(data),
            len(encoded),
            0,
        )
        extra = b""
        version = _V20
        offset = self._offset
        if offset > _MAX32:
            extra = _ZIP64_OFFSET.pack(0x0001, 8, offset)
            version = _V45
            offset = _MAX32
        entry = _CENTRAL.pack(
            b"PK\x01\x02",
            version,
            _UNIX,
            version,
            _UTF8,
            _DEFLATED,
            time,
            date,
            crc,
            len(compressed),
            len(data),
            len(encoded),
            len(extra),
            0,
            0,
            0,
            _MODE,
            offset,
        )
        self._size += self._directory.write(b"".join((entry, encoded, extra)))
        self._count += 1
        member = b"".join((local, encoded, compressed))
        self._offset += len(member)
        return member

    def close(self) -> Iterator[bytes]:
        start, size, count = self._offset, self._size, self._count
        with self._directory as directory:
            directory.seek(0)
            while piece := directory.read(_IN_MEMORY):
                yield piece
        parts = []
        if count > _MAX16 or start > _MAX32 or size > _MAX32:
            end64 = start + size
            parts.append(
                _ZIP64_END.pack(b"PK\x06\x06", 44, _V45, _V45, 0, 0, count, count, size, start)
            )
            parts.append(_ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, end64, 1))
        parts.append(
            _END.pack(
                b"PK\x05\x06",
                0,
                0,
                min(count, _MAX16),
                min(count, _MAX16),
                min(size, _MAX32),
                min(start, _MAX32),
                0,
            )
        )
        yield b"".join(parts)
