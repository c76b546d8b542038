"""The shared Redis client, when one is configured (features fall back to memory if not).

Redis is an accelerator here, never the source of truth: every feature that uses it has an
in-process fallback for when it is down (rate limits count in this process, caches miss,
unlock grants stay in this process, live streams read the outbox). So the client fails
fast, with no retry loop and short timeouts: during an outage a request pays a refused
connection, not seconds of back-off.
"""

from __future__ import annotations

import time

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from vibes.config import Settings

log = structlog.get_logger("vibes.platform.redis")

CONNECT_TIMEOUT_SECONDS = 0.5
COMMAND_TIMEOUT_SECONDS = 1.0


def make_redis(settings: Settings, *, listening: bool = False) -> Redis | None:
    """The client for commands; `listening=True` gives one for a pub/sub subscription,
    which waits for messages indefinitely (no read timeout) and is checked by pings."""
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url,
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=None if listening else COMMAND_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )


def key(settings: Settings, *parts: str) -> str:
    """A Redis key under this deployment's prefix."""
    return settings.redis_prefix + ":".join(parts)


class Outage:
    """Says once that a Redis-backed feature fell back to memory, and once that it is
    back, instead of a log line per request for the length of an outage."""

    def __init__(self, feature: str) -> None:
        self.feature = feature
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("redis_unavailable", feature=self.feature, error=type(exc).__name__)

    def recovered(self) -> None:
        if self.since is not None:
            log.info(
                "redis_recovered",
                feature=self.feature,
                after_seconds=round(time.monotonic() - self.since, 1),
            )
            self.since = None

    @property
    def active(self) -> bool:
        return self.since is not None
