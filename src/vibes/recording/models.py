"""The outbox and the change log: the two tables every write appends to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, JSONType, TimestampMixin, UTCDateTime


class OutboxEvent(IdMixin, TimestampMixin, Base):
    """An event, written in the transaction of the change that caused it.

    Its id is the event id every channel sees, on every retry. `dedupe_key` makes a
    second event for the same occurrence (say, one reminder firing once) impossible.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_user_id_id", "user_id", "id"),
        Index(
            "ix_outbox_events_pending",
            "id",
            postgresql_where=sa_text("dispatched_at IS NULL"),
            sqlite_where=sa_text("dispatched_at IS NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Fan-out to the channels is done once this is set.
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Change(IdMixin, TimestampMixin, Base):
    """The change log that multi-device sync reads: one row per write, tombstones
    included."""

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_user_id_id", "user_id", "id"),
        Index("ix_changes_entity_id", "entity_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # journal | tag | reminder
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)  # upsert | delete
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # Set for secret entries, so sync can apply the vault rule without reading the entry.
    secret_tag_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("secret_tags.id", ondelete="CASCADE")
    )
