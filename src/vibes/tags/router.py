"""HTTP routes of the tags domain: parse, call the service, choose the status code."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from vibes.accounts.dependencies import CurrentPrincipal
from vibes.journals.dependencies import CurrentViewer
from vibes.journals.models import Tag
from vibes.journals.visibility import Viewer
from vibes.platform.concurrency import (
    IfMatchHeader,
    IfNoneMatchHeader,
    etag_for,
    if_none_match_hits,
    not_modified,
)
from vibes.platform.runtime import DbSession
from vibes.tags import service
from vibes.tags.schemas import TagRead, TagUpdate

router = APIRouter(tags=["tags"])
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


async def get_owned_tag(tag_id: uuid.UUID, principal: CurrentPrincipal, db: DbSession) -> Tag:
    """The user's tag, or 404 (the same for another user's tag as for a missing one)."""
    return await service.get_owned_tag(db, principal.user_id, tag_id)


OwnedTag = Annotated[Tag, Depends(get_owned_tag)]


@router.get("/tags", response_model=list[TagRead])
async def list_tags(
    principal: CurrentPrincipal, viewer: CurrentViewer, db: DbSession
) -> list[TagRead]:
    """Every tag of the user, by name; `journal_count` counts only entries you can see."""
    return [
        service.render(item.tag, item.journal_count) for item in await service.list_tags(db, viewer)
    ]


async def _with_count(db: DbSession, viewer: Viewer, tag: Tag, response: Response) -> TagRead:
    response.headers["ETag"] = etag_for(tag.version)
    return service.render(tag, await service.count_for(db, viewer, tag.id))


@router.get(
    "/tags/{tag_id}",
    response_model=TagRead,
    responses={304: {"description": "Not modified"}, 404: _PROBLEM},
)
async def get_tag(
    tag: OwnedTag,
    viewer: CurrentViewer,
    db: DbSession,
    response: Response,
    if_none_match: IfNoneMatchHeader = None,
) -> TagRead | Response:
    if if_none_match_hits(if_none_match, tag.version):
        return not_modified(tag.version)
    return await _with_count(db, viewer, tag, response)


@router.patch("/tags/{tag_id}", response_model=TagRead, responses={412: _PROBLEM})
async def update_tag(
    tag: OwnedTag,
    body: TagUpdate,
    viewer: CurrentViewer,
    db: DbSession,
    response: Response,
    if_match: IfMatchHeader = None,
) -> TagRead:
    """Rename and/or recolour. Renaming onto the name of another of your tags merges that
    tag into this one (its entries are relinked here, then it is deleted)."""
    updated = await service.update_tag(
        db, tag, body.model_dump(exclude_unset=True), if_match=if_match
    )
    return await _with_count(db, viewer, updated, response)


@router.delete("/tags/{tag_id}", status_code=204, responses={412: _PROBLEM})
async def delete_tag(tag: OwnedTag, db: DbSession, if_match: IfMatchHeader = None) -> Response:
    """Removes the tag from every entry; deletes no entry."""
    await service.delete_tag(db, tag, if_match=if_match)
    return Response(status_code=204)
