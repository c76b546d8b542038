"""HTTP routes of the events domain: the live stream and webhooks."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from vibes.accounts import sessions
from vibes.accounts.dependencies import CurrentPrincipal
from vibes.accounts.tokens import AccessClaims
from vibes.config import Settings
from vibes.db import Database, new_id, utcnow
from vibes.events import service
from vibes.events.channels import event_payload
from vibes.events.schemas import (
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookRead,
)
from vibes.events.secrets import SealedAnswers, sealing_key
from vibes.platform.broker import CONTROL, SESSION_REVOKED
from vibes.platform.concurrency import etag_for
from vibes.platform.idempotency import IdempotencyKeyHeader, idempotent
from vibes.platform.pagination import Page
from vibes.platform.runtime import DbSession, Runtime, runtime_of

router = APIRouter()
# How many recently sent ids a stream remembers to drop duplicates (a replayed event
# that also arrives live, or one published twice after a worker crash).
SEEN_IDS = 2048


def _parse_last_id(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


def _sse(event: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event, separators=(",", ":")), id=str(event["id"]), event=event["type"]
    )


@router.get(
    "/events",
    summary="Live stream of the user's events (Server-Sent Events)",
    response_class=EventSourceResponse,
)
async def stream_events(
    request: Request,
    principal: CurrentPrincipal,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> EventSourceResponse:
    """Each event is sent as `id: <event id>`, `event: <type>`, `data: <event JSON>`.

    Reconnect with `Last-Event-ID` to get what was missed (from the outbox). Pings keep
    the connection alive; the stream ends when its access token expires and as soon as
    its session is revoked.
    """
    runtime = runtime_of(request)
    settings = runtime.settings
    return EventSourceResponse(
        _stream(
            runtime,
            principal,
            _parse_last_id(last_event_id),
            poll_outbox=_needs_outbox_poll(runtime),
        ),
        ping=settings.events_heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _needs_outbox_poll(runtime: Runtime) -> bool:
    """Without a shared broker or an in-process dispatcher nothing would publish to this
    process's clients: the stream then reads the outbox itself."""
    return not runtime.broker.is_shared and not runtime.settings.dispatcher_in_process


# When a stream falls back to reading the outbox (its relay lost Redis), it reads from this
# long before the newest event it had live: one published out of id order is not missed
# (ids already sent are dropped).
RELAY_OVERLAP_MS = 30_000


def _id_floor(event_id: uuid.UUID, back_ms: int) -> uuid.UUID:
    """The smallest UUIDv7 of the millisecond `back_ms` before `event_id`'s."""
    ms = max(0, (event_id.int >> 80) - back_ms)
    return uuid.UUID(int=ms << 80)


async def _stream(
    runtime: Runtime,
    claims: AccessClaims,
    last_id: uuid.UUID | None,
    *,
    poll_outbox: bool,
) -> AsyncIterator[ServerSentEvent]:
    database, settings, broker = runtime.database, runtime.settings, runtime.broker
    seen: collections.deque[str] = collections.deque(maxlen=SEEN_IDS)
    check_every = settings.events_heartbeat_seconds
    # Subscribe before reading the backlog so nothing published in between is lost.
    async with broker.subscribe(claims.user_id) as subscription:
        cursor = last_id
        if cursor is not None:
            # The whole backlog, a page at a time, before going live.
            while True:
                backlog = await _backlog(database, settings, claims, cursor)
                for event in backlog:
                    cursor = event.id
                    seen.append(str(event.id))
                    yield _sse(event_payload(event))
                if len(backlog) < settings.events_replay_limit:
                    break
        if cursor is None:
            cursor = new_id()  # UUIDv7: "events from now on"
        newest_live: uuid.UUID | None = None
        next_check = time.monotonic() + check_every
        # The stream lives as long as the access token that opened it; the client
        # reconnects with a fresh one (and `Last-Event-ID`).
        expires = time.monotonic() + (claims.expires_at - utcnow()).total_seconds()
        while True:
            left = expires - time.monotonic()
            if left <= 0:
                return
            polling = poll_outbox or not broker.relaying
            wait = min(check_every, settings.dispatcher_poll_seconds) if polling else check_every
            item = await subscription.get(min(wait, left))
            if subscription.overflowed:
                return  # too slow a client: it reconnects and resumes from the outbox
            if item is not None and CONTROL in item:
                # Pushed by `accounts.sessions.revoke` once the revocation committed.
                if item.get(CONTROL) == SESSION_REVOKED and item.get("session_id") == str(
                    claims.session_id
                ):
                    return
                continue
            if item is not None and str(item.get("id")) not in seen:
                seen.append(str(item["id"]))
                with contextlib.suppress(ValueError, TypeError):
                    live_id = uuid.UUID(str(item["id"]))
                    newest_live = max(newest_live or live_id, live_id)
                yield _sse(item)
            if poll_outbox or not broker.relaying:
                if newest_live is not None:
                    # Fell back from live delivery: read from just before where it stopped.
                    cursor = max(cursor, _id_floor(newest_live, RELAY_OVERLAP_MS))
                    newest_live = None
                for event in await _backlog(database, settings, claims, cursor):
                    cursor = event.id
                    if str(event.id) not in seen:
                        seen.append(str(event.id))
                        yield _sse(event_payload(event))
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + check_every
                if not await _shielded(_session_alive(runtime, claims)):
                    return


