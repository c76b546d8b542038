"""Access tokens: short-lived JWTs, one pinned algorithm, keys chosen by `kid`."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from vibes.config import Settings
from vibes.db import utcnow
from vibes.errors import Unauthorized
from vibes.platform.keys import KeyRing

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "sid", "typ"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    issued_at: dt.datetime
    expires_at: dt.datetime


def issue_access_token(
    keyring: KeyRing, settings: Settings, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    now = utcnow()
    lifetime = settings.access_token_minutes * 60
    key = keyring.current
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": ACCESS_TYPE,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, lifetime


def decode_access_token(keyring: KeyRing, settings: Settings, token: str) -> AccessClaims:
    """Verify signature, algorithm, issuer, audience, lifetime and type; or raise 401."""
    invalid = Unauthorized("The access token is invalid or has expired.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise invalid from None
    kid = header.get("kid")
    key = keyring.get(kid) if isinstance(kid, str) else None
    if key is None or header.get("alg") != ALGORITHM:
        raise invalid
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=5,
        )
    except jwt.PyJWTError:
        raise invalid from None
    if claims.get("typ") != ACCESS_TYPE:
        raise invalid
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        session_id = uuid.UUID(str(claims["sid"]))
    except ValueError:
        raise invalid from None
    return AccessClaims(
        user_id=user_id,
        session_id=session_id,
        issued_at=dt.datetime.fromtimestamp(int(claims["iat"]), dt.UTC),
        expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
    )


def make_subject_reader(
    keyring: KeyRing, settings: Settings, *, maxsize: int = 4096
) -> Callable[[str], str | None]:
    """`token -> user id` for tokens with a valid signature, else None; no database.

    For keying the per-client rate limit: a forged token cannot pick whose budget it spends.
    Cached by token, since a client sends the same one for 15 minutes; an expired token
    still maps to its user, which only matters for counting (the route itself says 401).
    """

    @functools.lru_cache(maxsize=maxsize)
    def cached(token: str) -> str | None:
        try:
            return str(decode_access_token(keyring, settings, token).user_id)
        except Unauthorized:
            return None

    def subject(token: str) -> str | None:
        # Our tokens are ~400 characters; oversized ones are not worth a cache slot.
        return cached(token) if len(token) <= 1024 else None

    return subject
