"""The create floor: FastAPI and asyncpg alone, writing exactly the rows `POST /journals`
writes for an entry with two existing tags, in one transaction, with the same statements
(read off PostgreSQL's statement log of a real create):

    the session check; INSERT journals; SELECT the tags by key; INSERT two journal_tags;
    INSERT the `journal.created` outbox row; bump the sync counter; INSERT three change
    rows (the entry and its two tags); COMMIT.

What it leaves out, so that it stays a floor: the bearer token (the user and session ids
come in plain headers, no signature is checked), validation beyond parsing the JSON, the
vault, idempotency keys, rate limits, metrics, logging and the answer's full rendering.
Served by uvicorn with the same defaults as `vibes serve`; the database comes from
`BARE_CREATE_DSN` (a plain `postgresql://` DSN), its pool holds 4 connections (as the
benchmarks' `VIBES_DATABASE_POOL_SIZE`).
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response

SESSION = (
    "SELECT expires_at FROM auth_sessions WHERE id = $1 AND user_id = $2 "
    "AND revoked_at IS NULL AND expires_at > $3"
)
INSERT_JOURNAL = (
    "INSERT INTO journals (user_id, title, content, entry_date, mood_rating, word_count, "
    "secret_tag_id, ciphertext, nonce, id, created_at, updated_at, version) "
    "VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7, $4, $4, 1)"
)
TAGS = "SELECT name_key, id, name, version FROM tags WHERE user_id = $1 AND name_key = ANY($2)"
INSERT_LINK = (
    "INSERT INTO journal_tags (journal_id, tag_id, user_id, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $4)"
)
INSERT_OUTBOX = (
    "INSERT INTO outbox_events (user_id, type, data, dedupe_key, attempts, id, created_at, "
    "updated_at) VALUES ($1, 'journal.created', $2::jsonb, NULL, 0, $3, $4, $4)"
)
BUMP = (
    "INSERT INTO sync_counters (user_id, position, horizon) VALUES ($1, $2, 0) "
    "ON CONFLICT (user_id) DO UPDATE SET position = sync_counters.position + $2 "
    "RETURNING position"
)
INSERT_CHANGE = (
    "INSERT INTO changes (user_id, position, kind, entity_id, op, version, secret_tag_id, "
    "previous_secret_tag_id, id, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, 'upsert', $5, NULL, NULL, $6, $7, $7)"
)

pool: asyncpg.Pool | None = None


def uuid7() -> uuid.UUID:
    """Time-ordered like the server's ids (a random v4 would scatter the index pages)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(secrets.token_bytes(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return uuid.UUID(int=value)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(os.environ["BARE_CREATE_DSN"], min_size=4, max_size=4)
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/bare/create")
async def create(request: Request) -> Response:
    body = orjson.loads(await request.body())
    user = uuid.UUID(request.headers["x-user"])
    session = uuid.UUID(request.headers["x-session"])
    now = datetime.now(UTC)
    entry = uuid7()
    content: str = body["content"]
    assert pool is not None
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(SESSION, session, user, now) is None:
            return Response(status_code=401)
        await conn.execute(
            INSERT_JOURNAL,
            user,
            body["title"],
            content,
            now,
            body.get("mood_rating"),
            len(content.split()),
            entry,
        )
        tags = await conn.fetch(TAGS, user, [name.lower() for name in body["tags"]])
        await conn.executemany(INSERT_LINK, [(entry, tag["id"], user, now) for tag in tags])
        payload = orjson.dumps({"id": str(entry), "version": 1}).decode()
        await conn.execute(INSERT_OUTBOX, user, payload, uuid7(), now)
        position = await conn.fetchval(BUMP, user, len(tags) + 1)
        changes = [("tag", tag["id"], tag["version"]) for tag in tags] + [("journal", entry, 1)]
        first = position - len(changes) + 1
        await conn.executemany(
            INSERT_CHANGE,
            [
                (user, first + i, kind, entity, version, uuid7(), now)
                for i, (kind, entity, version) in enumerate(changes)
            ],
        )
    answer = {
        "id": str(entry),
        "title": body["title"],
        "content": content,
        "tags": [tag["name"] for tag in tags],
        "mood_rating": body.get("mood_rating"),
        "created_at": now.isoformat(),
        "version": 1,
    }
    return Response(orjson.dumps(answer), status_code=201, media_type="application/json")
