"""Journal entries and their tags. A secret entry keeps title, content and tags only as
ciphertext; a public one is linked to its tags through `journal_tags`."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from vibes.db import Base, IdMixin, TimestampMixin, UTCDateTime, VersionMixin
from vibes.platform.fields import COLOR_CHECK


class Journal(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "journals"
    __table_args__ = (
        CheckConstraint(
            "mood_rating IS NULL OR (mood_rating >= 1 AND mood_rating <= 10)", name="mood_range"
        ),
        CheckConstraint("word_count >= 0", name="word_count_non_negative"),
        # A secret entry has ciphertext and nonce and no plaintext; a public one the reverse.
        CheckConstraint(
            "(secret_tag_id IS NULL AND ciphertext IS NULL AND nonce IS NULL)"
            " OR (secret_tag_id IS NOT NULL AND ciphertext IS NOT NULL AND nonce IS NOT NULL"
            " AND title = '' AND content = '')",
            name="secret_payload",
        ),
        # The list's keyset order: newest entry_date first, id breaks ties.
        Index("ix_journals_user_id_entry_date_id", "user_id", "entry_date", "id"),
        Index("ix_journals_user_id_mood_rating", "user_id", "mood_rating"),
        Index("ix_journals_secret_tag_id", "secret_tag_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    content: Mapped[str] = mapped_column(Text, nullable=False, default="")
    entry_date: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # The IANA zone the entry was written in, where it is known (an import that says so);
    # None: the account's zone, whichever it is. Its day: `journals.days`.
    timezone: Mapped[str | None] = mapped_column(String(64))
    mood_rating: Mapped[int | None] = mapped_column(SmallInteger)
    word_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Destroying a secret tag (forgotten phrase) erases its entries with it.
    secret_tag_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("secret_tags.id", ondelete="CASCADE")
    )
    # AES-256-GCM of {"title", "content", "tags"} under the secret tag's data key.
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))


# `EntryDay.vault_id` of public entries (a primary key column cannot be NULL).
PUBLIC_VAULT = uuid.UUID(int=0)


class EntryDay(Base):
    """Per user, vault and local day: how many entries, their words and moods.

    Kept by database triggers on `journals` (migration 20261203_0600) in the transaction
    of every write, whatever the path: single or batch writes, imports, moves into and
    out of the vault, a changed date, cascades from a destroyed secret tag or a deleted
    account; rebuilt for the user when the account's zone changes (`journals.days`).
    Each entry counts on its local day by the rule of `journals.days.entry_local_date`.
    Public entries count under `PUBLIC_VAULT`, each secret tag's under its id, so a
    viewer's figures add only the rows of the vaults they see (the vault rule); a day
    whose entries are all gone has no row.
    """

    __tablename__ = "entry_days"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    vault_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    local_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, nullable=False)
    words: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mood_sum: Mapped[int] = mapped_column(Integer, nullable=False)
    mood_count: Mapped[int] = mapped_column(Integer, nullable=False)


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


class TagUse(Base):
    """How many entries a tag is linked to (links exist for public entries only, see
    `JournalTag`), kept by database triggers on `journal_tags` (migration 20261203_0600)
    in the transaction of every link written or removed, cascades and merges included;
    a tag without links has no row."""

    __tablename__ = "tag_uses"

    tag_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    uses: Mapped[int] = mapped_column(Integer, nullable=False)
