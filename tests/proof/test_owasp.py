"""The OWASP API Security Top 10 as tests (issue 12). Routes are enumerated from the app,
so a new route is in the matrix the day it is added (and fails here until it is placed).

- API1 object-level authorization: every id route and method, as the owner's neighbour.
- API2/API5 authentication and function-level authorization: every route that needs a
  bearer refuses none, a forged one, a refresh or unlock token, a revoked session's.
- API3/API6 property-level authorization (mass assignment): every JSON body forbids
  unknown fields; server-owned fields sent anyway are refused and change nothing.
- API4 resource consumption: page sizes, batch sizes, body sizes, filter counts.
- API8 misconfiguration: the security headers on every answer, 2xx to 5xx.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, UploadFile, params
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from tests.conftest import MakeApp, MakeClient
from tests.factories import AuthedUser, make_authed_user
from vibes.platform.runtime import app_runtime

API = "/api/v1"

# A valid body for each id route's method, so that a refusal is the ownership check's
# and not the body's. A new route fails `test_every_id_route_is_in_the_matrix` until
# it is listed here.
BODIES: dict[tuple[str, str], Any] = {
    ("GET", "/journals/{journal_id}"): None,
    ("PATCH", "/journals/{journal_id}"): {"title": "bob was here"},
    ("DELETE", "/journals/{journal_id}"): None,
    ("GET", "/tags/{tag_id}"): None,
    ("PATCH", "/tags/{tag_id}"): {"name": "bob-was-here"},
    ("DELETE", "/tags/{tag_id}"): None,
    ("GET", "/reminders/{reminder_id}"): None,
    ("PATCH", "/reminders/{reminder_id}"): {"title": "bob was here"},
    ("DELETE", "/reminders/{reminder_id}"): None,
    ("POST", "/reminders/{reminder_id}/complete"): None,
    ("POST", "/reminders/{reminder_id}/snooze"): {"minutes": 10},
    ("GET", "/webhooks/{webhook_id}"): None,
    ("DELETE", "/webhooks/{webhook_id}"): None,
    ("GET", "/webhooks/{webhook_id}/deliveries"): None,
    ("DELETE", "/auth/sessions/{session_id}"): None,
    ("DELETE", "/auth/tokens/{token_id}"): None,
    ("PATCH", "/secret-tags/{tag_id}"): {"name": "bob was here"},
    ("DELETE", "/secret-tags/{tag_id}"): {"password": "<bob's>"},
    ("POST", "/secret-tags/{tag_id}/phrase"): {"new_phrase": "bob's brand new phrase 9!"},
}
PHRASE = "a vault phrase nobody guesses 42"


def _api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not (context.path or "").startswith(API):
            continue
        for method in sorted(context.methods or ()):
            found.append((method, (context.path or "")[len(API) :], route))
    return found


def _id_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in _api_routes(app) if "{" in p]


def _kind(path: str) -> str:
    """Which of alice's objects a path's id names (secret tags apart from tags)."""
    return "secret_tag_id" if path.startswith("/secret-tags/") else path.split("{")[1].split("}")[0]


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    """Alice owning one object of every kind; Bob, signed in, owning the same kinds."""
    alice = await make_authed_user(app)
    bob = await make_authed_user(app)
    ids: dict[str, str] = {"session_id": str(alice.session_id)}
    for user in (bob, alice):  # alice last: hers are the ids kept
        entry = await client.post(
            f"{API}/journals",
            json={"title": "mine", "content": "private", "tags": ["mine"]},
            headers=user.headers,
        )
        assert entry.status_code == 201, entry.text
        ids["journal_id"] = entry.json()["id"]
        tags = (await client.get(f"{API}/tags", headers=user.headers)).json()
        ids["tag_id"] = tags[0]["id"]
        reminder = await client.post(
            f"{API}/reminders",
            json={"title": "mine", "remind_at": "2030-01-01T09:00:00Z"},
            headers=user.headers,
        )
        ids["reminder_id"] = reminder.json()["id"]
        hook = await client.post(
            f"{API}/webhooks", json={"url": "https://93.184.215.14/hook"}, headers=user.headers
        )
        assert hook.status_code == 201, hook.text
        ids["webhook_id"] = hook.json()["id"]
        vault = await client.post(
            f"{API}/secret-tags",
            json={"name": "diary", "phrase": PHRASE + user.email},
            headers=user.headers,
        )
        assert vault.status_code == 201, vault.text
        ids["secret_tag_id"] = vault.json()["id"]
        pat = await client.post(f"{API}/auth/tokens", json={"name": "mine"}, headers=user.headers)
        assert pat.status_code == 201, pat.text
        ids["token_id"] = pat.json()["id"]
    return {"alice": alice, "bob": bob, "ids": ids}


def _fill(path: str, value: str) -> str:
    return f"{API}{path.split('{')[0]}{value}{path.split('}')[1]}"


def test_every_id_route_is_in_the_matrix(app: FastAPI) -> None:
    routes = set(_id_routes(app))
    assert routes == set(BODIES), sorted(routes ^ set(BODIES))


async def _snapshot(client: httpx.AsyncClient, alice: AuthedUser) -> list[Any]:
    """Everything alice can see, to compare before and after Bob's attempts."""
    paths = ["/journals", "/tags", "/reminders?status=all", "/webhooks", "/auth/sessions"]
    return [(await client.get(f"{API}{p}", headers=alice.headers)).json() for p in paths]


