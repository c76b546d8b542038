"""HTTP routes of import and export: parse, call the service, choose the status code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from vibes.accounts.dependencies import CurrentPrincipal
from vibes.db import utcnow
from vibes.errors import DomainError
from vibes.journals.dependencies import CurrentViewer
from vibes.platform.metrics import IMPORTED_ENTRIES, IMPORTS
from vibes.platform.responses import json_response
from vibes.platform.runtime import DbSession, runtime_of
from vibes.portability import readers
from vibes.portability.export import export_json
from vibes.portability.markdown import export_markdown
from vibes.portability.schemas import ExportFormat, ImportFormat, ImportSummary
from vibes.portability.service import import_chunks, refresh_statistics

router = APIRouter(tags=["import and export"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`json`: the `vibes` document; `markdown`: a zip of Markdown files.",
            "content": {"application/json": {}, "application/zip": {}},
        }
    },
)
async def export_account(
    request: Request,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    format: Annotated[ExportFormat, Query()] = "json",
) -> StreamingResponse:
    """The whole account, streamed (secret entries only for the unlocked tags)."""
    database = runtime_of(request).database
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    if format == "markdown":
        return StreamingResponse(
            export_markdown(database, viewer),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="vibes-{stamp}.zip"'},
        )
    return StreamingResponse(
        export_json(database, viewer),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="vibes-{stamp}.json"'},
    )


@router.post(
    "/import",
    response_model=ImportSummary,
    responses={413: _PROBLEM, 422: _PROBLEM},
)
async def import_file(
    request: Request,
    principal: CurrentPrincipal,
    viewer: CurrentViewer,
    db: DbSession,
    background: BackgroundTasks,
    file: Annotated[UploadFile, File(description="The file to import.")],
    format: Annotated[ImportFormat, Query()],
) -> Any:
    """All of the file or (a malformed entry: 422 naming it) nothing; the same file twice
    creates nothing new."""
    settings = runtime_of(request).settings
    readers.check_size(file, settings.import_max_bytes)
    skipped: dict[str, int] = {}
    user_zone = await readers.user_zone(db, viewer.user_id)
    chunks = readers.open_reader(
        format, file.file, skipped, zone=user_zone, max_bytes=settings.import_max_bytes
    )
    try:
        summary = await import_chunks(db, viewer, format, chunks, skipped=skipped)
    except DomainError:
        IMPORTS.labels(format, "refused").inc()
        raise
    IMPORTS.labels(format, "ok").inc()
    IMPORTED_ENTRIES.inc(summary.imported.journals)
    # After the answer, which comes after the commit.
    background.add_task(refresh_statistics, runtime_of(request).database, summary)
    return json_response(summary.model_dump(), 200)
