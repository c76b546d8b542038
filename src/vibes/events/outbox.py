"""Writing events to the outbox, inside the transaction of the change that caused them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from vibes.events.models import OutboxEvent
from vibes.events.schemas import ALL_EVENT_TYPES

EVENT_TYPES = frozenset(ALL_EVENT_TYPES)


def record_event(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    type: str,
    data: dict[str, Any],
    dedupe_key: str | None = None,
) -> OutboxEvent:
    """Add an event to the session; it commits (or not) with the change itself.

    `data` is thin: ids and metadata, never an entry's text.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = OutboxEvent(user_id=user_id, type=type, data=data, dedupe_key=dedupe_key)
    session.add(event)
    return event
