"""Chained dependencies for journal routes: the viewer and the owned entry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from vibes.accounts.dependencies import AccessToken, CurrentPrincipal, DbSession
from vibes.journals import service
from vibes.journals.models import Journal


async def get_viewer(claims: AccessToken) -> service.Viewer:
    """Who is asking and what they have unlocked (nothing yet; the vault extends this)."""
    return service.Viewer(user_id=claims.user_id)


CurrentViewer = Annotated[service.Viewer, Depends(get_viewer)]


async def get_owned_journal(
    journal_id: uuid.UUID, principal: CurrentPrincipal, viewer: CurrentViewer, db: DbSession
) -> Journal:
    """The entry for writing, if the live session's user may see it; else 404."""
    return await service.get_owned_journal(db, viewer, journal_id)


OwnedJournal = Annotated[Journal, Depends(get_owned_journal)]
