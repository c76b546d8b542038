"""Prometheus metrics: the registry, HTTP request metrics, and the `/metrics` route."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "vibes_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "vibes_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# The dispatcher's figures: how late events reach each channel, how deliveries end, and
# how much work is waiting.
DISPATCH_LAG = Histogram(
    "vibes_dispatch_lag_seconds",
    "From the instant an event was due (a reminder's fire time) to its delivery",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 3600),
)
DELIVERIES = Counter(
    "vibes_deliveries_total",
    "Delivery attempts by channel and outcome",
    ["channel", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "vibes_dispatch_queue_depth",
    "Work waiting for the dispatcher: due reminders, undispatched events, pending deliveries",
    ["queue"],
)


# The labelled children per (method, route, status): `labels()` takes a lock and builds
# its key on every call, which costs more than the observation itself. Bounded by the
# routes the app declares ("unmatched" covers every unknown path) times the methods and
# statuses they answer (httptools only parses standard methods): no more series than
# the labelled metrics themselves already hold.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
