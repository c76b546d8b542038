"""`vibes export` and `vibes import`: one account's export or import, by the operator,
outside any request (no vault is unlocked: secret entries are neither exported nor
importable this way)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from vibes.accounts.common import email_key
from vibes.accounts.models import User
from vibes.config import Settings
from vibes.db import Database
from vibes.errors import NotFound
from vibes.journals.visibility import Viewer
from vibes.platform.usercache import standalone_database
from vibes.portability import readers
from vibes.portability.export import export_json
from vibes.portability.markdown import export_markdown
from vibes.portability.schemas import ExportFormat, ImportFormat, ImportSummary
from vibes.portability.service import import_chunks, refresh_statistics


async def _viewer(database: Database, email: str) -> Viewer:
    async with database.read_sessionmaker() as session:
        user_id = await session.scalar(select(User.id).where(User.email_key == email_key(email)))
    if user_id is None:
        raise NotFound(f"No account has the email address {email}.")
    return Viewer(user_id=user_id)


async def export_to(
    settings: Settings, email: str, fmt: ExportFormat, write: Callable[[bytes], object]
) -> None:
    database = Database(settings)
    try:
        viewer = await _viewer(database, email)
        pieces = export_json if fmt == "json" else export_markdown
        async for piece in pieces(database, viewer):
            write(piece)
    finally:
        await database.dispose()


async def import_from(
    settings: Settings, email: str, fmt: ImportFormat, path: Path
) -> ImportSummary:
    # Its commit bumps the user's cache generation, as a request's does.
    async with standalone_database(settings) as database:
        viewer = await _viewer(database, email)
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > settings.import_max_bytes:
                readers.too_large(settings.import_max_bytes)
            async with database.session_scope() as session:
                zone = await readers.user_zone(session, viewer.user_id)
                skipped: dict[str, int] = {}
                chunks = readers.open_reader(
                    fmt, file, skipped, zone=zone, max_bytes=settings.import_max_bytes
                )
                summary = await import_chunks(session, viewer, fmt, chunks, skipped=skipped)
        await refresh_statistics(database, summary)
        return summary
