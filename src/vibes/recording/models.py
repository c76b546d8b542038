"""The outbox and the change log: the two tables every write appends to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
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
    """The change log that multi-device sync reads: one row per object written in a
    transaction, tombstones included, numbered per user in commit order (`position`).

    `secret_tag_id` is the secret tag the object is in after the change,
    `previous_secret_tag_id` the one it was in before (the same for most writes), so sync
    can apply the vault rule without reading the object: an entry that leaves what a
    viewer sees is a deletion for that viewer. Neither is a foreign key: the tombstones
    of a destroyed secret tag's entries must outlive the tag.
    """

    __tablename__ = "changes"
    __table_args__ = (
        UniqueConstraint("user_id", "position", name="uq_changes_user_id_position"),
        Index("ix_changes_entity_id", "entity_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # journal | tag | reminder
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)  # upsert | delete
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    secret_tag_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    previous_secret_tag_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class SyncCounter(Base):
    """Per user: the position of the last change committed, and the compaction horizon
    (a cursor at or past it still sees every change that matters).

    Bumped inside each writing transaction just before it commits: the row lock makes a
    user's transactions take positions in the order they commit (SQLite's single writer
    does the same), so a reader's cursor can never pass a change committed later.
    """

    __tablename__ = "sync_counters"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    horizon: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
