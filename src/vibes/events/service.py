"""Webhooks (registration, delivery log) and the outbox read back for stream resumes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.config import Settings
from vibes.db import new_id
from vibes.errors import Conflict, NotFound, Unprocessable
from vibes.events.channels import new_webhook_secret
from vibes.events.models import Delivery, DeliveryAttempt, Webhook
from vibes.events.netguard import DestinationRefused, resolve
from vibes.events.schemas import WebhookCreate
from vibes.events.secrets import seal_secret
from vibes.platform.pagination import KeyColumn, Keyset, PageParams
from vibes.recording.models import OutboxEvent

MAX_WEBHOOKS_PER_USER = 25

WEBHOOKS = Keyset(
    "webhooks",
    KeyColumn(Webhook.created_at.expression, dt.datetime, descending=False),
    KeyColumn(Webhook.id.expression, uuid.UUID, descending=False),
)
DELIVERIES = Keyset(
    "deliveries",
    KeyColumn(Delivery.created_at.expression, dt.datetime),
    KeyColumn(Delivery.id.expression, uuid.UUID),
)


async def create_webhook(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    data: WebhookCreate,
    *,
    sealing_key: bytes,
) -> tuple[Webhook, str]:
    """The new webhook and its signing secret in the clear (shown once; stored sealed)."""
    try:
        await resolve(data.url, allow_private=settings.webhooks_allow_private)
    except DestinationRefused as exc:
        raise Unprocessable(
            str(exc), errors=[{"loc": ["body", "url"], "msg": str(exc), "type": "value_error"}]
        ) from None
    count = await session.scalar(
        select(func.count()).select_from(Webhook).where(Webhook.user_id == user_id)
    )
    if (count or 0) >= MAX_WEBHOOKS_PER_USER:
        raise Conflict(f"At most {MAX_WEBHOOKS_PER_USER} webhooks per account; delete one first.")
    hook_id = new_id()
    secret = new_webhook_secret()
    hook = Webhook(
        id=hook_id,
        user_id=user_id,
        url=data.url,
        events=sorted(set(data.events or [])),
        description=data.description,
        secret_sealed=seal_secret(sealing_key, hook_id, secret),
        is_active=True,
    )
    session.add(hook)
    await session.flush()
    return hook, secret


async def get_webhook(session: AsyncSession, user_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
    hook = await session.scalar(
        select(Webhook).where(Webhook.id == webhook_id, Webhook.user_id == user_id)
    )
    if hook is None:
        raise NotFound()
    return hook


async def list_webhooks(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[Webhook], str | None]:
    stmt = WEBHOOKS.apply(select(Webhook).where(Webhook.user_id == user_id), page)
    rows = (await session.scalars(stmt)).all()
    return WEBHOOKS.split(rows, page, lambda h: (h.created_at, h.id))


async def delete_webhook(session: AsyncSession, hook: Webhook) -> None:
    # Its deliveries and their attempts go with it (ON DELETE CASCADE).
    await session.delete(hook)
    await session.flush()


async def list_deliveries(
    session: AsyncSession, hook: Webhook, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """The hook's deliveries, newest first, each with its attempts (two queries a page)."""
    query: Select[Any] = cast(
        "Select[Any]",
        select(Delivery, OutboxEvent.type)
        .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .where(Delivery.webhook_id == hook.id, Delivery.user_id == hook.user_id),
    )
    stmt = DELIVERIES.apply(query, page)
    rows = (await session.execute(stmt)).all()
    items, next_cursor = DELIVERIES.split(rows, page, lambda r: (r[0].created_at, r[0].id))
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = {}
    if items:
        found = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d, _ in items]))
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.attempt)
        )
        for attempt in found:
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    result = []
    for delivery, event_type in items:
        result.append(
            {
                "id": delivery.id,
                "event_id": delivery.event_id,
                "event_type": event_type,
                "status": delivery.status,
                "attempt_count": delivery.attempt_count,
                "last_status_code": delivery.last_status_code,
                "last_error": delivery.last_error,
                "next_attempt_at": delivery.next_attempt_at
                if delivery.status == "pending"
                else None,
                "delivered_at": delivery.delivered_at,
                "created_at": delivery.created_at,
                "attempts": attempts.get(delivery.id, []),
            }
        )
    return result, next_cursor


async def events_after(
    session: AsyncSession, user_id: uuid.UUID, after: uuid.UUID, limit: int
) -> Sequence[OutboxEvent]:
    """The user's dispatched events after `after` (UUIDv7 ids are time-ordered)."""
    stmt = (
        select(OutboxEvent)
        .where(
            OutboxEvent.user_id == user_id,
            OutboxEvent.id > after,
            OutboxEvent.dispatched_at.is_not(None),
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()
