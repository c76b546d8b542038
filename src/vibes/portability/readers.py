"""Which reader reads which format, and the checks every upload passes first."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import IO, NoReturn

from fastapi import UploadFile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.errors import PayloadTooLarge
from vibes.portability import dayone, jrnl, markdown
from vibes.portability.records import Chunk
from vibes.portability.schemas import ImportFormat
from vibes.portability.vibes_format import read_vibes


def check_size(upload: UploadFile, max_bytes: int) -> None:
    """413 for an upload over the limit (the body limit already refused a declared
    length over it; this catches one that arrived chunked)."""
    size = upload.size
    if size is None:
        upload.file.seek(0, os.SEEK_END)
        size = upload.file.tell()
    upload.file.seek(0)
    if size > max_bytes:
        too_large(max_bytes)


def too_large(max_bytes: int) -> NoReturn:
    raise PayloadTooLarge(f"An import is limited to {max_bytes} bytes (VIBES_IMPORT_MAX_BYTES).")


async def user_zone(session: AsyncSession, user_id: uuid.UUID) -> str:
    zone = await session.scalar(select(User.timezone).where(User.id == user_id))
    return zone or "UTC"


def open_reader(
    fmt: ImportFormat, file: IO[bytes], skipped: dict[str, int], *, zone: str, max_bytes: int
) -> Iterator[Chunk]:
    if fmt == "vibes":
        return read_vibes(file, skipped)
    if fmt == "jrnl":
        return jrnl.read_jrnl(file, zone=zone)
    if fmt == "dayone":
        return dayone.read_dayone(file, skipped, max_bytes=max_bytes)
    return markdown.read_markdown(file, max_bytes=max_bytes)
