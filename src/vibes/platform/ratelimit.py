"""Rate limits with the `limits` library: Redis storage when configured, memory otherwise.

Two pieces:
- `RateLimiter`: tight, named rules (password attempts, secret-phrase unlocks...) checked
  by services per account and per client address. Moving window, so a burst cannot be
  split across a window boundary. Over the limit -> `TooManyRequests` (429 + Retry-After).
  It only ever delays: the window rolls on, nothing is ever locked for good.
- `RateLimitMiddleware`: the generous per-client limit on every request, pure ASGI and one
  storage round trip, which stamps `X-RateLimit-*` on every answer.

Identifiers (emails, user ids, addresses) are replaced by a keyed hash before they reach
the storage, so Redis never holds personal data.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibes.config import Settings
from vibes.errors import TooManyRequests, problem
from vibes.platform.redis import Outage

log = structlog.get_logger("vibes.ratelimit")


@dataclass(frozen=True, slots=True)
class Rule:
    """A named limit, e.g. `Rule("login-account", "10/15 minutes")`."""

    name: str
    limit: RateLimitItem

    @classmethod
    def of(cls, name: str, spec: str) -> Rule:
        return cls(name, parse(spec))


def make_storage(settings: Settings, redis: Redis | None) -> Storage:
    """Redis storage sharing the app's connection pool, or process memory."""
    if redis is not None and settings.redis_url:
        return RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix=settings.redis_prefix + "limits",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
    return MemoryStorage()


class RateLimiter:
    """Named per-identifier limits. Disabled limiters let everything through."""

    def __init__(
        self,
        storage: Storage,
        *,
        key: bytes,
        enabled: bool = True,
        counter_storage: Storage | None = None,
    ) -> None:
        self.storage = storage
        # The general limit's counters. In memory they get their own store: the memory
        # store sweeps all its keys on a timer, and the moving-window entries of the tight
        # rules (kept up to an hour) would make that sweep costly on every request.
        self.counter_storage = counter_storage or storage
        self.enabled = enabled
        self._key = key
        self._moving = MovingWindowRateLimiter(storage)
        # When the shared store (Redis) is down, limits are counted in this process: each
        # process then allows its own budget, weaker but never open (these rules guard
        # passwords), and nothing fails. Back to the shared store once it answers.
        shared = not isinstance(storage, MemoryStorage)
        self._local = MovingWindowRateLimiter(MemoryStorage()) if shared else None
        self._local_counters = MemoryStorage() if shared else None
        self._outage = Outage("rate limits")

    @classmethod
    def from_settings(cls, settings: Settings, *, key: bytes, redis: Redis | None) -> RateLimiter:
        storage = make_storage(settings, redis)
        counters = storage if isinstance(storage, RedisStorage) else MemoryStorage()
        return cls(storage, key=key, enabled=settings.rate_limits_enabled, counter_storage=counters)

    def identifier(self, value: str) -> str:
        """A keyed hash of an identifier: stable, not reversible, no personal data."""
        return hashlib.blake2b(value.encode(), key=self._key, digest_size=16).hexdigest()

    async def hit(self, rule: Rule, value: str | None) -> None:
        """Count one attempt; raise `TooManyRequests` when it is over the limit."""
        if not self.enabled or value is None:
            return
        ident = self.identifier(value)
        strategy, allowed = await self._attempt("hit", rule, ident)
        if not allowed:
            raise await self._too_many(strategy, rule, ident)

    async def check(self, rule: Rule, value: str | None) -> None:
        """Raise `TooManyRequests` when the budget is spent, counting nothing (for budgets
        of failures, counted with `hit` once an attempt has failed)."""
        if not self.enabled or value is None:
            return
        ident = self.identifier(value)
        strategy, allowed = await self._attempt("test", rule, ident)
        if not allowed:
            raise await self._too_many(strategy, rule, ident)

    async def reset(self, rule: Rule, value: str) -> None:
        ident = self.identifier(value)
        if self._local is not None:
            await self._local.clear(rule.limit, rule.name, ident)
        try:
            await self._moving.clear(rule.limit, rule.name, ident)
        except Exception as exc:
            self._outage.failed(exc)

    async def incr_counter(self, key: str, expiry: int) -> int:
        """The general limit's fixed-window counter, in this process while Redis is down."""
        try:
            count = await self.counter_storage.incr(key, expiry)
        except Exception as exc:
            if self._local_counters is None:
                raise
            self._outage.failed(exc)
            return await self._local_counters.incr(key, expiry)
        self._outage.recovered()
        return count

    async def _attempt(
        self, action: str, rule: Rule, ident: str
    ) -> tuple[MovingWindowRateLimiter, bool]:
        try:
            allowed = await getattr(self._moving, action)(rule.limit, rule.name, ident)
        except Exception as exc:
            if self._local is None:
                raise
            self._outage.failed(exc)
            return self._local, await getattr(self._local, action)(rule.limit, rule.name, ident)
        self._outage.recovered()
        return self._moving, bool(allowed)

    @staticmethod
    async def _too_many(
        strategy: MovingWindowRateLimiter, rule: Rule, ident: str
    ) -> TooManyRequests:
        """A 429 whose `X-RateLimit-*` describe the rule that was hit, not the general one."""
        try:
            reset_at, _ = await strategy.get_window_stats(rule.limit, rule.name, ident)
        except Exception:
            reset_at = time.time() + rule.limit.get_expiry()
        error = TooManyRequests(max(1, math.ceil(reset_at - time.time())))
        error.headers.update(
            {
                "X-RateLimit-Limit": str(rule.limit.amount),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(reset_at)),
            }
        )
        return error


