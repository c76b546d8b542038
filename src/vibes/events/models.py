"""Webhooks, and the deliveries of outbox events to them and to email."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, JSONType, TimestampMixin, UTCDateTime, VersionMixin


class Webhook(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "webhooks"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    # Event types it wants; an empty list means all of them.
    events: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    description: Mapped[str | None] = mapped_column(String(500))
    # The "whsec_..." signing secret (Standard Webhooks), needed in the clear to sign, so
    # stored sealed under a server subkey (`events.secrets`), never in the clear.
    secret_sealed: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Delivery(IdMixin, TimestampMixin, Base):
    """One event on its way to one target: a webhook (`target` = its id) or "email"."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "target", name="uq_deliveries_event_id_target"),
        Index(
            "ix_deliveries_pending",
            "next_attempt_at",
            postgresql_where=sa_text("status = 'pending'"),
            sqlite_where=sa_text("status = 'pending'"),
        ),
        Index("ix_deliveries_webhook_id_created_at", "webhook_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("outbox_events.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    webhook_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("webhooks.id", ondelete="CASCADE")
    )
    # pending → succeeded | failed (gave up) | cancelled
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(IdMixin, TimestampMixin, Base):
    """The log of every attempt: what `GET /webhooks/{id}/deliveries` shows."""

    __tablename__ = "delivery_attempts"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
