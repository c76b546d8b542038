"""Zip safety: an uploaded archive is checked whole from its central directory before a
single member is read. Refused (422): member paths that are absolute or climb out of the
archive, symlinks, encrypted members, too many members, or more bytes uncompressed than
the import limit (a zip bomb). Reading a member never yields more than the size its
directory entry declares (zipfile stops there), so the declared sizes are the bound."""

from __future__ import annotations

import stat
import zipfile
from pathlib import PurePosixPath
from typing import IO

from vibes.portability.records import malformed

MAX_MEMBERS = 20_000


def open_archive(file: IO[bytes], *, max_bytes: int) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise malformed([], f"not a zip archive ({exc})") from None
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise malformed([], f"the archive has {len(members)} members; at most {MAX_MEMBERS}")
    total = 0
    for member in members:
        name = member.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
            raise malformed([name], "an absolute path inside the archive")
        if ".." in path.parts:
            raise malformed([name], "a path that leaves the archive")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise malformed([name], "a symbolic link inside the archive")
        if member.flag_bits & 0x1:
            raise malformed([name], "an encrypted member")
        total += member.file_size
        if total > max_bytes:
            raise malformed([name], f"the archive holds more than {max_bytes} bytes uncompressed")
    return archive
