"""Reminders: a time, a zone, an optional RRULE, and the next instant they fire."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, Uuid
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin, UTCDateTime, VersionMixin


class Reminder(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "reminders"
    __table_args__ = (
        CheckConstraint("priority >= 1 AND priority <= 5", name="priority_range"),
        Index("ix_reminders_user_id_next_fire_at_id", "user_id", "next_fire_at", "id"),
        # What the dispatcher scans: pending reminders by the next instant they fire.
        Index(
            "ix_reminders_due",
            "next_fire_at",
            postgresql_where=sa_text("is_completed = false AND next_fire_at IS NOT NULL"),
            sqlite_where=sa_text("is_completed = 0 AND next_fire_at IS NOT NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    journal_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("journals.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=2)
    remind_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    recurrence: Mapped[str | None] = mapped_column(String(500))
    # The instant the current occurrence is due (after any snooze); NULL once done.
    next_fire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The occurrence (before snoozing) that next_fire_at belongs to: the key that keeps one
    # occurrence from turning into two events.
    occurrence_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    is_completed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
