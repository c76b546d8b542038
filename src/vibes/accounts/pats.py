"""Personal access tokens: `vibes_pat_` + 256 random bits, for scripts and the terminal.

A PAT is a session of kind `token` whose bearer is the PAT itself: its row in
`personal_access_tokens` shares the id of its `AuthSession`, so the one session-alive rule
(revocation through `sessions.revoke`, expiry, the Redis cache, the hot reads' folded
check) covers it unchanged, and revoking it bites at once. Only the token's SHA-256 is
stored (`common.digest`, the rule of refresh tokens and invites).

Presented as `Authorization: Bearer vibes_pat_...`, it is turned into `AccessClaims` with
its `scopes` set (`authenticate`, called by the one bearer dependency). Resolved tokens
are remembered per process (hash -> claims, bounded): what is cached never changes for a
token, and whether it is still alive is asked on every request by the session check.

`last_used_at` is written at most once per `pat_last_used_minutes` per token: each process
skips the write while its own last one is recent, and the write itself is conditional
(`WHERE last_used_at < now - interval`), so N processes still make one write per interval.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts import sessions
from vibes.accounts.common import Client, audit, digest
from vibes.accounts.models import TOKEN_KIND, AuthSession, PersonalAccessToken
from vibes.accounts.tokens import READ_SCOPE, WRITE_SCOPE, AccessClaims
from vibes.db import new_id, utcnow
from vibes.errors import NotFound, Unauthorized
from vibes.platform.runtime import Runtime

log = structlog.get_logger("vibes.pats")

TOKEN_PREFIX = "vibes_pat_"
SCOPES = (READ_SCOPE, WRITE_SCOPE)
# The session `expires_at` of a token without expiry (the column is required).
NO_EXPIRY = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
# A token is 10 + 43 characters; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 128
INVALID_TOKEN = "The access token is invalid or has expired."
CACHE_SIZE = 4096


def is_personal_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def scopes_of(stored: str) -> frozenset[str]:
    return frozenset(part for part in stored.split(",") if part)


def _stored_scopes(scopes: Sequence[str]) -> str:
    # `write` implies `read`: a token that may write may read what it wrote.
    wanted = set(scopes) | {READ_SCOPE}
    return ",".join(scope for scope in SCOPES if scope in wanted)


class TokenCache:
    """Per-process memory of resolved tokens and of recent `last_used_at` writes (a part
    of the runtime, see `vibes.runtime`)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._claims: OrderedDict[bytes, AccessClaims] = OrderedDict()
        self._touched: dict[uuid.UUID, float] = {}

    def get(self, token_hash: bytes) -> AccessClaims | None:
        claims = self._claims.get(token_hash)
        if claims is None:
            return None
        if claims.expires_at <= utcnow():
            del self._claims[token_hash]
            return None
        return claims

    def put(self, token_hash: bytes, claims: AccessClaims) -> None:
        if len(self._claims) >= self._size:
            self._claims.popitem(last=False)
        self._claims[token_hash] = claims

    def subject(self, token: str) -> str | None:
        """The user a known, unexpired token belongs to, for keying the general rate
        limit like a session's; None for a token this process has not resolved."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        claims = self.get(digest(token))
        return None if claims is None else str(claims.user_id)

    def due_for_touch(self, token_id: uuid.UUID, interval: float) -> bool:
        now = time.monotonic()
        last = self._touched.get(token_id)
        if last is not None and now - last < interval:
            return False
        if len(self._touched) >= self._size:
            self._touched.clear()
        self._touched[token_id] = now
        return True


def token_cache(runtime: Runtime) -> TokenCache:
    return runtime.part(TokenCache)


def subject_reader(
    jwt_subject: Callable[[str], str | None], runtime: Callable[[], Runtime | None]
) -> Callable[[str], str | None]:
    """The general rate limit's `token -> user id`, for both kinds of bearer: a PAT
    spends its user's budget like a session does, once this process has resolved it
    (until then, and for a made-up one, the client address's)."""

    def subject(token: str) -> str | None:
        if is_personal_token(token):
            current = runtime()
            return None if current is None else token_cache(current).subject(token)
        return jwt_subject(token)

    return subject


async def authenticate(runtime: Runtime, token: str) -> AccessClaims:
    """The claims of a live personal access token, or 401. Whether its session is still
    alive is checked again by the caller's session check, on every request."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthorized(INVALID_TOKEN)
    cache = token_cache(runtime)
    token_hash = digest(token)
    claims = cache.get(token_hash)
    if claims is None:
        claims = await _lookup(runtime, token_hash)
        if claims is None:
            raise Unauthorized(INVALID_TOKEN)
        cache.put(token_hash, claims)
    await touch(runtime, claims.session_id)
    return claims


async def _lookup(runtime: Runtime, token_hash: bytes) -> AccessClaims | None:
    now = utcnow()
    async with runtime.database.read_sessionmaker() as db:
        row = (
            await db.execute(
                select(PersonalAccessToken, AuthSession.expires_at)
                .join(AuthSession, AuthSession.id == PersonalAccessToken.id)
                .where(
                    PersonalAccessToken.token_hash == token_hash,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > now,
                )
            )
        ).first()
    if row is None:
        return None
    stored, expires_at = row
    return AccessClaims(
        user_id=stored.user_id,
        session_id=stored.id,
        issued_at=stored.created_at,
        expires_at=expires_at,
        scopes=scopes_of(stored.scopes),
    )


async def touch(runtime: Runtime, token_id: uuid.UUID) -> None:
    """Record the token's use, coalesced (see the module docstring). Best effort: a
    failed write never fails the request it was made for."""
    minutes = runtime.settings.pat_last_used_minutes
    if not token_cache(runtime).due_for_touch(token_id, minutes * 60):
        return
    now = utcnow()
    try:
        async with runtime.database.session_scope() as db:
            await db.execute(
                update(PersonalAccessToken)
                .where(
                    PersonalAccessToken.id == token_id,
                    or_(
                        PersonalAccessToken.last_used_at.is_(None),
                        PersonalAccessToken.last_used_at <= now - dt.timedelta(minutes=minutes),
                    ),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError as exc:
        log.warning("could not record a token's last use", error=type(exc).__name__)


# --- managing tokens (only a signed-in session may; see `dependencies.SessionOnly`) ----


async def create_token(
    db: AsyncSession,
    *,
    user_id: uuid.UUID,
    name: str,
    scopes: Sequence[str],
    expires_in_days: int | None,
    client: Client,
) -> tuple[PersonalAccessToken, str]:
    """A new token and its value, shown once: only its hash is stored."""
    now = utcnow()
    expires_at = None if expires_in_days is None else now + dt.timedelta(days=expires_in_days)
    auth_session = AuthSession(
        id=new_id(),
        user_id=user_id,
        kind=TOKEN_KIND,
        device_name=name,
        user_agent=client.user_agent[:512] if client.user_agent else None,
        ip_address=client.ip[:64] if client.ip else None,
        last_used_at=now,
        expires_at=expires_at or NO_EXPIRY,
    )
    db.add(auth_session)
    await db.flush()
    token = new_token()
    row = PersonalAccessToken(
        id=auth_session.id,
        user_id=user_id,
        name=name,
        scopes=_stored_scopes(scopes),
        token_hash=digest(token),
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    audit(db, client, "auth.pat.created", user_id, pat_id=str(row.id), scopes=row.scopes)
    return row, token


async def list_tokens(db: AsyncSession, user_id: uuid.UUID) -> list[PersonalAccessToken]:
    """The user's live tokens, newest first."""
    result = await db.scalars(
        select(PersonalAccessToken)
        .join(AuthSession, AuthSession.id == PersonalAccessToken.id)
        .where(
            PersonalAccessToken.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(PersonalAccessToken.created_at.desc(), PersonalAccessToken.id.desc())
    )
    return list(result)


async def revoke_token(
    db: AsyncSession, ctx: Runtime, *, user_id: uuid.UUID, token_id: uuid.UUID, client: Client
) -> None:
    """Revoke at once (its session's tombstone reaches every process's next check)."""
    revoked = await sessions.revoke(
        ctx,
        db,
        (AuthSession.id == token_id)
        & (AuthSession.user_id == user_id)
        & (AuthSession.kind == TOKEN_KIND),
        reason="token_revoked",
    )
    if not revoked:
        raise NotFound()
    audit(db, client, "auth.pat.revoked", user_id, pat_id=str(token_id))
