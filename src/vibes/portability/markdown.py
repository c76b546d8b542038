"""Our Markdown export: a zip, one `YYYY/MM/DD-<slug>-<short id>.md` per entry with YAML
front matter, and reading it back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import IO

from vibes.db import Database
from vibes.journals.visibility import Viewer
from vibes.portability.records import Chunk, malformed


def read_markdown(file: IO[bytes], *, max_bytes: int) -> Iterator[Chunk]:
    raise malformed([], "the markdown format is not readable yet")


async def export_markdown(database: Database, viewer: Viewer) -> AsyncIterator[bytes]:
    yield b""
