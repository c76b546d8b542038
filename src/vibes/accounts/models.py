"""Users, their signed-in devices, refresh tokens and password-reset tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin, UTCDateTime, VersionMixin
from vibes.platform.textsearch import DEFAULT_LANGUAGE, config_of

DEFAULT_CONFIG = config_of(DEFAULT_LANGUAGE)


SESSION_KIND = "session"
TOKEN_KIND = "token"


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
    # `session` (a signed-in device) or `token` (a personal access token's session: its
    # access token is the PAT itself, see `PersonalAccessToken`).
    kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default=SESSION_KIND, server_default=SESSION_KIND
    )


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


class PersonalAccessToken(TimestampMixin, Base):
    """A personal access token (`vibes_pat_...`), kept only as a SHA-256 hash.

    Its id is the id of its own `AuthSession` (kind `token`): a PAT is a session whose
    bearer is the PAT, so the session-alive rule (revocation, expiry, the Redis cache and
    the hot reads' folded check) covers it unchanged. Revoking it revokes that session."""

    __tablename__ = "personal_access_tokens"
    __table_args__ = (
        Index("ix_personal_access_tokens_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("auth_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # Comma-separated: `read` or `read,write`.
    scopes: Mapped[str] = mapped_column(String(32), nullable=False)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Written at most once per `pat_touch_minutes` (see `accounts.pats.touch`).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class UserTotp(TimestampMixin, Base):
    """A user's TOTP secret (sealed under a server subkey); 2FA is on once `enabled_at`
    is set. `last_step` is the newest time step a code was accepted for: a code works
    once, whichever process checks it (one conditional UPDATE decides)."""

    __tablename__ = "user_totp"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(String(255), nullable=False)
    enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(IdMixin, TimestampMixin, Base):
    """A single-use 2FA recovery code, kept only as a SHA-256 hash."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MfaChallenge(IdMixin, TimestampMixin, Base):
    """A password sign-in waiting for its second factor (`mfa_token`, hashed): valid for
    a few minutes, spent by the verification that opens the session."""

    __tablename__ = "mfa_challenges"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    device_name: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
