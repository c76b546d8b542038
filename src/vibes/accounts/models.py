"""Users, their signed-in devices, refresh tokens and password-reset tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin, UTCDateTime, VersionMixin
from vibes.platform.textsearch import DEFAULT_LANGUAGE, config_of

DEFAULT_CONFIG = config_of(DEFAULT_LANGUAGE)


class User(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "users"

    # Stored as typed; `email_key` (case-folded) is what makes addresses unique.
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    email_key: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    # ISO 639-1: the language search stems this account's words in (platform.textsearch).
    language: Mapped[str] = mapped_column(
        String(8), nullable=False, default=DEFAULT_LANGUAGE, server_default=DEFAULT_LANGUAGE
    )
    # The text search configurations this account's entries are indexed with, comma-
    # separated: the language's first (new entries get it), then any older one whose
    # entries the background re-index (`journals.reindex`) has not rebuilt yet. Searches
    # query all of them, so they stay correct meanwhile.
    search_configs: Mapped[str] = mapped_column(
        String(255), nullable=False, default=DEFAULT_CONFIG, server_default=DEFAULT_CONFIG
    )
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuthSession(IdMixin, TimestampMixin, Base):
    """One signed-in device. Access tokens carry its id (`sid`) and die with it."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id_created_at", "user_id", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    device_name: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class RefreshToken(IdMixin, TimestampMixin, Base):
    """A single-use refresh token, kept only as a SHA-256 hash."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PasswordResetToken(IdMixin, TimestampMixin, Base):
    __tablename__ = "password_reset_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    requested_ip: Mapped[str | None] = mapped_column(String(64))


class Invite(IdMixin, TimestampMixin, Base):
    """A single-use invite code (VIBES_REGISTRATION=invite), kept only as a SHA-256 hash.
    Made by the operator (`vibes invites create`); spent by the registration it opened."""

    __tablename__ = "invites"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The account the invite opened (set when spent); the invite outlives its account.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str | None] = mapped_column(String(200))
