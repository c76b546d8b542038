"""The change log that multi-device sync reads: one row per write, tombstones included."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin


class Change(IdMixin, TimestampMixin, Base):
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
