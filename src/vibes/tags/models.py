"""Tags: per user, case-insensitively unique, linked to entries through `journal_tags`."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin, VersionMixin

# Colours are "#rrggbb"; the full check is in the schema, the database guards the shape.
COLOR_CHECK = "color IS NULL OR (length(color) = 7 AND substr(color, 1, 1) = '#')"


class Tag(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("user_id", "name_key", name="uq_tags_user_id_name_key"),
        CheckConstraint(COLOR_CHECK, name="color_hex"),
        CheckConstraint("length(name) >= 1", name="name_not_empty"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # casefold(name): the key that makes "Work" and "work" one tag.
    name_key: Mapped[str] = mapped_column(String(64), nullable=False)
    color: Mapped[str | None] = mapped_column(String(7))


class JournalTag(TimestampMixin, Base):
    """The link between a (non-secret) entry and a tag. Secret entries keep their tag links
    inside their ciphertext instead, so no row here reveals them."""

    __tablename__ = "journal_tags"
    __table_args__ = (Index("ix_journal_tags_tag_id_journal_id", "tag_id", "journal_id"),)

    journal_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("journals.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
