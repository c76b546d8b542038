"""Redis unreachable: the features it speeds up fall back to this process, never open."""

from __future__ import annotations

import secrets
import uuid

import httpx
import pytest

from tests.conftest import REDIS_URL, MakeClient
from tests.events.servers import free_port
from tests.factories import DEFAULT_PASSWORD, make_user
from vibes.config import Settings
from vibes.errors import ServiceUnavailable, TooManyRequests
from vibes.platform.ratelimit import RateLimiter, Rule
from vibes.platform.redis import make_redis
from vibes.platform.runtime import app_runtime
from vibes.vault.unlock import UnlockStore


def _dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def _settings(redis_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url=redis_url, redis_prefix=f"vibes-test:{uuid.uuid4().hex}:"
    )


async def test_tight_limits_count_in_this_process_while_redis_is_down() -> None:
    settings = _settings(_dead_redis_url())
    redis = make_redis(settings)
    limiter = RateLimiter.from_settings(settings, key=b"k" * 32, redis=redis)
    rule = Rule.of("login-account", "3/minute")
    try:
        for _ in range(3):
            await limiter.hit(rule, "someone@example.com")
        with pytest.raises(TooManyRequests) as refused:
            await limiter.hit(rule, "someone@example.com")
        assert int(refused.value.headers["Retry-After"]) >= 1
        await limiter.check(Rule.of("other", "3/minute"), "someone@example.com")
        assert await limiter.incr_counter("general/x/1", 60) == 1
        assert await limiter.incr_counter("general/x/1", 60) == 2
    finally:
        assert redis is not None
        await redis.aclose()


def _grant_args() -> dict[str, object]:
    return {
        "user_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "tag_id": uuid.uuid4(),
        "data_key": secrets.token_bytes(32),
        "generation": secrets.token_bytes(16),
    }


async def test_unlocks_made_while_redis_is_down_live_in_this_process_and_lock() -> None:
    settings = _settings(_dead_redis_url())
    redis = make_redis(settings)
    store = UnlockStore(settings, b"c" * 32, redis)
    args = _grant_args()
    try:
        token, _ = await store.grant(**args)  # type: ignore[arg-type]
        [grant] = await store.lookup([token])
        assert grant.tag_id == args["tag_id"]
        ended = await store.revoke(
            [token],
            user_id=args["user_id"],  # type: ignore[arg-type]
            session_id=args["session_id"],  # type: ignore[arg-type]
        )
        assert ended == 1
        assert await store.lookup([token]) == []
    finally:
        assert redis is not None
        await redis.aclose()


@pytest.mark.skipif(REDIS_URL is None, reason="needs Redis (set VIBES_TEST_REDIS_URL)")
async def test_an_unlock_kept_in_redis_stays_locked_and_cannot_be_reported_locked_while_down() -> (
    None
):
    assert REDIS_URL is not None
    settings = _settings(REDIS_URL)
    live, dead = make_redis(settings), make_redis(_settings(_dead_redis_url()))
    assert live is not None
    assert dead is not None
    store = UnlockStore(settings, b"c" * 32, live)
    args = _grant_args()
    try:
        token, _ = await store.grant(**args)  # type: ignore[arg-type]
        assert len(await store.lookup([token])) == 1
        store._redis = dead  # Redis goes away
        # Fails closed: the grant cannot be read, so the vault reads as locked...
        assert await store.lookup([token]) == []
        # ...and locking it is refused rather than reported done while it lives on.
        with pytest.raises(ServiceUnavailable):
            await store.revoke(
                [token],
                user_id=args["user_id"],  # type: ignore[arg-type]
                session_id=args["session_id"],  # type: ignore[arg-type]
            )
        store._redis = live  # back
        assert len(await store.lookup([token])) == 1
    finally:
        await live.delete(*[k async for k in live.scan_iter(match=settings.redis_prefix + "*")])
        await live.aclose()
        await dead.aclose()


async def test_an_app_whose_redis_is_down_from_the_start_serves_and_says_so(
    make_client: MakeClient,
) -> None:
    async with make_client(redis_url=_dead_redis_url(), rate_limit_login_account="3/minute") as c:
        ready = await c.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "degraded",
            "checks": {"database": "ok", "redis": "down", "event_relay": "polling"},
        }
        runtime = app_runtime(c._transport.app)  # type: ignore[attr-defined]
        user = await make_user(runtime.database)
        good = {"email": user.email, "password": DEFAULT_PASSWORD}
        login = await c.post("/api/v1/auth/login", json=good)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await c.post(
            "/api/v1/journals", json={"title": "t", "content": "c"}, headers=headers
        )
        assert created.status_code == 201
        assert (await c.get("/api/v1/journals", headers=headers)).status_code == 200
        bad = {"email": user.email, "password": "wrong wrong wrong wrong"}
        codes = [(await c.post("/api/v1/auth/login", json=bad)).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        assert isinstance(c, httpx.AsyncClient)


@pytest.mark.skipif(REDIS_URL is None, reason="needs Redis (set VIBES_TEST_REDIS_URL)")
async def test_a_write_during_an_outage_makes_earlier_cached_values_stale_once_redis_is_back() -> (
    None
):
    from vibes.platform.usercache import UserCache

    assert REDIS_URL is not None
    settings = _settings(REDIS_URL)
    live, dead = make_redis(settings), make_redis(_settings(_dead_redis_url()))
    assert live is not None
    assert dead is not None
    cache = UserCache(settings, live)
    user = uuid.uuid4()
    try:
        _, generation = await cache.get(user, "dashboard")
        await cache.put(user, "dashboard", generation, b"before the write", 3600)
        assert (await cache.get(user, "dashboard"))[0] == b"before the write"
        cache._redis = dead
        await cache.bump([user])  # the write commits while Redis is down
        assert (await cache.get(user, "dashboard"))[0] is None
        cache._redis = live
        assert (await cache.get(user, "dashboard"))[0] is None
    finally:
        await live.delete(*[k async for k in live.scan_iter(match=settings.redis_prefix + "*")])
        await live.aclose()
        await dead.aclose()
