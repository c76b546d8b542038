"""Admission control: a process answers at most N requests at once and sheds the rest with
a fast 503 + `Retry-After`, so that overload means quick refusals, not a growing queue.

Without it, every accepted request waits for one of a few database connections, so the
latency of every answer grows with the number of open connections (measured on one
process: p50 0.9 s at 256, 3.7 s at 512) until the pool's checkout timeout fails them. A
quick refusal lets the client (or the balancer) retry elsewhere or later, and the
requests let in keep their latency (see bench/overload.py)."""

from __future__ import annotations

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from vibes.errors import problem

REQUESTS_SHED = Counter(
    "vibes_http_requests_shed_total",
    "Requests refused with 503 because the process was answering its maximum already",
)

# Cheap answers that must get through a busy process: the health checks (a balancer that
# sees them time out removes a process that is merely busy) and the metrics that show why.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# A live stream holds its request for as long as the client listens: counting it would let
# a few dozen open tabs shut the API; streams hold no database connection while they wait.
STREAM_PATHS = frozenset({"/api/v1/events"})
RETRY_AFTER_SECONDS = 1


class AdmissionMiddleware:
    """Counts the HTTP requests in progress and refuses those beyond `max_inflight`."""

    def __init__(self, app: ASGIApp, *, max_inflight: int) -> None:
        self.app = app
        self.max_inflight = max_inflight
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in EXEMPT_PATHS
            or scope["path"] in STREAM_PATHS
        ):
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            REQUESTS_SHED.inc()
            response = problem(
                503,
                detail="The server is busy; retry shortly.",
                type_suffix="unavailable",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await response(scope, receive, send)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
