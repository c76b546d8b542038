"""Chained dependencies for journal routes: the viewer and the owned entry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from vibes.accounts.dependencies import AccessToken, CurrentPrincipal, DbSession
from vibes.db import Database
from vibes.journals import service
from vibes.journals.models import Journal
from vibes.vault.access import UnlockHeader, unlocked_tags


async def get_viewer(
    request: Request, claims: AccessToken, _unlock: UnlockHeader = None
) -> service.Viewer:
    """Who is asking and which secret tags the request's `X-Vibes-Unlock` tokens opened
    (tokens of another user or session, or expired ones, open nothing)."""
    unlocked = await unlocked_tags(request, claims)
    return service.Viewer(
        user_id=claims.user_id,
        unlocked_secret_tag_ids=frozenset(unlocked),
        secret_tags=unlocked,
    )


CurrentViewer = Annotated[service.Viewer, Depends(get_viewer)]


async def get_owned_journal(
    journal_id: uuid.UUID, principal: CurrentPrincipal, viewer: CurrentViewer, db: DbSession
) -> Journal:
    """The entry for writing, if the live session's user may see it; else 404."""
    return await service.get_owned_journal(db, viewer, journal_id)


OwnedJournal = Annotated[Journal, Depends(get_owned_journal)]


@asynccontextmanager
async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A Core connection without a transaction, for the one-statement hot reads."""
    database: Database = request.app.state.database
    async with database.read_engine.connect() as conn:
        yield conn
