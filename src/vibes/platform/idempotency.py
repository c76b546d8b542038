"""`Idempotency-Key` on POST: the same key and body within 24 hours replays the first answer.

How it works (one mechanism on both databases, no polling):

1. The key is *claimed* by inserting its `idempotency_keys` row (unique on `(user_id, key)`,
   `INSERT … ON CONFLICT DO NOTHING`) **inside the request's own transaction**, before the
   handler runs.
2. The handler runs; its answer (status, body and the `Content-Type`/`Location`/`ETag`
   headers) is written into that row, still in the same transaction. The write and the
   recorded answer therefore commit together or not at all.
3. A concurrent duplicate blocks on the claim until the first request finishes: on
   PostgreSQL the unique-index insert waits for the in-flight transaction that holds the
   conflicting row; on SQLite writers are serialised by `BEGIN IMMEDIATE`. If the first
   committed, the duplicate finds the finished row and replays it; if it failed, the row
   vanished with its rollback and the duplicate simply runs. Ten concurrent identical
   requests thus act exactly once and all get the same answer.

Decisions:
- A first attempt that *fails* (raises: validation, a domain 4xx, a 5xx) records nothing:
  its rollback removes the claim, so the key is not poisoned and the client may retry
  with the same key. Only answers the handler actually returned are replayed.
- The fingerprint is SHA-256 over method, path, query and the body's canonical JSON (key
  order and whitespace do not matter). The same key with another fingerprint → 422.
- Keys are per user and live 24 hours; an expired key is replaced on next use, and
  `purge_expired` deletes old rows (for a periodic job).
- A replayed answer carries `Idempotent-Replayed: true`.

Usage in a router::

    @router.post("/things", status_code=201)
    async def create(request: Request, db: DbSession, principal: CurrentPrincipal,
                     body: ThingCreate, idempotency_key: IdempotencyKeyHeader = None):
        async def produce() -> Response:
            thing = await service.create(db, principal.user_id, body)
            return JSONResponse(..., status_code=201)
        return await idempotent(db, user_id=principal.user_id, key=idempotency_key,
                                request=request, produce=produce)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import Header, Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import new_id, note_writer, utcnow
from vibes.errors import Conflict, Unprocessable
from vibes.platform.models import IdempotencyKey

TTL = dt.timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"
# The headers that belong to the answer itself (not per-delivery ones like X-Request-ID).
STORED_HEADERS = ("content-type", "location", "etag")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is ideal). The same key and body within "
        "24 hours replays the first answer; the same key with another body is a 422.",
    ),
]


def fingerprint(method: str, path: str, query: str, body: bytes) -> bytes:
    """SHA-256 of the request, with a JSON body canonicalised (key order, whitespace)."""
    canonical = body
    if body:
        try:
            canonical = json.dumps(
                json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        except (ValueError, UnicodeDecodeError):
            canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        digest.update(part)
        digest.update(b"\n")
    digest.update(canonical)
    return digest.digest()


def _insert_for(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class KeyReused(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request.",
            errors=[
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "key reused with a different request",
                    "type": "idempotency_key_reused",
                }
            ],
        )


async def claim(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str,
    method: str,
    path: str,
    request_hash: bytes,
) -> uuid.UUID | IdempotencyKey:
    """Claim `key` in the session's transaction.

    Returns the new row's id when this request owns the key, or the finished row of an
    earlier request with the same fingerprint (to replay). Raises `KeyReused` (422) for a
    different fingerprint.
    """
    now = utcnow()
    insert = _insert_for(session)
    for _ in range(2):
        claim_id = new_id()
        stmt = (
            insert(IdempotencyKey)
            .values(
                id=claim_id,
                user_id=user_id,
                key=key,
                method=method.upper()[:8],
                path=path[:2048],
                request_hash=request_hash,
                expires_at=now + TTL,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(IdempotencyKey.id)
        )
        if await session.scalar(stmt) is not None:
            return claim_id
        existing = await session.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        if existing is None:
            continue  # deleted between our insert and select: try again
        if existing.expires_at <= now:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
            continue
        if existing.request_hash != request_hash:
            raise KeyReused()
        if existing.status_code is None:
            # Not reachable with claims made in the request's transaction; kept for safety.
            raise Conflict("A request with this Idempotency-Key is still in progress.")
        return existing
    raise Conflict("A request with this Idempotency-Key is still in progress.")


class AnswerKeeping(Protocol):
    """How a request's fingerprint and answer are kept in its `idempotency_keys` row.

    The default keeps them as they are; the vault keys the fingerprint and seals the
    answer of a secret write under its tag's data key (`vault.idempotency`)."""

    def request_hash(self, fingerprint: bytes) -> bytes: ...

    def seal(self, body: bytes, claim_id: uuid.UUID) -> bytes: ...

    def open(self, stored: bytes, claim_id: uuid.UUID) -> bytes: ...


class PlainKeeping:
    def request_hash(self, fingerprint: bytes) -> bytes:
        return fingerprint

    def seal(self, body: bytes, claim_id: uuid.UUID) -> bytes:
        return body

    def open(self, stored: bytes, claim_id: uuid.UUID) -> bytes:
        return stored


PLAIN = PlainKeeping()


async def record(
    session: AsyncSession, claim_id: uuid.UUID, response: Response, body: bytes
) -> None:
    """Store the answer (`body` as kept) in the claimed row, in the same transaction as
    the write it answers."""
    headers = {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(
            status_code=response.status_code,
            response_body=body,
            response_headers=headers,
            updated_at=utcnow(),
        )
    )


def replay(row: IdempotencyKey, body: bytes) -> Response:
    """The first answer again, as a new response (the row itself is never touched: it
    belongs to the write session, which would store anything changed on it)."""
    headers = dict(row.response_headers or {})
    headers[REPLAYED_HEADER] = "true"
    return Response(content=body, status_code=row.status_code or 200, headers=headers)


async def idempotent(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str | None,
    request: Request,
    produce: Callable[[], Awaitable[Response]],
    keeping: AnswerKeeping = PLAIN,
) -> Response:
    """Run `produce` at most once per (user, key); replay its answer to duplicates.

    Without a key, just `produce()`. `session` must be the request's write session (the
    one `get_session` commits after the endpoint returns).
    """
    if key is None:
        return await produce()
    request_hash = keeping.request_hash(
        fingerprint(request.method, request.url.path, request.url.query, await request.body())
    )
    claimed = await claim(
        session,
        user_id=user_id,
        key=key,
        method=request.method,
        path=request.url.path,
        request_hash=request_hash,
    )
    if isinstance(claimed, IdempotencyKey):
        # The first attempt's commit may have happened in a process that died before it
        # could note the write: its user reads from the primary again (read-your-writes).
        note_writer(session, user_id)
        return replay(claimed, keeping.open(claimed.response_body or b"", claimed.id))
    response = await produce()
    await record(session, claimed, response, keeping.seal(bytes(response.body), claimed))
    return response


async def purge_expired(session: AsyncSession, now: dt.datetime | None = None) -> int:
    """Delete keys past their 24 hours; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)
