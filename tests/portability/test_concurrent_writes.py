"""An import is one transaction, as long as its file is large: what else of the account
may happen meanwhile. Another import of the account waits for it (two would both find
the same entries new); on PostgreSQL the account's other writes do not (a phone's new
entry during a 100,000-entry import waited for all of it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import AuthedUser
from tests.portability.conftest import import_file
from tests.portability.test_statistics import _document
from vibes.db import Database
from vibes.journals.models import Journal
from vibes.portability import service, vibes_format


class Paused:
    """Imports stop after their first chunk until `release`: one is then mid-import,
    its transaction open, its locks held."""

    def __init__(self) -> None:
        self.first_chunk_written = asyncio.Event()
        self.release = asyncio.Event()


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Paused]:
    state = Paused()
    original = service.ImportWriter.write

    async def write(self: service.ImportWriter, chunk: Any, staged: Callable[[], None]) -> None:
        await original(self, chunk, staged)
        state.first_chunk_written.set()
        await state.release.wait()

    monkeypatch.setattr(service.ImportWriter, "write", write)
    monkeypatch.setattr(vibes_format, "CHUNK", 5)
    yield state  # type: ignore[misc]
    state.release.set()


async def _entries(database: Database, user: AuthedUser) -> int:
    async with database.session_scope() as session:
        count = await session.scalar(
            select(func.count()).select_from(Journal).where(Journal.user_id == user.id)
        )
    return int(count or 0)


async def test_the_accounts_other_writes_go_on_during_an_import(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, paused: Paused
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite has one writer: any write waits for a write transaction to end")
    importing = asyncio.create_task(import_file(client, alice.headers, "vibes", _document(20)))
    try:
        await asyncio.wait_for(paused.first_chunk_written.wait(), timeout=30)
        written = await asyncio.wait_for(
            client.post(
                "/api/v1/journals",
                json={"title": "Meanwhile", "content": "On the phone."},
                headers=alice.headers,
            ),
            timeout=10,
        )
        assert written.status_code == 201, written.text
        assert not importing.done()
    finally:
        paused.release.set()
        answer = await importing
    assert answer.status_code == 200, answer.text
    assert answer.json()["imported"]["journals"] == 20
    assert await _entries(database, alice) == 21


async def test_a_second_import_of_the_account_waits_for_the_first(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, paused: Paused
) -> None:
    document = _document(20)
    first = asyncio.create_task(import_file(client, alice.headers, "vibes", document))
    try:
        await asyncio.wait_for(paused.first_chunk_written.wait(), timeout=30)
        paused.first_chunk_written.clear()
        second = asyncio.create_task(import_file(client, alice.headers, "vibes", document))
        await asyncio.sleep(0.5)
        assert not second.done()
        assert not paused.first_chunk_written.is_set()  # the second has written nothing
    finally:
        paused.release.set()
        answers = [await first, await second]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["imported"]["journals"] for a in answers] == [20, 0]
    assert await _entries(database, alice) == 20


@pytest.mark.slow  # waits out SQLite's busy timeout (10 s)
async def test_on_sqlite_a_write_that_waits_out_an_import_is_told_to_retry(
    client: httpx.AsyncClient, database: Database, alice: AuthedUser, paused: Paused
) -> None:
    """SQLite's one writer: a write waiting for a long import's transaction gives up after
    the busy timeout. That is the database being busy, not a bug: 503 with `Retry-After`
    (clients retry it; with its `Idempotency-Key` a retry is safe), not a 500."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL's writes of the account go on during an import (above)")
    importing = asyncio.create_task(import_file(client, alice.headers, "vibes", _document(20)))
    entry = {"title": "Meanwhile", "content": "On the laptop."}
    headers = alice.headers | {"Idempotency-Key": "meanwhile-1"}
    try:
        await asyncio.wait_for(paused.first_chunk_written.wait(), timeout=30)
        refused = await client.post("/api/v1/journals", json=entry, headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"]
        assert refused.headers["content-type"] == "application/problem+json"
    finally:
        paused.release.set()
        answer = await importing
    assert answer.status_code == 200, answer.text
    retried = await client.post("/api/v1/journals", json=entry, headers=headers)
    assert retried.status_code == 201, retried.text
    assert await _entries(database, alice) == 21
