"""create_app(settings): routers, middleware, lifespan. Nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import vibes.models  # noqa: F401 - every table registered before the first flush resolves FKs
from vibes import __version__
from vibes.accounts.cookies import router as web_auth_router
from vibes.accounts.router import router as accounts_router
from vibes.accounts.tokens import make_subject_reader
from vibes.config import Settings
from vibes.db import Database
from vibes.errors import UnhandledErrorMiddleware, install_error_handlers
from vibes.events.broker import make_broker
from vibes.events.dispatcher import Dispatcher
from vibes.events.router import router as events_router
from vibes.journals import hot as journals_hot
from vibes.journals.router import router as journals_router
from vibes.platform import health, metrics
from vibes.platform.bodylimit import BodyLimitMiddleware
from vibes.platform.hotroutes import HotRoutesMiddleware
from vibes.platform.keys import load_keyring
from vibes.platform.memory import freeze_startup_objects
from vibes.platform.middleware import RequestContextMiddleware
from vibes.platform.openapi import install_problem_openapi
from vibes.platform.ratelimit import RateLimiter, RateLimitMiddleware, limiter_of
from vibes.platform.redis import make_redis
from vibes.platform.security import SecurityHeadersMiddleware, install_cors
from vibes.reminders.router import router as reminders_router
from vibes.search import hot as search_hot
from vibes.search.router import router as search_router
from vibes.tags.router import router as tags_router
from vibes.vault.router import router as vault_router
from vibes.web.serve import install_web

API_PREFIX = "/api/v1"
# Request body caps (bytes), checked before a body is read whole. An entry's content is up
# to 1 MiB of UTF-8, which JSON escaping can roughly double; a batch carries many entries.
MAX_BODY = 2 * 1024 * 1024
BODY_LIMITS = {f"{API_PREFIX}/journals/batch": 32 * 1024 * 1024}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database(settings)
        app.state.redis = make_redis(settings)
        app.state.ratelimiter = RateLimiter.from_settings(
            settings, key=app.state.keyring.derive("rate-limits"), redis=app.state.redis
        )
        app.state.broker = make_broker(settings, app.state.redis)
        await app.state.broker.start()
        app.state.dispatcher = None
        dispatcher_stop = asyncio.Event()
        dispatcher_task = None
        if settings.dispatcher_in_process:
            # The embedded default: this process also fires reminders and delivers events.
            app.state.dispatcher = Dispatcher(app.state.database, settings, app.state.broker)
            dispatcher_task = asyncio.create_task(
                app.state.dispatcher.run(dispatcher_stop), name="vibes-dispatcher"
            )
        freeze_startup_objects()
        try:
            yield
        finally:
            # Graceful shutdown: uvicorn has stopped taking requests and drained the open
            # ones; the dispatcher finishes its step in flight; then connections go.
            if dispatcher_task is not None:
                dispatcher_stop.set()
                await dispatcher_task
            await app.state.broker.stop()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            await app.state.database.dispose()

    app = FastAPI(
        title="Vibes",
        version=__version__,
        description="A personal journal with reminders. See API.md for the contract.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keyring = load_keyring(settings)

    install_error_handlers(app)
    app.add_middleware(
        HotRoutesMiddleware,
        routes=[*journals_hot.hot_routes(API_PREFIX), *search_hot.hot_routes(API_PREFIX)],
    )
    app.add_middleware(UnhandledErrorMiddleware)
    # Added inner to outer: hot routes, unhandled errors, body limit, rate limit, CORS, security
    # headers, request context.
    app.add_middleware(BodyLimitMiddleware, default_limit=MAX_BODY, limits=BODY_LIMITS)
    if settings.rate_limits_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            limit=settings.rate_limit_default,
            identify=make_subject_reader(app.state.keyring, settings),
            limiter=limiter_of(app),
        )
    install_cors(app, settings)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, log_access=settings.access_log)

    install_problem_openapi(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in (
        accounts_router,
        journals_router,
        tags_router,
        search_router,
        vault_router,
        reminders_router,
        events_router,
        web_auth_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    install_web(app)
    return app
