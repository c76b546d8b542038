"""ETags, If-None-Match → 304, If-Match → 412, and one winner among concurrent writers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from sqlalchemy import select

from tests.conftest import Backend
from tests.factories import make_user
from vibes.accounts.models import User
from vibes.db import SAFE_METHODS, Database
from vibes.errors import NotFound
from vibes.platform.concurrency import (
    IfMatchHeader,
    IfNoneMatchHeader,
    check_if_match,
    etag_for,
    if_match_holds,
    if_none_match_hits,
    not_modified,
)
from vibes.platform.runtime import DbSession


def test_etag_is_the_quoted_version() -> None:
    assert etag_for(3) == '"3"'


@pytest.mark.parametrize(
    ("header", "hit"),
    [
        (None, False),
        ("", False),
        ('"3"', True),
        ('W/"3"', True),
        ('"1", "3"', True),
        ("*", True),
        ('"4"', False),
        ("3", True),
    ],
)
def test_if_none_match_weak_comparison(header: str | None, hit: bool) -> None:
    assert if_none_match_hits(header, 3) is hit


@pytest.mark.parametrize(
    ("header", "holds"),
    [
        (None, True),
        ('"3"', True),
        ('"2", "3"', True),
        ("*", True),
        ('W/"3"', False),
        ('"2"', False),
        ("garbage", False),
    ],
)
def test_if_match_strong_comparison(header: str | None, holds: bool) -> None:
    assert if_match_holds(header, 3) is holds


def test_stale_if_match_raises_412_with_current_etag() -> None:
    from vibes.errors import PreconditionFailed

    with pytest.raises(PreconditionFailed) as caught:
        check_if_match('"2"', 3)
    assert caught.value.headers["ETag"] == '"3"'


@pytest.fixture
def probe_app(app: FastAPI, backend: Backend) -> FastAPI:
    """A user resource with conditional GET and PATCH, as every real route does them.

    `app.state.writers_meet`, when a test sets it, is a barrier every PATCH waits at once
    it has read the row and checked If-Match, before it writes."""
    app.state.writers_meet = None

    @app.get("/_probe/users/{user_id}")
    async def read(
        user_id: uuid.UUID, db: DbSession, if_none_match: IfNoneMatchHeader = None
    ) -> Any:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound()
        if if_none_match_hits(if_none_match, user.version):
            return not_modified(user.version)
        return Response(
            content=user.display_name or "",
            headers={"ETag": etag_for(user.version)},
        )

    @app.patch("/_probe/users/{user_id}")
    async def patch(
        user_id: uuid.UUID, body: dict[str, str], db: DbSession, if_match: IfMatchHeader = None
    ) -> Any:
        user = await db.scalar(select(User).where(User.id == user_id))
        if user is None:
            raise NotFound()
        check_if_match(if_match, user.version)
        meet: asyncio.Barrier | None = app.state.writers_meet
        if meet is not None:
            async with asyncio.timeout(10):
                await meet.wait()
        user.display_name = body["display_name"]
        await db.flush()
        return Response(headers={"ETag": etag_for(user.version)})

    assert "PATCH" not in SAFE_METHODS
    return app


async def test_get_with_current_etag_is_304_without_body(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_user(database)
    first = await client.get(f"/_probe/users/{user.id}")
    assert first.status_code == 200
    etag = first.headers["etag"]
    again = await client.get(f"/_probe/users/{user.id}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(f"/_probe/users/{user.id}", headers={"If-None-Match": '"999"'})
    assert other.status_code == 200


async def test_patch_with_stale_if_match_is_412_and_changes_nothing(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    user = await make_user(database, display_name="before")
    ok = await client.patch(
        f"/_probe/users/{user.id}", json={"display_name": "one"}, headers={"If-Match": '"1"'}
    )
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    stale = await client.patch(
        f"/_probe/users/{user.id}", json={"display_name": "two"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/_probe/users/{user.id}")).text == "one"


async def test_two_concurrent_patches_with_same_if_match_have_one_winner(
    probe_app: FastAPI, client: httpx.AsyncClient, database: Database, backend: Backend
) -> None:
    user = await make_user(database, display_name="before")
    if backend.is_postgres:
        # The race for certain: both writers have read version 1 before either writes.
        probe_app.state.writers_meet = asyncio.Barrier(2)
    # (On SQLite a write transaction takes the write lock at its first statement, BEGIN
    # IMMEDIATE: the second writer reads only once the first has committed, so its stale
    # If-Match is refused by the check, and a barrier there would wait forever.)
    answers = await asyncio.gather(
        *(
            client.patch(
                f"/_probe/users/{user.id}",
                json={"display_name": name},
                headers={"If-Match": '"1"'},
            )
            for name in ("left", "right")
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 412]
    async with database.read_sessionmaker() as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    assert stored.version == 2
    winner = next(a for a in answers if a.status_code == 200)
    assert winner.headers["etag"] == '"2"'