async def test_another_users_object_answers_like_a_missing_one_on_every_id_route(
    app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    alice: AuthedUser = world["alice"]
    bob: AuthedUser = world["bob"]
    before = await _snapshot(client, alice)
    for method, path in _id_routes(app):
        body = BODIES[(method, path)]
        if isinstance(body, dict) and body.get("password"):
            body = {"password": bob.password}
        theirs = _fill(path, world["ids"][_kind(path)])
        missing = _fill(path, str(uuid.uuid4()))
        a = await client.request(method, theirs, json=body, headers=bob.headers)
        b = await client.request(method, missing, json=body, headers=bob.headers)
        label = f"{method} {path}"
        assert a.status_code == b.status_code, label
        assert a.status_code in (401, 403, 404), (label, a.status_code, a.text)
        assert a.json() == b.json(), label
        assert alice.email not in a.text, label
    assert await _snapshot(client, alice) == before
    # Alice's session survived Bob's DELETE of it.
    me = await client.get(f"{API}/users/me", headers=alice.headers)
    assert me.status_code == 200


def _bodies(app: FastAPI) -> list[tuple[str, str, type[BaseModel]]]:
    found = []
    for method, path, route in _api_routes(app):
        field = route.body_field
        model = field.field_info.annotation if field is not None else None
        # A form or an upload is not a JSON body: its fields are the form's own.
        if isinstance(field.field_info if field is not None else None, params.Form):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        if any(f.annotation is UploadFile for f in model.model_fields.values()):
            continue
        found.append((method, path, model))
    return found


def test_every_json_body_refuses_fields_it_does_not_know(app: FastAPI) -> None:
    bodies = _bodies(app)
    assert len(bodies) > 15
    lenient = [
        f"{m} {p}: {model.__name__}"
        for m, p, model in bodies
        if model.model_config.get("extra") != "forbid"
    ]
    assert not lenient


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/journals", {"title": "t", "content": "c", "user_id": "{bob}"}),
        ("POST", "/journals", {"title": "t", "content": "c", "version": 99}),
        ("POST", "/journals", {"title": "t", "content": "c", "word_count": 0}),
        ("POST", "/reminders", {"title": "t", "remind_at": "2030-01-01T09:00:00Z", "id": "x"}),
        (
            "POST",
            "/reminders",
            {"title": "t", "remind_at": "2030-01-01T09:00:00Z", "is_completed": True},
        ),
        ("PATCH", "/users/me", {"email": "bob@example.com"}),
        ("PATCH", "/users/me", {"id": "{bob}"}),
        ("POST", "/auth/register", {"email": "n@example.com", "password": "x" * 20, "id": "1"}),
        ("POST", "/webhooks", {"url": "https://93.184.215.14/", "secret": "mine"}),
        ("POST", "/webhooks", {"url": "https://93.184.215.14/", "is_active": False}),
    ],
)
async def test_server_owned_fields_are_refused_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
) -> None:
    alice = await make_authed_user(app)
    bob = await make_authed_user(app)
    body = {k: (str(bob.id) if v == "{bob}" else v) for k, v in body.items()}
    before = await _snapshot(client, alice)
    me = (await client.get(f"{API}/users/me", headers=alice.headers)).json()
    r = await client.request(method, f"{API}{path}", json=body, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert await _snapshot(client, alice) == before
    assert (await client.get(f"{API}/users/me", headers=alice.headers)).json() == me


def _security(app: FastAPI, *, optional: bool) -> list[tuple[str, str]]:
    """The operations that declare a bearer: required, or optional (`{}` among the
    alternatives)."""
    spec = app.openapi()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if path.startswith(API)
        and operation.get("security")
        and ({} in operation["security"]) == optional
    ]


