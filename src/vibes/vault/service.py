"""The rules of secret tags. Takes a session and plain values; knows nothing of HTTP.

The slow step of every phrase operation (one Argon2id run) is passed in as `derive`, run
before the first statement so that on SQLite no write lock is held while it computes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Integer, Uuid, column, delete, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import passwords
from vibes.accounts.models import User
from vibes.config import Settings
from vibes.db import UTCDateTime, new_id, utcnow
from vibes.errors import Conflict, NotFound, Unauthorized, Unprocessable
from vibes.platform import metrics
from vibes.recording.record import mark_written, record_change
from vibes.vault import crypto
from vibes.vault.crypto import DEFAULT_KDF, KdfParams, MasterKey
from vibes.vault.models import SecretTag

# (phrase, user salt, cost) -> the master key: the one Argon2id run of an operation.
Derive = Callable[[str, bytes, KdfParams], Awaitable[MasterKey]]


class WrongPhrase(Unauthorized):
    """401 with its own problem type, so a client can tell a wrong phrase from an expired
    access token (and not sign the user out). One answer whether or not any tag exists."""

    title, type_suffix = "Wrong phrase", "wrong-phrase"

    def __init__(self) -> None:
        super().__init__("The phrase did not unlock anything.")


# Worded so it says no more than an unlock with that phrase would (and both are rate-limited
# alike): the phrase is already in use by one of the caller's own tags.
PHRASE_TAKEN = "Choose a different phrase."


@dataclass(frozen=True, slots=True)
class OpenTag:
    """A secret tag with its name decrypted (only ever in memory)."""

    tag: SecretTag
    name: str


def decrypt_name(tag: SecretTag, data_key: bytes) -> str:
    return crypto.open_name(
        data_key,
        tag.name_nonce,
        tag.name_ciphertext,
        user_id=tag.user_id,
        tag_id=tag.id,
        version=tag.version,
    )


def _reseal_name(tag: SecretTag, data_key: bytes, name: str) -> None:
    """Seal the name for the version the row gets with this UPDATE (VersionMixin adds one;
    a concurrent writer that got there first makes the UPDATE fail → 412, so the version
    sealed is the version written)."""
    tag.name_nonce, tag.name_ciphertext = crypto.seal_name(
        data_key, name, user_id=tag.user_id, tag_id=tag.id, version=tag.version + 1
    )


async def _lock_owner(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialise phrase writes per user (PostgreSQL row lock; SQLite writers are serial
    already), so two concurrent requests cannot give two tags one phrase."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def _phrase_in_use(
    session: AsyncSession, user_id: uuid.UUID, lookup: bytes, *, besides: uuid.UUID | None = None
) -> bool:
    query = select(SecretTag.id).where(
        SecretTag.user_id == user_id, SecretTag.lookup_hash == lookup
    )
    if besides is not None:
        query = query.where(SecretTag.id != besides)
    return (await session.scalar(query.limit(1))) is not None


def _set_phrase(tag: SecretTag, master: MasterKey, data_key: bytes, lookup: bytes) -> None:
    """New salts, verifier and wrapped data key for the phrase behind `master` (made with
    DEFAULT_KDF: its cost is recorded, so unlock runs Argon2id with the same cost)."""
    salt, verifier_salt = crypto.new_salt(), crypto.new_salt()
    keys = crypto.tag_keys(master, salt, user_id=tag.user_id, tag_id=tag.id)
    tag.kdf_salt = salt
    tag.kdf_memory_kib = DEFAULT_KDF.memory_kib
    tag.kdf_iterations = DEFAULT_KDF.iterations
    tag.kdf_parallelism = DEFAULT_KDF.parallelism
    tag.verifier_salt = verifier_salt
    tag.verifier = crypto.make_verifier(keys, verifier_salt)
    tag.wrap_nonce, tag.wrapped_key = crypto.wrap_key(
        keys.kek, data_key, user_id=tag.user_id, tag_id=tag.id
    )
    tag.lookup_hash = lookup


async def create_tag(
    session: AsyncSession,
    derive: Derive,
    *,
    lookup_key: bytes,
    user_salt: bytes,
    user_id: uuid.UUID,
    name: str,
    phrase: str,
    color: str | None,
) -> tuple[OpenTag, bytes]:
    """A new secret tag and its data key (the caller may hand out an unlock for it)."""
    master = await derive(phrase, user_salt, DEFAULT_KDF)
    lookup = crypto.lookup_hash(lookup_key, user_id, master)
    await _lock_owner(session, user_id)
    if await _phrase_in_use(session, user_id, lookup):
        raise Conflict(PHRASE_TAKEN)
    data_key = crypto.new_data_key()
    tag = SecretTag(id=new_id(), user_id=user_id, color=color)
    tag.name_nonce, tag.name_ciphertext = crypto.seal_name(
        data_key, name, user_id=user_id, tag_id=tag.id, version=1
    )
    _set_phrase(tag, master, data_key, lookup)
    session.add(tag)
    await session.flush()
    return OpenTag(tag=tag, name=name), data_key


async def unlock(
    session: AsyncSession,
    derive: Derive,
    *,
    lookup_key: bytes,
    user_salt: bytes,
    user_id: uuid.UUID,
    phrase: str,
) -> tuple[OpenTag, bytes]:
    """The tag this phrase opens and its data key, or 401.

    One Argon2id run whatever happens (one per distinct cost among the user's tags, which
    is one unless DEFAULT_KDF was raised since some were made): the lookup itself needs the
    Argon2id output, so a wrong phrase, or a user without secret tags, costs what a right
    one does and the answer time tells nothing about whether the user has any.
    """
    rows = await session.execute(
        select(SecretTag.kdf_memory_kib, SecretTag.kdf_iterations, SecretTag.kdf_parallelism)
        .where(SecretTag.user_id == user_id)
        .distinct()
    )
    costs = [KdfParams(*row) for row in rows] or [DEFAULT_KDF]
    tag = None
    for params in costs:
        master = await derive(phrase, user_salt, params)
        lookup = crypto.lookup_hash(lookup_key, user_id, master)
        tag = await session.scalar(
            select(SecretTag)
            .where(
                SecretTag.user_id == user_id,
                SecretTag.lookup_hash == lookup,
                SecretTag.kdf_memory_kib == params.memory_kib,
                SecretTag.kdf_iterations == params.iterations,
                SecretTag.kdf_parallelism == params.parallelism,
            )
            .limit(1)
        )
        if tag is not None:
            break
    if tag is None:
        metrics.UNLOCK_FAILURES.labels("phrase").inc()
        raise WrongPhrase()
    keys = crypto.tag_keys(master, tag.kdf_salt, user_id=user_id, tag_id=tag.id)
    data_key = None
    if crypto.check_verifier(keys, tag.verifier_salt, tag.verifier):
        data_key = crypto.unwrap_key(
            keys.kek, tag.wrap_nonce, tag.wrapped_key, user_id=user_id, tag_id=tag.id
        )
    if data_key is None:
        metrics.UNLOCK_FAILURES.labels("phrase").inc()
        raise WrongPhrase()
    return OpenTag(tag=tag, name=decrypt_name(tag, data_key)), data_key


async def list_unlocked(
    session: AsyncSession, *, user_id: uuid.UUID, keys: Mapping[uuid.UUID, bytes]
) -> list[OpenTag]:
    if not keys:
        return []
    tags = await session.scalars(
        select(SecretTag)
        .where(SecretTag.user_id == user_id, SecretTag.id.in_(list(keys)))
        .order_by(SecretTag.id)
    )
    return [OpenTag(tag=tag, name=decrypt_name(tag, keys[tag.id])) for tag in tags]


async def get_unlocked(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tag_id: uuid.UUID,
    keys: Mapping[uuid.UUID, bytes],
) -> OpenTag:
    """The tag when this request holds its key; otherwise 404, as for a random id."""
    data_key = keys.get(tag_id)
    if data_key is None:
        raise NotFound()
    tag = await session.scalar(
        select(SecretTag).where(SecretTag.id == tag_id, SecretTag.user_id == user_id)
    )
    if tag is None:
        raise NotFound()
    return OpenTag(tag=tag, name=decrypt_name(tag, data_key))


async def update_tag(
    session: AsyncSession,
    opened: OpenTag,
    data_key: bytes,
    *,
    name: str | None = None,
    color: str | None = None,
    set_color: bool = False,
) -> OpenTag:
    tag = opened.tag
    new_name = name if name is not None else opened.name
    recolor = set_color and color != tag.color
    if new_name == opened.name and not recolor:
        return opened  # nothing changes: no UPDATE, the version (and the seal) stay
    if recolor:
        tag.color = color
    # Any UPDATE bumps the version, and the name is bound to it: re-seal it every time.
    _reseal_name(tag, data_key, new_name)
    await session.flush()
    return OpenTag(tag=tag, name=new_name)


async def change_phrase(
    session: AsyncSession,
    derive: Derive,
    *,
    lookup_key: bytes,
    user_salt: bytes,
    user_id: uuid.UUID,
    tag_id: uuid.UUID,
    data_key: bytes,
    new_phrase: str,
) -> None:
    """Re-wrap the same data key under the new phrase (new salts); entries stay as they are."""
    master = await derive(new_phrase, user_salt, DEFAULT_KDF)
    lookup = crypto.lookup_hash(lookup_key, user_id, master)
    await _lock_owner(session, user_id)
    tag = await session.scalar(
        select(SecretTag).where(SecretTag.id == tag_id, SecretTag.user_id == user_id)
    )
    if tag is None:
        raise NotFound()
    if await _phrase_in_use(session, user_id, lookup, besides=tag.id):
        raise Conflict(PHRASE_TAKEN)
    _reseal_name(tag, data_key, decrypt_name(tag, data_key))
    _set_phrase(tag, master, data_key, lookup)
    await session.flush()


async def check_new_phrase(
    settings: Settings, session: AsyncSession, *, user_id: uuid.UUID, phrase: str, field: str
) -> None:
    """A new phrase must be hard to guess (zxcvbn, the password rule's score, with the
    account's address and name as guessable words): "12345678" or "password" would open
    the vault to anyone holding the account. The comparison with the login password is
    separate (`is_login_password`), since it costs a password attempt."""
    user = await session.scalar(select(User).where(User.id == user_id))
    inputs = passwords.personal_words(user.email, user.display_name) if user else []
    await passwords.check_guessable(
        settings, phrase, user_inputs=inputs, field=field, noun="phrase"
    )


def login_password_refused(field: str) -> Unprocessable:
    message = (
        "Choose a phrase other than your account password: "
        "the vault must hold against someone who has the password."
    )
    return Unprocessable(
        message, errors=[{"loc": ["body", field], "msg": message, "type": "phrase_is_password"}]
    )


async def list_identities(
    session: AsyncSession, *, user_id: uuid.UUID
) -> list[tuple[uuid.UUID, dt.datetime]]:
    """Every secret tag of the user as (id, created_at), oldest first: no name."""
    rows = await session.execute(
        select(SecretTag.id, SecretTag.created_at)
        .where(SecretTag.user_id == user_id)
        .order_by(SecretTag.created_at, SecretTag.id)
    )
    return [(tag_id, created) for tag_id, created in rows]


async def password_hash_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return await session.scalar(select(User.password_hash).where(User.id == user_id))


async def check_password(settings: Settings, password_hash: str | None, password: str) -> bool:
    """The account password, checked as the accounts domain does (Argon2id in a thread)."""
    return await passwords.verify_password(settings, password_hash, password)


# The entries of a vault, and the reminders linked to them, by table name: the journals
# and reminders domains import this one (to seal and open entries), not the other way.
_journals = table(
    "journals",
    column("id", Uuid()),
    column("user_id", Uuid()),
    column("secret_tag_id", Uuid()),
    column("version", Integer()),
)
_reminders = table(
    "reminders",
    column("id", Uuid()),
    column("journal_id", Uuid()),
    column("version", Integer()),
    column("updated_at", UTCDateTime()),
)


async def destroy_tag(session: AsyncSession, *, user_id: uuid.UUID, tag_id: uuid.UUID) -> None:
    """Erase the tag; its entries go with it by FK cascade. Each entry leaves a tombstone
    for sync, and each reminder linked to one loses its link (a new version, logged)."""
    in_vault = (_journals.c.user_id == user_id) & (_journals.c.secret_tag_id == tag_id)
    doomed = (
        await session.execute(select(_journals.c.id, _journals.c.version).where(in_vault))
    ).all()
    unlinked = await session.execute(
        update(_reminders)
        .where(_reminders.c.journal_id.in_(select(_journals.c.id).where(in_vault)))
        .values(journal_id=None, version=_reminders.c.version + 1, updated_at=utcnow())
        .returning(_reminders.c.id, _reminders.c.version)
    )
    for reminder_id, version in unlinked.all():
        record_change(
            session,
            user_id=user_id,
            kind="reminder",
            entity_id=reminder_id,
            op="upsert",
            version=version,
        )
    result = await session.execute(
        delete(SecretTag)
        .where(SecretTag.id == tag_id, SecretTag.user_id == user_id)
        .returning(SecretTag.id)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is None:
        raise NotFound()
    mark_written(session, user_id)
    for journal_id, version in doomed:
        record_change(
            session,
            user_id=user_id,
            kind="journal",
            entity_id=journal_id,
            op="delete",
            version=version + 1,
            secret_tag_id=tag_id,
        )
