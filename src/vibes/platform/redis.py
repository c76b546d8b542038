"""The shared Redis client, when one is configured (features fall back to memory if not)."""

from __future__ import annotations

from redis.asyncio import Redis

from vibes.config import Settings


def make_redis(settings: Settings) -> Redis | None:
    if not settings.redis_url:
        return None
    return Redis.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)


def key(settings: Settings, *parts: str) -> str:
    """A Redis key under this deployment's prefix."""
    return settings.redis_prefix + ":".join(parts)