def _secured(app: FastAPI) -> list[tuple[str, str]]:
    return _security(app, optional=False)


# Routes a stranger may call: the contract's list, and the web sign-in (cookie) routes.
PUBLIC = {
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/token"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/password-reset"),
    ("POST", "/auth/password-reset/confirm"),
    ("POST", "/auth/web/login"),
    ("POST", "/auth/web/refresh"),
    ("POST", "/auth/2fa/verify"),
    ("POST", "/auth/web/2fa/verify"),
}
# Signs out whatever it is given (a refresh token, a bearer, or neither): idempotent, and
# a stranger can only end a session whose refresh token they already hold.
WITHOUT_BEARER_BY_DESIGN = {("POST", "/auth/logout"), ("POST", "/auth/web/logout")}


def test_only_the_contracts_public_routes_go_without_a_bearer(app: FastAPI) -> None:
    secured = {(m, p[len(API) :]) for m, p in _secured(app)}
    optional = {(m, p[len(API) :]) for m, p in _security(app, optional=True)}
    every = {(m, p) for m, p, _ in _api_routes(app)}
    assert optional == WITHOUT_BEARER_BY_DESIGN
    assert every - secured - optional == PUBLIC


async def test_every_secured_route_refuses_every_wrong_credential(
    app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    alice: AuthedUser = world["alice"]
    login = await client.post(
        f"{API}/auth/login", json={"email": alice.email, "password": alice.password}
    )
    refresh_token = login.json()["refresh_token"]
    unlock = await client.post(
        f"{API}/secret-tags/unlock", json={"phrase": PHRASE + alice.email}, headers=alice.headers
    )
    unlock_token = unlock.json()["unlock_token"]
    revoked = await make_authed_user(app)
    r = await client.post(
        f"{API}/auth/logout", json={"refresh_token": "-"}, headers=revoked.headers
    )
    assert r.status_code == 204
    revoked_pat = await client.post(
        f"{API}/auth/tokens", json={"name": "gone"}, headers=alice.headers
    )
    r = await client.delete(f"{API}/auth/tokens/{revoked_pat.json()['id']}", headers=alice.headers)
    assert r.status_code == 204
    head, _, signature = alice.access_token.rpartition(".")
    forged = f"{head}.{signature[::-1]}"
    credentials = {
        "none": {},
        "not bearer": {"Authorization": f"Basic {alice.access_token}"},
        "forged": {"Authorization": f"Bearer {forged}"},
        "refresh token": {"Authorization": f"Bearer {refresh_token}"},
        "unlock token": {"Authorization": f"Bearer {unlock_token}"},
        "revoked session": revoked.headers,
        "revoked access token": {"Authorization": f"Bearer {revoked_pat.json()['token']}"},
        "made-up access token": {"Authorization": "Bearer vibes_pat_" + "x" * 43},
    }
    routes = _secured(app)
    assert len(routes) > 30
    for method, path in routes:
        short = path[len(API) :]
        url = _fill(short, world["ids"][_kind(short)]) if "{" in short else path
        for name, headers in credentials.items():
            r = await client.request(method, url, json={}, headers=headers)
            assert r.status_code == 401, (method, path, name, r.status_code, r.text)
            assert r.headers["www-authenticate"].lower().startswith("bearer"), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/journals?limit=101", None, 422),
        ("GET", "/reminders?limit=101", None, 422),
        ("GET", "/webhooks?limit=101", None, 422),
        ("GET", "/search?q=a&limit=101", None, 422),
        ("GET", "/journals?" + "&".join(f"tag=t{i}" for i in range(21)), None, 422),
        ("GET", "/journals?q=" + "a" * 257, None, 422),
        ("GET", "/journals?cursor=" + "a" * 1025, None, 422),
        (
            "POST",
            "/journals",
            {"title": "t", "content": "c", "tags": [f"t{i}" for i in range(51)]},
            422,
        ),
        ("POST", "/journals", {"title": "t" * 501, "content": "c"}, 422),
        ("POST", "/journals", {"title": "t", "content": "é" * (512 * 1024 + 1)}, 413),
        ("POST", "/journals/batch", {"items": [{"title": "t", "content": "c"}] * 1001}, 422),
        (
            "POST",
            "/reminders",
            {"title": "t", "remind_at": "2030-01-01T09:00:00Z", "notes": "n" * 10_001},
            422,
        ),
    ],
)
async def test_every_size_has_a_bound(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, body: Any, status: int
) -> None:
    user = await make_authed_user(app)
    r = await client.request(method, f"{API}{path}", json=body, headers=user.headers)
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"] == "application/problem+json"
    _assert_secured(r, path)
    journals = (await client.get(f"{API}/journals", headers=user.headers)).json()
    assert journals["items"] == []


