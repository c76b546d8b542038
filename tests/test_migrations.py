from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

import vibes.models  # noqa: F401 - every table on Base.metadata
from vibes import migrations
from vibes.db import Base
from vibes.migrations import include_object


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
