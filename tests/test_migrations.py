from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

import vibes.models  # noqa: F401 - every table on Base.metadata
from vibes import migrations
from vibes.config import Settings
from vibes.db import Base, Database, JSONType, UTCDateTime, new_id
from vibes.events.secrets import open_secret, sealing_key
from vibes.journals import reindex
from vibes.migrations import include_object
from vibes.platform.keys import KeyRing, new_signing_key


async def _table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _model_diff(url: str) -> list[Any]:
    engine = create_async_engine(url)

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str) -> None:
    url = empty_database_url
    model_tables = set(Base.metadata.tables)

    await migrations.upgrade(url)
    assert await migrations.current(url) == migrations.head_revision()
    assert model_tables <= await _table_names(url)

    await migrations.downgrade(url, "base")
    assert await migrations.current(url) is None
    assert not (model_tables & await _table_names(url))

    await migrations.upgrade(url)
    assert model_tables <= await _table_names(url)


async def test_models_and_migrations_agree(empty_database_url: str) -> None:
    await migrations.upgrade(empty_database_url)
    assert await _model_diff(empty_database_url) == []


async def test_upgrading_twice_is_a_no_op(empty_database_url: str) -> None:
    await migrations.upgrade(empty_database_url)
    await migrations.upgrade(empty_database_url)
    assert await migrations.current(empty_database_url) == migrations.head_revision()


async def test_webhook_secrets_are_sealed_by_the_upgrade_and_opened_by_the_downgrade(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    keyring = KeyRing(signing_keys=(new_signing_key(),), server_key=b"k" * 32)
    await migrations.upgrade(url, "20261127_1500")
    user_id, hook_id, secret = uuid.uuid4(), uuid.uuid4(), "whsec_" + "Q" * 44
    now = dt.datetime.now(dt.UTC)
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        *(sa.column(n) for n in ("email", "email_key", "password_hash", "timezone")),
        sa.column("is_active", sa.Boolean()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
        sa.column("version", sa.Integer()),
    )
    old_hooks = sa.table(
        "webhooks",
        sa.column("id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        sa.column("url"),
        sa.column("events", JSONType),
        sa.column("secret"),
        sa.column("is_active", sa.Boolean()),
        sa.column("consecutive_failures", sa.Integer()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
        sa.column("version", sa.Integer()),
    )
    stamps = {"created_at": now, "updated_at": now, "version": 1}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                users.insert().values(
                    id=user_id,
                    email="a@example.com",
                    email_key="a@example.com",
                    password_hash="x",
                    timezone="UTC",
                    is_active=True,
                    **stamps,
                )
            )
            await conn.execute(
                old_hooks.insert().values(
                    id=hook_id,
                    user_id=user_id,
                    url="https://example.com/h",
                    events=[],
                    secret=secret,
                    is_active=True,
                    consecutive_failures=0,
                    **stamps,
                )
            )
        await migrations.upgrade(url, keyring=keyring)
        await engine.dispose()  # PostgreSQL: no statement cached before the schema changed
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT * FROM webhooks"))).mappings().one()
        assert "secret" not in row
        assert all(secret not in str(value) for value in row.values())
        assert open_secret(sealing_key(keyring), hook_id, row["secret_sealed"]) == secret

        await migrations.downgrade(url, "20261127_1500", keyring=keyring)
        await engine.dispose()
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT * FROM webhooks"))).mappings().one()
        assert row["secret"] == secret
        assert "secret_sealed" not in row
    finally:
        await engine.dispose()


async def _write_user_and_entry(url: str, content: str) -> None:
    """One account and one entry, written with the columns every revision has."""
    now = dt.datetime.now(dt.UTC)
    stamps = {"created_at": now, "updated_at": now, "version": 1}
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        *(sa.column(n) for n in ("email", "email_key", "password_hash", "timezone")),
        sa.column("is_active", sa.Boolean()),
        *(sa.column(n, UTCDateTime()) for n in ("created_at", "updated_at")),
        sa.column("version", sa.Integer()),
    )
    journals = sa.table(
        "journals",
        *(sa.column(n, sa.Uuid()) for n in ("id", "user_id")),
        *(sa.column(n) for n in ("title", "content")),
        *(sa.column(n, UTCDateTime()) for n in ("entry_date", "created_at", "updated_at")),
        *(sa.column(n, sa.Integer()) for n in ("word_count", "version")),
    )
    user_id = uuid.uuid4()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                users.insert().values(
                    id=user_id,
                    email="a@example.com",
                    email_key="a@example.com",
                    password_hash="x",
                    timezone="UTC",
                    is_active=True,
                    **stamps,
                )
            )
            await conn.execute(
                journals.insert().values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    title="Trip",
                    content=content,
                    entry_date=now,
                    word_count=len(content.split()),
                    **stamps,
                )
            )
    finally:
        await engine.dispose()