async def test_a_body_over_the_cap_is_refused_before_it_is_read(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_authed_user(app)
    r = await client.post(
        f"{API}/journals",
        content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
        headers=user.headers | {"content-type": "application/json"},
    )
    assert r.status_code == 413
    _assert_secured(r, "413 before reading")


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _assert_secured(response: httpx.Response, label: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (label, response.status_code, name)
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""), label
    assert response.headers.get("x-request-id"), label


async def test_every_answer_of_every_route_carries_the_security_headers(
    app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    alice: AuthedUser = world["alice"]
    statuses: set[int] = set()
    urls = [
        (m, _fill(p, world["ids"][_kind(p)]) if "{" in p else f"{API}{p}")
        for m, p, _ in _api_routes(app)
        if not p.endswith("/events")  # a stream: its headers are tested with it
    ]
    urls += [
        ("GET", path)
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/", "/nowhere")
    ]
    for method, url in urls:
        for headers in ({}, alice.headers):
            for body in (None, {}, {"unknown": 1}):
                r = await client.request(method, url, json=body, headers=headers)
                statuses.add(r.status_code)
                _assert_secured(r, f"{method} {url}")
        r = await client.request("PUT", url, headers=alice.headers)  # 405 everywhere
        statuses.add(r.status_code)
        _assert_secured(r, f"PUT {url}")
    carol = await make_authed_user(app)  # the sweep deleted alice's objects
    created = await client.post(
        f"{API}/journals", json={"title": "t", "content": "c"}, headers=carol.headers
    )
    entry, etag = created.headers["location"], created.headers["etag"]
    for method in ("GET", "HEAD"):
        r = await client.request(method, entry, headers=carol.headers | {"If-None-Match": etag})
        statuses.add(r.status_code)
        _assert_secured(r, f"{method} 304")
    assert {200, 204, 304, 401, 404, 405, 422} <= statuses, sorted(statuses)


async def test_a_429_carries_the_security_headers(make_client: MakeClient) -> None:
    async with make_client(rate_limit_default="2/minute") as c:
        answers = [await c.get("/healthz") for _ in range(3)]
    assert answers[-1].status_code == 429
    assert answers[-1].headers["retry-after"]
    for r in answers:
        _assert_secured(r, f"healthz {r.status_code}")


async def test_forced_500_and_503_answers_carry_the_security_headers(
    make_app: MakeApp, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def configure(application: FastAPI) -> None:
        @application.get(f"{API}/_proof/boom")
        async def boom() -> None:
            raise RuntimeError("forced")

    async with (
        make_app(configure=configure) as application,
        make_client(application, raise_app_exceptions=False) as c,
    ):
        r = await c.get(f"{API}/_proof/boom")
        assert r.status_code == 500
        _assert_secured(r, "forced 500")

        runtime = app_runtime(application)

        class Unreachable:
            def connect(self) -> Any:
                raise OSError("database down")

        monkeypatch.setattr(runtime.database, "engine", Unreachable())
        r = await c.get("/readyz")
        assert r.status_code == 503
        _assert_secured(r, "readyz 503")
        monkeypatch.undo()

        async def storage_down(*args: Any, **kwargs: Any) -> bool:
            raise ConnectionError("rate limit store down")

        monkeypatch.setattr(runtime.ratelimiter._moving, "hit", storage_down)
        r = await c.post(f"{API}/auth/login", json={"email": "a@b.c", "password": "x" * 12})
        assert r.status_code == 503, r.text
        _assert_secured(r, "rate limit store 503")
