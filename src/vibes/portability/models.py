"""What an import remembers: each imported object's identity in its source, so the same
file imported twice creates nothing new."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin


class ImportedObject(IdMixin, TimestampMixin, Base):
    """One object brought in by an import. `source_key` is `<format>:<the source's id>`
    (Day One's uuid, our own export's id) or `<format>:sha256:<hash of the entry>` where
    the format has no ids (jrnl)."""

    __tablename__ = "imported_objects"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "source_key", name="uq_imported_objects_source"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # journal | reminder
    source_key: Mapped[str] = mapped_column(String(200), nullable=False)
    # The object made from it. No foreign key on purpose: an entry deleted after its
    # import stays remembered, so importing the same file again does not bring it back.
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
