"""Chained dependencies for journal routes: the viewer and the owned entry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from vibes.accounts.dependencies import AccessToken, CurrentPrincipal
from vibes.journals import writes
from vibes.journals.models import Journal
from vibes.journals.visibility import Viewer
from vibes.platform.runtime import DbSession
from vibes.vault.access import UnlockHeader, unlocked_tags


async def get_viewer(request: Request, claims: AccessToken, _unlock: UnlockHeader = None) -> Viewer:
    """Who is asking and which secret tags the request's `X-Vibes-Unlock` tokens opened
    (tokens of another user or session, or expired ones, open nothing)."""
    return Viewer.unlocking(claims.user_id, await unlocked_tags(request, claims))


CurrentViewer = Annotated[Viewer, Depends(get_viewer)]


async def get_owned_journal(
    journal_id: uuid.UUID, principal: CurrentPrincipal, viewer: CurrentViewer, db: DbSession
) -> Journal:
    """The entry for writing, if the live session's user may see it; else 404."""
    return await writes.get_owned_journal(db, viewer, journal_id)


OwnedJournal = Annotated[Journal, Depends(get_owned_journal)]
