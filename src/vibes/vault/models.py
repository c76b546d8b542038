"""Secret tags: phrase-locked vaults. Nothing here is readable without the phrase."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin, VersionMixin
from vibes.platform.fields import COLOR_CHECK


class SecretTag(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "secret_tags"
    __table_args__ = (
        CheckConstraint(COLOR_CHECK, name="color_hex"),
        Index("ix_secret_tags_user_id_lookup_hash", "user_id", "lookup_hash"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # The name, AES-256-GCM under the data key.
    name_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    name_nonce: Mapped[bytes] = mapped_column(LargeBinary(12), nullable=False)
    color: Mapped[str | None] = mapped_column(String(7))
    # The Argon2id cost the phrase's master key was made with (the Argon2id salt is the
    # user's, derived from the server key), and the tag's own HKDF salt, from which the
    # master key gives this tag's key-encryption key and verifier key (vault/crypto.py).
    kdf_salt: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    kdf_memory_kib: Mapped[int] = mapped_column(Integer, nullable=False)
    kdf_iterations: Mapped[int] = mapped_column(Integer, nullable=False)
    kdf_parallelism: Mapped[int] = mapped_column(Integer, nullable=False)
    verifier_salt: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    verifier: Mapped[bytes] = mapped_column(LargeBinary(64), nullable=False)
    # The 256-bit data key, wrapped (AES-256-GCM) under the phrase-derived key.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    wrap_nonce: Mapped[bytes] = mapped_column(LargeBinary(12), nullable=False)
    # HMAC(server key, user, Argon2id master key): finds the tag without trying every tag.
    lookup_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