T = TypeVar("T")


async def _shielded(work: Coroutine[Any, Any, T]) -> T:
    """Run a database read so a client hanging up cannot cancel it halfway.

    The stream is cancelled when its client goes; a query cancelled mid-flight can leave
    its pooled connection neither returned nor closed. Shielded, the read finishes and
    gives its connection back; only the stream stops waiting for it.
    """
    return await asyncio.shield(asyncio.ensure_future(work))


async def _session_alive(runtime: Runtime, claims: AccessClaims) -> bool:
    async with runtime.database.read_sessionmaker() as session:
        return await sessions.is_session_active(runtime, session, claims)


async def _backlog(
    database: Database, settings: Settings, claims: AccessClaims, after: uuid.UUID
) -> list[Any]:
    async def read() -> list[Any]:
        async with database.read_sessionmaker() as session:
            found = await service.events_after(
                session, claims.user_id, after, settings.events_replay_limit
            )
            return list(found)

    return await _shielded(read())


# Webhooks -------------------------------------------------------------------------------


def _read(hook: Any, model: type[WebhookRead] = WebhookRead) -> dict[str, Any]:
    return model.model_validate(hook).model_dump(mode="json")


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    request: Request,
    body: WebhookCreate,
    db: DbSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Register a receiver. The answer holds the signing `secret`, shown only here."""

    async def produce() -> Response:
        runtime = runtime_of(request)
        hook, secret = await service.create_webhook(
            db,
            runtime.settings,
            principal.user_id,
            body,
            sealing_key=sealing_key(runtime.keyring),
        )
        return JSONResponse(
            WebhookCreated.model_validate({**_read(hook), "secret": secret}).model_dump(
                mode="json"
            ),
            status_code=201,
            headers={
                "Location": f"{request.url.path}/{hook.id}",
                "ETag": etag_for(hook.version),
            },
        )

    return await idempotent(
        db,
        user_id=principal.user_id,
        key=idempotency_key,
        request=request,
        produce=produce,
        keeping=SealedAnswers(sealing_key(runtime_of(request).keyring)),
    )


@router.get("/webhooks", response_model=WebhookPage)
async def list_webhooks(db: DbSession, principal: CurrentPrincipal, page: Page) -> WebhookPage:
    hooks, next_cursor = await service.list_webhooks(db, principal.user_id, page)
    return WebhookPage(
        items=[WebhookRead.model_validate(h) for h in hooks], next_cursor=next_cursor
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead)
async def get_webhook(
    webhook_id: uuid.UUID, db: DbSession, principal: CurrentPrincipal
) -> Response:
    hook = await service.get_webhook(db, principal.user_id, webhook_id)
    return JSONResponse(_read(hook), headers={"ETag": etag_for(hook.version)})


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(
    webhook_id: uuid.UUID, db: DbSession, principal: CurrentPrincipal
) -> Response:
    hook = await service.get_webhook(db, principal.user_id, webhook_id)
    await service.delete_webhook(db, hook)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: uuid.UUID, db: DbSession, principal: CurrentPrincipal, page: Page
) -> DeliveryPage:
    """The delivery log: each event sent to this hook, with every attempt's status code."""
    hook = await service.get_webhook(db, principal.user_id, webhook_id)
    items, next_cursor = await service.list_deliveries(db, hook, page)
    return DeliveryPage.model_validate({"items": items, "next_cursor": next_cursor})
