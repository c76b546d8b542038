"""Deleting a user erases every row of theirs in every table."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import FastAPI
from sqlalchemy import Table, delete, func, select

from tests.factories import make_session, make_user
from vibes.accounts.models import (
    TOKEN_KIND,
    Invite,
    MfaChallenge,
    PasswordResetToken,
    PersonalAccessToken,
    RecoveryCode,
    RefreshToken,
    User,
    UserTotp,
)
from vibes.db import Base, Database, utcnow
from vibes.events.models import Delivery, DeliveryAttempt, Webhook
from vibes.journals.models import Journal, JournalTag, Tag
from vibes.platform.models import AuditLog, IdempotencyKey
from vibes.platform.runtime import app_runtime
from vibes.portability.models import ImportedObject
from vibes.recording.models import Change, OutboxEvent, SyncCounter
from vibes.reminders.models import Reminder
from vibes.vault.models import SecretTag


async def _fill_every_table(database: Database, user_id: uuid.UUID) -> None:
    now = utcnow()
    auth_session = await make_session(database, user_id)
    token_session = await make_session(database, user_id, kind=TOKEN_KIND)
    async with database.session_scope() as s:
        secret = SecretTag(
            user_id=user_id,
            name_ciphertext=b"x" * 20,
            name_nonce=b"n" * 12,
            kdf_salt=b"s" * 16,
            kdf_memory_kib=65536,
            kdf_iterations=3,
            kdf_parallelism=1,
            verifier_salt=b"v" * 16,
            verifier=b"v" * 32,
            wrapped_key=b"w" * 48,
            wrap_nonce=b"n" * 12,
            lookup_hash=b"h" * 32,
        )
        journal = Journal(user_id=user_id, title="t", content="c", entry_date=now, word_count=1)
        secret_journal = Journal(
            user_id=user_id,
            entry_date=now,
            ciphertext=b"c",
            nonce=b"n" * 12,
        )
        s.add_all([secret, journal])
        await s.flush()
        secret_journal.secret_tag_id = secret.id
        tag = Tag(user_id=user_id, name="Work", name_key="work", color="#112233")
        s.add_all([secret_journal, tag])
        await s.flush()
        event = OutboxEvent(user_id=user_id, type="journal.created", data={"id": str(journal.id)})
        webhook = Webhook(user_id=user_id, url="https://example.com/h", secret_sealed="v1.x")
        s.add_all(
            [
                JournalTag(journal_id=journal.id, tag_id=tag.id, user_id=user_id),
                Reminder(
                    user_id=user_id,
                    journal_id=journal.id,
                    title="r",
                    remind_at=now,
                    timezone="UTC",
                    next_fire_at=now,
                ),
                event,
                webhook,
                RefreshToken(
                    user_id=user_id,
                    session_id=auth_session.id,
                    token_hash=uuid.uuid4().bytes * 2,
                    expires_at=now + dt.timedelta(days=1),
                ),
                PasswordResetToken(
                    user_id=user_id,
                    token_hash=uuid.uuid4().bytes * 2,
                    expires_at=now + dt.timedelta(minutes=30),
                ),
                IdempotencyKey(
                    user_id=user_id,
                    key="k",
                    method="POST",
                    path="/api/v1/journals",
                    request_hash=b"h" * 32,
                    expires_at=now + dt.timedelta(days=1),
                ),
                AuditLog(user_id=user_id, action="auth.login", details={}),
                Invite(
                    user_id=user_id,
                    token_hash=uuid.uuid4().bytes * 2,
                    expires_at=now + dt.timedelta(days=1),
                    used_at=now,
                ),
                Change(
                    user_id=user_id,
                    position=1,
                    kind="journal",
                    entity_id=journal.id,
                    op="upsert",
                    version=1,
                ),
                SyncCounter(user_id=user_id, position=1, horizon=0),
                ImportedObject(
                    user_id=user_id, kind="journal", source_key="jrnl:x", object_id=journal.id
                ),
                PersonalAccessToken(
                    id=token_session.id,
                    user_id=user_id,
                    name="script",
                    scopes="read",
                    token_hash=uuid.uuid4().bytes * 2,
                ),
                UserTotp(user_id=user_id, secret_sealed="v1.x"),
                RecoveryCode(user_id=user_id, code_hash=uuid.uuid4().bytes * 2),
                MfaChallenge(
                    user_id=user_id,
                    token_hash=uuid.uuid4().bytes * 2,
                    expires_at=now + dt.timedelta(minutes=5),
                ),
            ]
        )
        await s.flush()
        delivery = Delivery(
            user_id=user_id,
            event_id=event.id,
            channel="webhook",
            target=str(webhook.id),
            webhook_id=webhook.id,
            next_attempt_at=now,
        )
        s.add(delivery)
        await s.flush()
        s.add(DeliveryAttempt(user_id=user_id, delivery_id=delivery.id, attempt=1))


# The server's own tables: no user owns their rows.
SERVER_TABLES = {"periodic_jobs"}


def _user_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in SERVER_TABLES]


async def _rows_per_table(database: Database, user_id: uuid.UUID) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with database.session_scope() as s:
        for table in _user_tables():
            column = table.c.get("user_id") if table.name != "users" else table.c.id
            assert column is not None, f"{table.name} has no user_id"
            counts[table.name] = (
                await s.scalar(select(func.count()).select_from(table).where(column == user_id))
                or 0
            )
    return counts


async def test_every_user_owned_table_has_user_id(app: FastAPI) -> None:
    for table in _user_tables():
        if table.name != "users":
            assert "user_id" in table.c, table.name


async def test_deleting_a_user_erases_every_row_of_theirs(app: FastAPI) -> None:
    database: Database = app_runtime(app).database
    doomed = await make_user(database)
    survivor = await make_user(database)
    await _fill_every_table(database, doomed.id)
    await _fill_every_table(database, survivor.id)

    before = await _rows_per_table(database, doomed.id)
    assert all(count > 0 for count in before.values()), before

    async with database.session_scope() as s:
        await s.execute(delete(User).where(User.id == doomed.id))

    after = await _rows_per_table(database, doomed.id)
    assert all(count == 0 for count in after.values()), after
    assert await _rows_per_table(database, survivor.id) == before
