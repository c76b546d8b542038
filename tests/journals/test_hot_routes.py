"""Hot routes answer exactly what the documented routes answer.

Every request below goes to two apps over the same database and key ring: the real one,
whose `GET /journals` and `GET /journals/{id}` are answered by the hot routes where they
can, and one without the hot-route middleware, where FastAPI answers everything. Status,
headers (but the per-request id and rate-limit counters) and body bytes must be equal;
and the hot handlers must really answer the common forms (else the test proves nothing).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Scope

from tests.conftest import MakeApp, MakeClient
from tests.factories import AuthedUser, make_authed_user
from tests.journals.conftest import API, create_entry
from vibes.config import Settings
from vibes.platform.hotroutes import FastHandler, HotRoutesMiddleware

_VOLATILE = {"x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}


def _count_hot_answers(answered: dict[str, int]) -> Callable[[FastAPI], None]:
    """Wrap the app's hot handlers (before its middleware stack is built) to count in
    `answered["count"]` the requests they answered themselves."""
    answered["count"] = 0

    def configure(app: FastAPI) -> None:
        _wrap_hot_handlers(app, answered)

    return configure


def _wrap_hot_handlers(app: FastAPI, answered: dict[str, int]) -> None:
    (entry,) = [m for m in app.user_middleware if m.cls is HotRoutesMiddleware]

    def counting(handler: FastHandler) -> FastHandler:
        async def counted(scope: Scope) -> Response | None:
            try:
                response = await handler(scope)
            except Exception:
                answered["count"] += 1  # rendered by the middleware: still a hot answer
                raise
            if response is not None:
                answered["count"] += 1
            return response

        return counted

    collect = entry.kwargs["routes"]
    entry.kwargs["routes"] = lambda: [
        dataclasses.replace(
            mounted,
            declared=dataclasses.replace(
                mounted.declared, handler=counting(mounted.declared.handler)
            ),
        )
        for mounted in collect()
    ]


def _without_hot_routes(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotRoutesMiddleware]
    return app


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in _VOLATILE)
    return response.status_code, headers, response.content


@dataclass
class HotAndCold:
    app: FastAPI  # with hot routes
    answered: dict[str, int]  # requests its hot handlers answered
    hot: httpx.AsyncClient
    cold: httpx.AsyncClient  # an app without hot routes, same database and keys

    async def users(self) -> tuple[AuthedUser, AuthedUser, AuthedUser]:
        """Two users, and a third whose session is revoked."""
        alice, bob, gone = [await make_authed_user(self.app) for _ in range(3)]
        url = f"{API}/auth/sessions/{gone.session_id}"
        revoked = await self.hot.delete(url, headers=gone.headers)
        assert revoked.status_code == 204, revoked.text
        return alice, bob, gone

    async def compare(self, cases: list[tuple[str, dict[str, str]]]) -> None:
        self.answered["count"] = 0
        for url, headers in cases:
            hot_answer = await self.hot.get(url, headers=headers)
            cold_answer = await self.cold.get(url, headers=headers)
            assert _comparable(hot_answer) == _comparable(cold_answer), url


@asynccontextmanager
async def _hot_and_cold(
    make_app: MakeApp, make_client: MakeClient, settings: Settings
) -> AsyncIterator[HotAndCold]:
    answered: dict[str, int] = {}
    async with (
        make_app(settings, configure=_count_hot_answers(answered)) as hot_app,
        make_client(hot_app) as hot,
        make_app(settings, configure=_without_hot_routes) as cold_app,
        make_client(cold_app) as cold,
    ):
        yield HotAndCold(hot_app, answered, hot, cold)


async def test_hot_routes_answer_like_the_documented_routes(
    make_app: MakeApp, make_client: MakeClient, settings: Settings
) -> None:
    async with _hot_and_cold(make_app, make_client, settings) as both:
        hot, cold, answered = both.hot, both.cold, both.answered
        alice, bob, gone = await both.users()
        entries = [
            await create_entry(
                hot,
                alice,
                title=f"Entry {i} — été",
                content=f"Words for entry {i}.\nSecond line, ünïcode ✓.",
                tags=["Work", "ideas"] if i % 2 else ["Home"],
                mood_rating=(i % 10) + 1,
                entry_date=f"2026-03-{i + 1:02d}T08:30:00.250000+02:00",
            )
            for i in range(7)
        ]
        bobs = await create_entry(hot, bob, title="Bob's", content="Not Alice's.")
        first_page = (await hot.get(f"{API}/journals?limit=3", headers=alice.headers)).json()
        cursor = first_page["next_cursor"]
        assert cursor

        one = entries[3]["id"]
        auth = alice.headers
        cases: list[tuple[str, dict[str, str]]] = [
            # The common forms, answered by the hot handlers.
            (f"{API}/journals/{one}", auth),
            (f"{API}/journals/{one.upper()}", auth),
            (f"{API}/journals/{one}", {**auth, "If-None-Match": '"1"'}),
            (f"{API}/journals/{one}", {**auth, "If-None-Match": 'W/"1", "7"'}),
            (f"{API}/journals/{one}", {**auth, "If-None-Match": "*"}),
            (f"{API}/journals/{one}", {**auth, "If-None-Match": '"2"'}),
            (f"{API}/journals/{bobs['id']}", auth),  # another user's: 404
            (f"{API}/journals/{uuid.uuid4()}", auth),  # nobody's: the same 404
            (f"{API}/journals/{one}", gone.headers),  # revoked session: 401
            (f"{API}/journals/{one}", {"Authorization": "Bearer not.a.token"}),
            (f"{API}/journals/{one}", {"Authorization": "bearer " + alice.access_token}),
            (f"{API}/journals", auth),
            (f"{API}/journals?limit=3", auth),
            (f"{API}/journals?limit=3&cursor={cursor}", auth),
            (f"{API}/journals?tag=work", auth),
            (f"{API}/journals?tag=WORK&tag=Ideas&limit=2", auth),
            (f"{API}/journals?tag=nothing", auth),
            (f"{API}/journals?cursor=", auth),
            (f"{API}/journals?tag=", auth),  # a blank tag: the route's 422
            (f"{API}/journals?limit=3&cursor=not-a-cursor", auth),  # 422
            (f"{API}/journals?cursor={cursor}", auth),  # bound to limit? no: to filters
            (f"{API}/journals?tag=work&cursor={cursor}", auth),  # another filter: 422
            (f"{API}/journals", bob.headers),
            (f"{API}/journals", gone.headers),
            # Forms the hot handlers hand on to the documented routes.
            (f"{API}/journals/{one.replace('-', '')}", auth),
            (f"{API}/journals/not-a-uuid", auth),
            (f"{API}/journals/{one}", {}),
            (f"{API}/journals/{one}", {"Authorization": "Basic abc"}),
            (f"{API}/journals/{one}", {**auth, "If-None-Match": "x" * 1025}),
            (f"{API}/journals/{one}", {**auth, "X-Vibes-Unlock": "nope"}),
            (f"{API}/journals?limit=0", auth),
            (f"{API}/journals?limit=101", auth),
            (f"{API}/journals?limit=abc", auth),
            (f"{API}/journals?limit=2&limit=3", auth),
            (f"{API}/journals?mood_min=3", auth),
            (f"{API}/journals?q=words", auth),
            (f"{API}/journals?from=2026-03-02&to=2026-03-04", auth),
            (f"{API}/journals?" + "&".join(f"tag=t{i}" for i in range(21)), auth),
            (f"{API}/journals", {}),
        ]
        await both.compare(cases)
        # Duplicate headers: which copy counts is the documented route's business.
        twice: Any = [("Authorization", auth["Authorization"]), ("Authorization", "Bearer x")]
        for url in (f"{API}/journals/{one}", f"{API}/journals"):
            assert _comparable(await hot.get(url, headers=twice)) == _comparable(
                await cold.get(url, headers=twice)
            )
    # The 24 common forms above were answered without FastAPI's routing.
    assert answered["count"] == 24


@pytest.mark.parametrize("path", ["/journals", "/journals/{id}"])
async def test_hot_routes_answer_only_get_and_head(
    make_app: MakeApp, make_client: MakeClient, settings: Settings, path: str
) -> None:
    """OPTIONS, PATCH and DELETE on the hot paths reach the documented routes; HEAD is a
    GET minus its body, so the fast path answers it as it answers the GET."""
    answered: dict[str, int] = {}
    async with (
        make_app(settings, configure=_count_hot_answers(answered)) as app,
        make_client(app) as client,
    ):
        alice = await make_authed_user(app)
        entry = await create_entry(client, alice)
        url = API + path.replace("{id}", entry["id"])
        answered["count"] = 0
        for method in ("OPTIONS", "PATCH", "DELETE"):
            await client.request(method, url, headers=alice.headers, json={})
        assert answered["count"] == 0
        entry = await create_entry(client, alice)
        url = API + path.replace("{id}", entry["id"])
        answered["count"] = 0
        head = await client.head(url, headers=alice.headers)
        get = await client.get(url, headers=alice.headers)
    assert answered["count"] == 2
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


async def test_hot_answers_count_under_the_documented_routes_metrics_label(
    make_app: MakeApp, make_client: MakeClient, settings: Settings
) -> None:
    answered: dict[str, int] = {}
    async with (
        make_app(settings, configure=_count_hot_answers(answered)) as app,
        make_client(app) as client,
    ):
        alice = await make_authed_user(app)
        entry = await create_entry(client, alice)
        answered["count"] = 0
        assert (await client.get(f"{API}/journals/{entry['id']}", headers=alice.headers)).is_success
        assert (await client.get(f"{API}/journals", headers=alice.headers)).is_success
        assert answered["count"] == 2
        # Handed on to FastAPI (a hyphenless id is still an id there): the same labels.
        hyphenless = entry["id"].replace("-", "")
        assert (await client.get(f"{API}/journals/{hyphenless}", headers=alice.headers)).is_success
        assert answered["count"] == 2
        metrics = (await client.get("/metrics")).text
    lines = [line for line in metrics.splitlines() if line.startswith("vibes_http_requests_total")]
    assert any('route="/journals/{journal_id}",status="200"' in line for line in lines), lines
    assert any('route="/journals",status="200"' in line for line in lines), lines
    assert not any("/api/v1/journals" in line for line in lines), lines


async def test_hot_search_answers_like_the_documented_route(
    make_app: MakeApp, make_client: MakeClient, settings: Settings
) -> None:
    """`GET /search?type=journals` (PostgreSQL: one statement; SQLite: handed on)."""
    async with _hot_and_cold(make_app, make_client, settings) as both:
        hot = both.hot
        alice, bob, gone = await both.users()
        for i in range(6):
            await create_entry(
                hot,
                alice,
                title=f"Harbour walk {i}" if i % 2 else f"Morning {i}",
                content=("The quiet harbour at dawn, " * (i + 1)) + "then coffee and letters.",
                tags=["walks"],
            )
        await create_entry(hot, bob, title="Bob's harbour", content="harbour harbour")
        first = await hot.get(
            f"{API}/search?type=journals&q=harbour&limit=2", headers=alice.headers
        )
        cursor = first.json()["next_cursor"]
        assert cursor
        other_cursor = (
            await hot.get(f"{API}/search?q=harbour&limit=2", headers=alice.headers)
        ).json()["next_cursor"]
        auth = alice.headers
        base = f"{API}/search?type=journals"
        cases: list[tuple[str, dict[str, str]]] = [
            (f"{base}&q=harbour", auth),
            (f"{base}&q=harbour&limit=2", auth),
            (f"{base}&q=harbour&limit=2&cursor={cursor}", auth),
            (f"{base}&q=%22quiet%20harbour%22", auth),
            (f"{base}&q=harbour%20-morning", auth),
            (f"{base}&q=coffee%20or%20nothing", auth),
            (f"{base}&q=walk", auth),  # a title-only match: the title is the snippet
            (f"{base}&q=nothing", auth),
            (f"{base}&q=harbour", bob.headers),
            (f"{base}&q=harbour", gone.headers),  # revoked: 401
            (f"{base}&q=harbour", {"Authorization": "Bearer not.a.token"}),
            # Handed on to the documented route.
            (f"{base}&q=harbour&limit=2&cursor={other_cursor}", auth),  # other filters: 422
            (f"{base}&q=harbour&cursor=garbage", auth),
            (f"{base}&q=harbour&cursor=garbage", gone.headers),  # 401 before the 422
            (f"{API}/search?q=harbour", auth),
            (f"{API}/search?type=all&q=harbour", auth),
            (f"{base}&q=", auth),
            (f"{base}&q=a%01b", auth),
            (f"{base}&q=harbour&from=2020-01-01", auth),
            (f"{base}&q=harbour&limit=0", auth),
            (f"{base}&q=harbour&q=quiet", auth),
            (f"{base}&q=harbour", {**auth, "X-Vibes-Unlock": "nope"}),
            (f"{base}&q=harbour", {}),
        ]
        await both.compare(cases)
    on_postgresql = not settings.is_sqlite
    assert both.answered["count"] == (11 if on_postgresql else 0)