def client_address(scope: Scope) -> str:
    """The peer address (uvicorn's --proxy-headers puts the real client here)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


_AUTHORIZATION = b"authorization"
_BEARER = b"bearer "


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            if value[:7].lower() == _BEARER:
                return value[7:].strip().decode("latin-1") or None
            return None
    return None


class RateLimitMiddleware:
    """The general per-client limit, with `X-RateLimit-*` headers on every answer.

    A clock-aligned fixed window counted with one atomic increment in the limiter's
    storage (one Redis round trip, or none in memory). Keyed by the access token's user
    when the token's signature checks out (no database), else by the client address, so a
    forged `sub` cannot spend someone else's budget. `X-RateLimit-Reset` is the Unix time
    (seconds) at which the window resets.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: str,
        identify: Callable[[str], str | None],
        limiter: Callable[[], RateLimiter | None],
    ) -> None:
        self.app = app
        self.item = parse(limit)
        self.identify = identify
        self.limiter = limiter
        self.window = self.item.get_expiry()
        self.amount = self.item.amount
        self.limit_header = str(self.amount).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self.limiter()
        if limiter is None or not limiter.enabled:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        subject = self.identify(token) if token else None
        who = f"u:{subject}" if subject else f"a:{client_address(scope)}"
        now = time.time()
        window = int(now // self.window)
        reset_at = (window + 1) * self.window
        key = f"general/{limiter.identifier(who)}/{window}"
        try:
            count = await limiter.incr_counter(key, self.window + 1)
        except Exception:
            # Fail open: this limit protects capacity, not credentials.
            log.warning("rate limit storage failed; request let through")
            await self.app(scope, receive, send)
            return
        headers = [
            (b"x-ratelimit-limit", self.limit_header),
            (b"x-ratelimit-remaining", str(max(0, self.amount - count)).encode()),
            (b"x-ratelimit-reset", str(reset_at).encode()),
        ]
        if count > self.amount:
            retry_after = max(1, math.ceil(reset_at - now))
            response = problem(
                429,
                title="Too many requests",
                detail="Too many requests. Try again later.",
                type_suffix="rate-limited",
                headers={"Retry-After": str(retry_after)},
            )
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = message.get("headers", ())
                # A tight limit's 429 already describes the limit that was hit.
                if not any(name == b"x-ratelimit-limit" for name, _ in existing):
                    message["headers"] = [*existing, *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