async def test_sqlite_fts_porter_reindexes_existing_entries_and_downgrades(
    empty_database_url: str,
) -> None:
    """`20261202_1830`: entries written before it are found by another form of a word;
    the downgrade goes back to the plain tokenizer (PostgreSQL: nothing changes)."""
    url = empty_database_url
    await migrations.upgrade(url, "20261202_1745")
    await _write_user_and_entry(url, "We saw the glaciers")
    engine = create_async_engine(url)
    try:
        if engine.dialect.name != "sqlite":
            await migrations.upgrade(url)
            assert await migrations.current(url) == migrations.head_revision()
            return
        stemmed = sa.text("SELECT count(*) FROM journals_fts WHERE journals_fts MATCH 'glacier'")
        async with engine.connect() as conn:
            assert (await conn.execute(stemmed)).scalar_one() == 0
        await migrations.upgrade(url)
        async with engine.connect() as conn:
            assert (await conn.execute(stemmed)).scalar_one() == 1
        await migrations.downgrade(url, "20261202_1745")
        async with engine.connect() as conn:
            assert (await conn.execute(stemmed)).scalar_one() == 0
            exact = "SELECT count(*) FROM journals_fts WHERE journals_fts MATCH 'glaciers'"
            assert (await conn.execute(sa.text(exact))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_search_languages_keep_old_entries_found_until_reindexed_and_downgrade(
    empty_database_url: str, tmp_path: Path
) -> None:
    """`20261203_0100`: PostgreSQL entries indexed before it (`simple`) are still found,
    their account is left pending and the background re-index moves them to English;
    SQLite's entries stay in the porter table. The downgrade brings back one table or
    the generated `simple` column."""
    url = empty_database_url
    await migrations.upgrade(url, "20261202_1830")
    await _write_user_and_entry(url, "We saw the glaciers")
    await migrations.upgrade(url)
    engine = create_async_engine(url)
    postgres = engine.dialect.name == "postgresql"
    configs = sa.text("SELECT search_configs FROM users")
    row_config = sa.text("SELECT fts_config FROM journals")
    if postgres:
        stemmed = sa.text(
            "SELECT count(*) FROM journals"
            " WHERE fts_document @@ to_tsquery('vibes_english', 'glacier')"
        )
    else:
        stemmed = sa.text("SELECT count(*) FROM journals_fts WHERE journals_fts MATCH 'glacier'")
    database = Database(
        Settings(_env_file=None, database_url=url, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    )
    try:
        async with engine.connect() as conn:
            assert (await conn.scalar(configs)) == (
                "vibes_english,simple" if postgres else "vibes_english"
            )
            assert (await conn.scalar(row_config)) == ("simple" if postgres else "vibes_english")
            assert (await conn.scalar(stemmed)) == (0 if postgres else 1)
        assert await reindex.reindex_pending(database) == (1 if postgres else 0)
        assert await reindex.reindex_pending(database) == 0
        async with engine.connect() as conn:
            assert (await conn.scalar(configs)) == "vibes_english"
            assert (await conn.scalar(row_config)) == "vibes_english"
            assert (await conn.scalar(stemmed)) == 1
        if not postgres:
            # Another language: the entry moves to the plain table...
            async with engine.begin() as conn:
                await conn.execute(sa.text("UPDATE journals SET fts_config = 'vibes_german'"))
                assert (await conn.scalar(stemmed)) == 0
        await migrations.downgrade(url, "20261202_1830")
        # ... and back into the one (porter) table by the downgrade.
        async with engine.connect() as conn:
            if postgres:
                exact = "SELECT count(*) FROM journals WHERE fts_document @@ 'glaciers'::tsquery"
            else:
                exact = "SELECT count(*) FROM journals_fts WHERE journals_fts MATCH 'glacier'"
            assert (await conn.scalar(sa.text(exact))) == 1
        await migrations.upgrade(url)
        assert await migrations.current(url) == migrations.head_revision()
    finally:
        await database.dispose()


async def test_sync_positions_number_existing_changes_per_user_in_order_and_downgrade(
    empty_database_url: str,
) -> None:
    """`20261203_0200`: the changes already logged get positions 1, 2, … per user in the
    order they were made (their UUIDv7 ids), and each user's counter starts after them."""
    url = empty_database_url
    await migrations.upgrade(url, "20261202_1830")
    now = dt.datetime.now(dt.UTC)
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        *(sa.column(n) for n in ("email", "email_key", "password_hash", "timezone")),
        sa.column("is_active", sa.Boolean()),
        *(sa.column(n, UTCDateTime()) for n in ("created_at", "updated_at")),
        sa.column("version", sa.Integer()),
    )
    changes = sa.table(
        "changes",
        *(sa.column(n, sa.Uuid()) for n in ("id", "user_id", "entity_id")),
        *(sa.column(n) for n in ("kind", "op")),
        sa.column("version", sa.Integer()),
        *(sa.column(n, UTCDateTime()) for n in ("created_at", "updated_at")),
    )
    alice, bob = uuid.uuid4(), uuid.uuid4()
    made: dict[uuid.UUID, list[uuid.UUID]] = {alice: [], bob: []}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for user_id in (alice, bob):
                await conn.execute(
                    users.insert().values(
                        id=user_id,
                        email=f"{user_id.hex}@example.com",
                        email_key=f"{user_id.hex}@example.com",
                        password_hash="x",
                        timezone="UTC",
                        is_active=True,
                        created_at=now,
                        updated_at=now,
                        version=1,
                    )
                )
            for i in range(5):
                user_id = alice if i % 3 else bob
                change_id = new_id()
                made[user_id].append(change_id)
                await conn.execute(
                    changes.insert().values(
                        id=change_id,
                        user_id=user_id,
                        entity_id=uuid.uuid4(),
                        kind="journal",
                        op="upsert",
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
        await migrations.upgrade(url)
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT id, user_id, position FROM changes"))
            positions = {uuid.UUID(str(r.id)): r.position for r in rows}
            counters = {
                uuid.UUID(str(r.user_id)): r.position
                for r in await conn.execute(sa.text("SELECT user_id, position FROM sync_counters"))
            }
        for user_id, ids in made.items():
            assert [positions[i] for i in ids] == list(range(1, len(ids) + 1))
            assert counters[user_id] == len(ids)
        await migrations.downgrade(url, "20261202_1830")
        assert "sync_counters" not in await _table_names(url)
    finally:
        await engine.dispose()
