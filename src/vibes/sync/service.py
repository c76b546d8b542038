"""Recording changes for multi-device sync, in the same transaction as the write."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from vibes.sync.models import Change

Kind = Literal["journal", "tag", "reminder"]
Op = Literal["upsert", "delete"]


def record_change(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: Kind,
    entity_id: uuid.UUID,
    op: Op,
    version: int,
    secret_tag_id: uuid.UUID | None = None,
) -> Change:
    change = Change(
        user_id=user_id,
        kind=kind,
        entity_id=entity_id,
        op=op,
        version=version,
        secret_tag_id=secret_tag_id,
    )
    session.add(change)
    return change
