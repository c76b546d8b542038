"""create_app(settings): routers, middleware, lifespan. Nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from vibes import __version__
from vibes.accounts import pats
from vibes.accounts.cookies import router as web_auth_router
from vibes.accounts.router import router as accounts_router
from vibes.accounts.security_router import router as security_router
from vibes.accounts.tokens import make_subject_reader
from vibes.analytics.router import router as analytics_router
from vibes.config import Settings
from vibes.errors import UnhandledErrorMiddleware, install_error_handlers
from vibes.events.dispatcher import Dispatcher
from vibes.events.router import router as events_router
from vibes.journals.router import router as journals_router
from vibes.platform import health, metrics
from vibes.platform.admission import AdmissionMiddleware
from vibes.platform.apidocs import install_api_docs
from vibes.platform.bodylimit import BodyLimitMiddleware
from vibes.platform.hotroutes import HotRoutesMiddleware, fast_routes
from vibes.platform.keys import load_keyring
from vibes.platform.leader import run_when_elected
from vibes.platform.memory import freeze_startup_objects
from vibes.platform.methods import MethodsMiddleware
from vibes.platform.middleware import RequestContextMiddleware
from vibes.platform.openapi import install_problem_openapi
from vibes.platform.ratelimit import RateLimitMiddleware
from vibes.platform.replicas import ReadRoutingMiddleware
from vibes.platform.runtime import install_runtime, maybe_runtime
from vibes.platform.security import SecurityHeadersMiddleware, install_cors
from vibes.portability.router import router as portability_router
from vibes.reminders.router import router as reminders_router
from vibes.runtime import open_runtime
from vibes.search.router import router as search_router
from vibes.sync.router import router as sync_router
from vibes.tags.router import router as tags_router
from vibes.vault.router import router as vault_router
from vibes.web.serve import install_web

API_PREFIX = "/api/v1"
# Request body caps (bytes), checked before a body is read whole. An entry's content is up
# to 1 MiB of UTF-8, which JSON escaping can roughly double; a batch carries many entries.
MAX_BODY = 2 * 1024 * 1024
BODY_LIMITS = {f"{API_PREFIX}/journals/batch": 32 * 1024 * 1024}
# An import's multipart envelope around the file (its boundary lines and headers).
IMPORT_ENVELOPE = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    keyring = load_keyring(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, keyring=keyring) as runtime:
            install_runtime(app, runtime)
            dispatcher_stop = asyncio.Event()
            dispatcher_task = None
            # The embedded default: this process also fires reminders and delivers events.
            app.state.dispatcher = (
                Dispatcher(
                    runtime.database,
                    settings,
                    runtime.broker,
                    keyring=runtime.keyring,
                    wakeups=runtime.wakeups,
                )
                if settings.dispatcher_in_process
                else None
            )
            if app.state.dispatcher is not None:
                run = app.state.dispatcher.run
                if settings.multiprocess_dir is not None:
                    # `serve --workers N`: one worker runs it, another once that one dies.
                    lock = settings.multiprocess_dir / "dispatcher.lock"
                    dispatching = run_when_elected(lock, run, dispatcher_stop)
                else:
                    dispatching = run(dispatcher_stop)
                dispatcher_task = asyncio.create_task(dispatching, name="vibes-dispatcher")
            freeze_startup_objects()
            try:
                yield
            finally:
                # Graceful shutdown: uvicorn has stopped taking requests and drained the open
                # ones; the dispatcher finishes its step in flight; then connections go.
                if dispatcher_task is not None:
                    dispatcher_stop.set()
                    await dispatcher_task
                install_runtime(app, None)
                metrics.process_exiting()

    app = FastAPI(
        title="Vibes",
        version=__version__,
        description="A personal journal with reminders. See API.md for the contract.",
        lifespan=lifespan,
        # MethodsMiddleware redirects, relatively; the router's redirect used the Host header.
        redirect_slashes=False,
        # Served from the package by install_api_docs: FastAPI's pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )

    install_error_handlers(app)
    # Innermost: the fast paths the routes declare (collected once every router is in).
    app.add_middleware(HotRoutesMiddleware, routes=lambda: fast_routes(app.routes))
    # Outside the fast paths: a read that cannot reach its replica runs again on the primary.
    app.add_middleware(
        ReadRoutingMiddleware,
        identify=make_subject_reader(keyring, settings),
        runtime=lambda: maybe_runtime(app),
    )
    app.add_middleware(UnhandledErrorMiddleware)
    # Added inner to outer: hot routes, read routing, unhandled errors, body limit, methods,
    # rate limit, admission, CORS, security headers, request context, proxy headers.
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=MAX_BODY,
        limits={
            **BODY_LIMITS,
            f"{API_PREFIX}/import": settings.import_max_bytes + IMPORT_ENVELOPE,
        },
    )
    # HEAD as GET minus the body, 405 with every method of the path, relative redirects.
    app.add_middleware(MethodsMiddleware, routes=lambda: app.routes)
    if settings.rate_limits_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            limit=settings.rate_limit_default,
            identify=pats.subject_reader(
                make_subject_reader(keyring, settings), lambda: maybe_runtime(app)
            ),
            limiter=lambda: (
                None if (runtime := maybe_runtime(app)) is None else runtime.ratelimiter
            ),
        )
    if settings.max_inflight:
        # Outside the rate limiter and everything after it: a shed request costs nothing.
        app.add_middleware(AdmissionMiddleware, max_inflight=settings.max_inflight)
    install_cors(app, settings)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, log_access=settings.access_log)
    # Outermost: every layer (rate limits, audit, the access log) sees the real client.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    install_problem_openapi(app)
    install_api_docs(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in (
        accounts_router,
        security_router,
        journals_router,
        tags_router,
        search_router,
        analytics_router,
        vault_router,
        reminders_router,
        sync_router,
        events_router,
        portability_router,
        web_auth_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    install_web(app)
    fast_routes(app.routes)  # a fast path that disagrees with its route stops the start
    return app
