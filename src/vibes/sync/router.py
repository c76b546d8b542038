"""HTTP route of multi-device sync: parse, call the service, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from vibes.accounts.dependencies import CurrentPrincipal
from vibes.errors import DomainError
from vibes.journals.dependencies import CurrentViewer
from vibes.platform.metrics import SYNC_CHANGES, SYNC_PULLS
from vibes.platform.responses import json_response
from vibes.platform.runtime import DbSession, runtime_of
from vibes.sync import service
from vibes.sync.schemas import SyncPage

router = APIRouter(tags=["sync"])
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
# The subkey of the server key that seals sync cursors.
CURSOR_KEY_PURPOSE = "sync-cursors"


@router.get(
    "/sync",
    response_model=None,
    responses={
        200: {"model": SyncPage, "description": "The next changes"},
        410: {**_PROBLEM, "description": "Cursor older than the kept history (resync)"},
        422: _PROBLEM,
    },
)
async def pull(
    request: Request,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    cursor: Annotated[str | None, Query(min_length=1, max_length=service.MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = service.DEFAULT_LIMIT,
) -> Response:
    """Changes since `cursor` (none: everything there is), oldest first, `limit` log rows
    at a time. Deletions come as tombstones (`data: null`); the vault rule applies."""
    key = runtime_of(request).keyring.derive(CURSOR_KEY_PURPOSE)
    try:
        position = None if cursor is None else service.open_cursor(key, viewer.user_id, cursor)
        page = await service.pull(db, viewer, position, limit)
    except DomainError as refused:
        SYNC_PULLS.labels("resync" if refused.status == 410 else "refused").inc()
        raise
    SYNC_PULLS.labels("ok").inc()
    SYNC_CHANGES.inc(len(page.changes))
    body = {
        "changes": [
            {
                "kind": change.kind,
                "id": change.id,
                "op": change.op,
                "version": change.version,
                "data": change.data,
            }
            for change in page.changes
        ],
        "cursor": service.seal_cursor(key, viewer.user_id, page.cursor),
        "has_more": page.has_more,
    }
    # A device's copy must never come from a cache.
    return json_response(body, headers={"Cache-Control": "no-store"})
