"""Access tokens: short-lived JWTs, one pinned algorithm, keys chosen by `kid`."""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
import weakref
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
LEEWAY = 5
# Verified tokens remembered per key ring (see `_verified`): a client sends the same token
# for its whole lifetime, and checking its signature is most of an authenticated GET's
# CPU. Bounded; tokens longer than ours never take a slot.
VERIFIED_CACHE_SIZE = 4096
_MAX_CACHED_TOKEN = 1024


READ_SCOPE = "read"
WRITE_SCOPE = "write"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """Who a bearer is: a signed-in session's access token, or a personal access token
    (`scopes` set; its `session_id` is the token's own session, see `accounts.pats`)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    issued_at: dt.datetime
    expires_at: dt.datetime
    scopes: frozenset[str] | None = None

    @property
    def is_personal_token(self) -> bool:
        return self.scopes is not None

    @property
    def may_write(self) -> bool:
        return self.scopes is None or WRITE_SCOPE in self.scopes


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


# {key ring: {(token, issuer, audience): (claims, exp)}}. Keyed by the ring (by value: the
# same keys verify the same tokens), so a token checked under one ring never counts for
# another. Only successful verifications are stored, and a hit is re-checked for expiry,
# so the cache answers exactly what a fresh verification would until the token expires.
# Session revocation is not a property of the token: callers check it per request.
_verified: weakref.WeakKeyDictionary[KeyRing, dict[tuple[str, str, str], tuple[AccessClaims, int]]]
_verified = weakref.WeakKeyDictionary()


def decode_access_token(keyring: KeyRing, settings: Settings, token: str) -> AccessClaims:
    """Verify signature, algorithm, issuer, audience, lifetime and type; or raise 401."""
    cache = _verified.get(keyring)
    if cache is None:
        cache = _verified.setdefault(keyring, {})
    key = (token, settings.jwt_issuer, settings.jwt_audience)
    hit = cache.get(key)
    if hit is not None:
        claims, expires = hit
        if time.time() < expires + LEEWAY:  # PyJWT's own rule: expired once exp <= now - leeway
            return claims
        del cache[key]
        raise Unauthorized("The access token is invalid or has expired.")
    claims, expires = _verify(keyring, settings, token)
    if len(token) <= _MAX_CACHED_TOKEN:
        if len(cache) >= VERIFIED_CACHE_SIZE:
            del cache[next(iter(cache))]  # oldest first
        cache[key] = (claims, expires)
    return claims


def _verify(keyring: KeyRing, settings: Settings, token: str) -> tuple[AccessClaims, int]:
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
            leeway=LEEWAY,
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
    expires = int(claims["exp"])
    verified = AccessClaims(
        user_id=user_id,
        session_id=session_id,
        issued_at=dt.datetime.fromtimestamp(int(claims["iat"]), dt.UTC),
        expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
    )
    return verified, expires


def make_subject_reader(
    keyring: KeyRing, settings: Settings, *, maxsize: int = 4096
) -> Callable[[str], str | None]:
    """`token -> user id` for valid tokens (signature and lifetime), else None; no database.

    For keying the per-client rate limit: a forged token cannot pick whose budget it spends.
    Cached by token, since a client sends the same one for 15 minutes; the cache keeps the
    expiry too, so once expired (PyJWT's leeway rule, as in `decode_access_token`) a token
    no longer maps to its user and cannot keep spending that user's budget.
    """

    @functools.lru_cache(maxsize=maxsize)
    def cached(token: str) -> tuple[str, int] | None:
        try:
            claims = decode_access_token(keyring, settings, token)
        except Unauthorized:
            return None
        return str(claims.user_id), int(claims.expires_at.timestamp())

    def subject(token: str) -> str | None:
        # Our tokens are ~400 characters; oversized ones are not worth a cache slot.
        if len(token) > _MAX_CACHED_TOKEN:
            return None
        hit = cached(token)
        if hit is None:
            return None
        user_id, expires = hit
        return user_id if time.time() < expires + LEEWAY else None

    return subject
