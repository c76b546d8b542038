"""Webhooks end to end: a real receiver on loopback, the real dispatcher, real signatures."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from standardwebhooks import Webhook as StandardWebhook

from tests.events.helpers import add_webhook, dispatcher_for, due_reminder, run_until
from tests.events.servers import Receiver
from tests.factories import make_authed_user
from tests.platform.logcapture import configured_logs
from vibes.events.channels import url_host
from vibes.events.secrets import open_secret, sealing_key
from vibes.platform.runtime import app_runtime
from vibes.platform.sealing import SealBroken


async def test_signed_delivery_500_then_200_is_retried_with_the_same_id(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    hook = await add_webhook(client, user, receiver.url("/hook"), events=["reminder.due"])
    receiver.scripts["/hook"] = [500, 200]
    reminder_id = await due_reminder(client, user, title="Secret plans")

    await run_until(dispatcher_for(app), lambda: len(receiver.to("/hook")) >= 2)

    got = receiver.to("/hook")
    assert [r.status for r in got] == [500, 200]
    verifier = StandardWebhook(str(hook["secret"]))
    payloads = [verifier.verify(r.body, r.headers) for r in got]  # raises if a signature is bad
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == payloads[0]["id"]
    assert payloads[0] == payloads[1]
    assert payloads[0]["type"] == "reminder.due"  # reminder.created was filtered out
    assert payloads[0]["data"]["reminder_id"] == reminder_id
    assert "Secret plans" not in got[0].body.decode()  # thin payload: ids and metadata
    assert set(payloads[0]) == {"id", "type", "created_at", "data"}

    r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
    assert r.status_code == 200
    [delivery] = r.json()["items"]
    assert delivery["status"] == "succeeded"
    assert delivery["event_type"] == "reminder.due"
    assert delivery["event_id"] == payloads[0]["id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attempts"][0]["error"] == "HTTP 500"


async def test_a_410_disables_the_hook_and_nothing_more_is_sent(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    hook = await add_webhook(client, user, receiver.url("/gone"), events=["reminder.due"])
    receiver.scripts["/gone"] = [410]
    await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    await run_until(dispatcher, lambda: len(receiver.to("/gone")) >= 1)
    await dispatcher.run_once()

    r = await client.get("/api/v1/webhooks", headers=user.headers)
    [listed] = r.json()["items"]
    assert listed["id"] == hook["id"]
    assert listed["is_active"] is False
    assert "410" in listed["disabled_reason"]
    assert "secret" not in listed

    await due_reminder(client, user)
    for _ in range(5):
        await dispatcher.run_once()
    assert len(receiver.to("/gone")) == 1
    r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
    statuses = {d["status"] for d in r.json()["items"]}
    assert statuses <= {"failed", "cancelled"}


async def test_redirects_are_not_followed_and_count_as_failures(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    hook = await add_webhook(client, user, receiver.url("/moved"), events=["reminder.created"])
    receiver.scripts["/moved"] = [302, 200]
    await due_reminder(client, user, seconds=3600)
    await run_until(dispatcher_for(app), lambda: len(receiver.to("/moved")) >= 2)
    r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
    attempts = r.json()["items"][0]["attempts"]
    assert [(a["status_code"], a["error"]) for a in attempts] == [
        (302, "redirect not followed"),
        (200, None),
    ]


async def test_a_slow_receiver_times_out_and_the_delivery_gives_up_after_max_attempts(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    app_runtime(app).settings = app_runtime(app).settings.model_copy(
        update={"webhook_timeout_seconds": 0.2, "delivery_max_attempts": 2}
    )
    user = await make_authed_user(app)
    hook = await add_webhook(client, user, receiver.url("/slow"))
    receiver.delay = 1.0
    await due_reminder(client, user, seconds=3600)  # reminder.created
    dispatcher = dispatcher_for(app)

    async def finished() -> bool:
        r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
        items = r.json()["items"]
        return bool(items) and items[0]["status"] == "failed"

    done = False
    for _ in range(100):
        await dispatcher.run_once()
        if done := await finished():
            break
    assert done
    r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
    attempts = r.json()["items"][0]["attempts"]
    assert len(attempts) == 2
    assert all("timed out" in a["error"] for a in attempts)


async def test_webhook_crud_secret_shown_once_and_other_users_get_404(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    alice = await make_authed_user(app)
    bob = await make_authed_user(app)
    created = await add_webhook(
        client, alice, receiver.url(), events=["reminder.due", "journal.created"]
    )
    assert str(created["secret"]).startswith("whsec_")
    assert created["is_active"] is True
    assert sorted(created["events"]) == ["journal.created", "reminder.due"]  # type: ignore[arg-type]
    StandardWebhook(str(created["secret"]))  # a valid Standard Webhooks secret

    hid = created["id"]
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
        r = await client.request(method, f"/api/v1/webhooks/{hid}{path}", headers=bob.headers)
        assert r.status_code == 404
    assert (await client.get("/api/v1/webhooks", headers=bob.headers)).json()["items"] == []

    r = await client.get(f"/api/v1/webhooks/{hid}", headers=alice.headers)
    assert r.status_code == 200
    assert "secret" not in r.json()
    r = await client.delete(f"/api/v1/webhooks/{hid}", headers=alice.headers)
    assert r.status_code == 204
    assert (await client.get("/api/v1/webhooks", headers=alice.headers)).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://example.com/h", "events": ["reminder.exploded"]},
        {"url": "https://example.com/h", "extra": 1},
        {"url": "ftp://example.com/h"},
        {"url": "https://user:pw@example.com/h"},
        {"url": "not a url at all"},
    ],
)
async def test_bad_webhook_bodies_are_422(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    user = await make_authed_user(app)
    r = await client.post("/api/v1/webhooks", json=body, headers=user.headers)
    assert r.status_code == 422, r.text


async def test_each_event_reaches_a_hook_once_even_when_dispatched_twice(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """The unique (event, target) key: a re-dispatched event makes no second delivery."""
    from sqlalchemy import update

    from vibes.recording.models import OutboxEvent

    user = await make_authed_user(app)
    await add_webhook(client, user, receiver.url("/once"), events=["reminder.created"])
    await due_reminder(client, user, seconds=3600)
    dispatcher = dispatcher_for(app)
    await run_until(dispatcher, lambda: len(receiver.to("/once")) >= 1)
    async with app_runtime(app).database.session_scope() as s:
        await s.execute(update(OutboxEvent).values(dispatched_at=None, lease_until=None))
    for _ in range(3):
        await dispatcher.run_once()
    ids = {r.headers["webhook-id"] for r in receiver.to("/once")}
    assert len(receiver.to("/once")) == 1
    assert uuid.UUID(ids.pop())
    assert json.loads(receiver.to("/once")[0].body)["type"] == "reminder.created"


async def test_a_hook_deleted_mid_delivery_loses_no_other_outcome(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    from vibes.db import utcnow

    user = await make_authed_user(app)
    doomed = await add_webhook(client, user, receiver.url("/a"), events=["reminder.created"])
    kept = await add_webhook(client, user, receiver.url("/b"), events=["reminder.created"])
    await due_reminder(client, user, seconds=3600)
    dispatcher = dispatcher_for(app)
    await dispatcher.dispatch_events()
    jobs = await dispatcher._claim_deliveries()
    assert len(jobs) == 2
    r = await client.delete(f"/api/v1/webhooks/{doomed['id']}", headers=user.headers)
    assert r.status_code == 204
    results = [(job, await dispatcher._send(job), utcnow()) for job in jobs]
    await dispatcher._record(results)
    r = await client.get(f"/api/v1/webhooks/{kept['id']}/deliveries", headers=user.headers)
    [delivery] = r.json()["items"]
    assert delivery["status"] == "succeeded"
    assert len(delivery["attempts"]) == 1


async def test_events_omitted_means_all_and_an_empty_list_is_refused(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    from vibes.recording.record import ALL_EVENT_TYPES

    user = await make_authed_user(app)
    r = await client.post(
        "/api/v1/webhooks", json={"url": receiver.url("/x"), "events": []}, headers=user.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"][-1] == "events"
    assert "omit the field" in r.json()["errors"][0]["msg"]
    for body in ({"url": receiver.url("/all")}, {"url": receiver.url("/all"), "events": None}):
        r = await client.post("/api/v1/webhooks", json=body, headers=user.headers)
        assert r.status_code == 201, r.text
        assert sorted(r.json()["events"]) == sorted(ALL_EVENT_TYPES)
        got = await client.get(f"/api/v1/webhooks/{r.json()['id']}", headers=user.headers)
        assert sorted(got.json()["events"]) == sorted(ALL_EVENT_TYPES)
    # Such a hook receives every type, as before.
    await due_reminder(client, user)
    dispatcher = dispatcher_for(app)
    await run_until(dispatcher, lambda: len(receiver.requests) >= 4)
    types = {json.loads(item.body)["type"] for item in receiver.requests}
    assert types == {"reminder.created", "reminder.due"}


async def test_events_created_before_the_webhook_are_not_delivered_to_it(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    before = await client.post(
        "/api/v1/journals", json={"title": "old news", "content": "x"}, headers=user.headers
    )
    assert before.status_code == 201
    # The event exists, undispatched, when the hook is registered.
    hook = await add_webhook(client, user, receiver.url("/fresh"))
    await due_reminder(client, user, seconds=3600)
    dispatcher = dispatcher_for(app)
    await run_until(dispatcher, lambda: len(receiver.to("/fresh")) >= 1)
    for _ in range(3):
        await dispatcher.run_once()
    got = [json.loads(r.body) for r in receiver.to("/fresh")]
    assert [p["type"] for p in got] == ["reminder.created"]
    r = await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user.headers)
    assert [d["event_type"] for d in r.json()["items"]] == ["reminder.created"]


async def test_worker_logs_name_a_webhook_by_its_host_never_its_path_or_query(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    # Receivers put their secret in the URL (`/hooks/<token>`, `?key=`): httpx logged every
    # request's full URL at INFO, and so the worker's log held it.
    user = await make_authed_user(app)
    url = receiver.url("/hooks/path-secret-0x5eed") + "?key=query-secret-0xf00d"
    await add_webhook(client, user, url, events=["reminder.created"])
    receiver.default_status = 410  # fails for good at once: the failure is logged
    with configured_logs(app_runtime(app).settings, level="DEBUG") as output:
        await due_reminder(client, user, seconds=3600)
        dispatcher = dispatcher_for(app)
        await run_until(dispatcher, lambda: len(receiver.requests) >= 1)
        await dispatcher.run_once()
    text = output.getvalue()
    assert "delivery failed for good" in text
    assert f"127.0.0.1:{receiver.port}" in text
    assert "secret-0x" not in text
    assert "/hooks/" not in text


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://hooks.example.com/t/abc?sig=1", "hooks.example.com"),
        ("http://user:pw@hooks.example.com:8080/x", "hooks.example.com:8080"),
        ("http://[2001:db8::1]:9000/secret", "[2001:db8::1]:9000"),
        ("http://[::1", "?"),
    ],
)
def test_url_host_keeps_only_the_host_and_port(url: str, host: str) -> None:
    assert url_host(url) == host


async def test_the_signing_secret_is_stored_sealed_never_in_the_clear(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = await make_authed_user(app)
    hook = await add_webhook(client, user, receiver.url("/h"))
    secret = str(hook["secret"])
    assert secret.startswith("whsec_")
    async with app_runtime(app).database.read_sessionmaker() as session:
        row = (await session.execute(text("SELECT * FROM webhooks"))).mappings().one()
    assert all(secret not in str(value) for value in row.values())
    assert all(secret.removeprefix("whsec_") not in str(value) for value in row.values())
    key = sealing_key(app_runtime(app).keyring)
    assert open_secret(key, uuid.UUID(str(hook["id"])), row["secret_sealed"]) == secret
    with pytest.raises(SealBroken):  # bound to its row: no use on another
        open_secret(key, uuid.uuid4(), row["secret_sealed"])


async def test_an_idempotent_webhook_creation_keeps_its_replay_sealed(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    # The answer to POST /webhooks holds the secret; the copy kept for Idempotency-Key
    # replays (24 hours) must not hold it in the clear.
    user = await make_authed_user(app)
    headers = user.headers | {"Idempotency-Key": "hook-1"}
    body = {"url": receiver.url("/h")}
    first = await client.post("/api/v1/webhooks", json=body, headers=headers)
    again = await client.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    secret = first.json()["secret"].removeprefix("whsec_")
    async with app_runtime(app).database.read_sessionmaker() as session:
        rows = (await session.execute(text("SELECT * FROM idempotency_keys"))).mappings().all()
    assert rows
    for row in rows:
        assert all(secret.encode() not in bytes(v) for v in row.values() if isinstance(v, bytes))
        assert all(secret not in str(v) for v in row.values())
