"""Logs never carry what people write or the keys to it: a whole scenario runs with planted
canaries (password, tokens, phrase, entry text, search term, mail body, webhook secret), and
the captured log is searched for every one of them."""

from __future__ import annotations

import email
import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Backend, make_settings
from tests.events.conftest import Mailbox
from tests.events.helpers import dispatcher_for, run_until
from tests.events.servers import Receiver
from tests.platform.logcapture import configured_logs
from vibes.config import Settings

PASSWORD = "canary-password-Quetzal-7731"
WRONG_PASSWORD = "canary-wrong-password-Ocelot-1187"
NEW_PASSWORD = "canary-new-password-Tapir-5521"
PHRASE = "canary phrase of the hidden garden 4417"
WRONG_PHRASE = "canary wrong phrase of the garden 9904"
TITLE = "canary-title-Marmoset"
CONTENT = "canary-content-Axolotl: today I told nobody about the lighthouse."
SECRET_CONTENT = "canary-secret-content-Pangolin"
SEARCH = "canarysearchnarwhal"
EMAIL = "canary.person.okapi@example.com"


@pytest.fixture
def settings(backend: Backend, tmp_path: Path, smtp_server: Mailbox) -> Settings:
    return make_settings(
        backend,
        tmp_path / "data",
        webhooks_allow_private=True,
        dispatcher_poll_seconds=0.1,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
    )


async def test_no_secret_or_journal_text_reaches_the_log(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    receiver: Receiver,
    smtp_server: Mailbox,
) -> None:
    planted: list[str] = [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, PHRASE, WRONG_PHRASE]
    planted += [TITLE, CONTENT, SECRET_CONTENT, SEARCH, EMAIL]
    # At DEBUG, the most an operator can ask for. The test's own SMTP server (aiosmtpd)
    # logs what it receives; it is not part of Vibes.
    smtp_log = logging.getLogger("mail.log")
    smtp_log.disabled = True
    with configured_logs(settings, "json", level="DEBUG") as output:
        reg = await client.post(
            "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}
        )
        assert reg.status_code == 201, reg.text
        bad = await client.post(
            "/api/v1/auth/login", json={"email": EMAIL, "password": WRONG_PASSWORD}
        )
        assert bad.status_code == 401
        login = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        pair = login.json()
        planted += [pair["access_token"], pair["refresh_token"]]
        refreshed = (
            await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).json()
        planted += [refreshed["access_token"], refreshed["refresh_token"]]
        auth = {"Authorization": f"Bearer {refreshed['access_token']}"}

        hook = await client.post("/api/v1/webhooks", json={"url": receiver.url()}, headers=auth)
        assert hook.status_code == 201, hook.text
        planted.append(hook.json()["secret"])

        entry = await client.post(
            "/api/v1/journals",
            json={"title": TITLE, "content": f"{CONTENT} {SEARCH}", "tags": ["canarytag"]},
            headers=auth,
        )
        assert entry.status_code == 201
        found = await client.get("/api/v1/search", params={"q": SEARCH}, headers=auth)
        assert found.status_code == 200
        refused = await client.post(
            "/api/v1/journals", json={"title": TITLE, "content": CONTENT, "mood": 99}, headers=auth
        )
        assert refused.status_code == 422

        tag = await client.post(
            "/api/v1/secret-tags", json={"name": "canarysecrettag", "phrase": PHRASE}, headers=auth
        )
        assert tag.status_code == 201, tag.text
        wrong = await client.post(
            "/api/v1/secret-tags/unlock", json={"phrase": WRONG_PHRASE}, headers=auth
        )
        assert wrong.status_code == 401
        unlocked = await client.post(
            "/api/v1/secret-tags/unlock", json={"phrase": PHRASE}, headers=auth
        )
        assert unlocked.status_code == 200, unlocked.text
        unlock_token = unlocked.json()["unlock_token"]
        planted.append(unlock_token)
        secret = await client.post(
            "/api/v1/journals",
            json={"title": "s", "content": SECRET_CONTENT, "secret_tag_id": tag.json()["id"]},
            headers={**auth, "X-Vibes-Unlock": unlock_token},
        )
        assert secret.status_code == 201, secret.text

        reset = await client.post("/api/v1/auth/password-reset", json={"email": EMAIL})
        assert reset.status_code == 202
        dispatcher = dispatcher_for(app)
        await run_until(
            dispatcher, lambda: bool(smtp_server.messages) and bool(receiver.to("/hook"))
        )
        message = email.message_from_string(smtp_server.messages[0]["data"])
        mail = "".join(
            part.get_payload(decode=True).decode()
            for part in message.walk()
            if part.get_content_type() == "text/plain"
        )
        planted.append(mail.strip())
        match = re.search(r"token=([A-Za-z0-9_\-]+)", mail)
        assert match is not None, mail
        reset_token = match.group(1)
        planted.append(reset_token)
        done = await client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": reset_token, "new_password": NEW_PASSWORD},
        )
        assert done.status_code == 204, done.text

    smtp_log.disabled = False
    text = output.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) >= 12, "the access log is part of what is searched"
    assert any(line.get("event") == "delivery" for line in lines)
    leaked = [canary for canary in planted if canary in text]
    assert leaked == [], f"found in the log: {leaked}"
    # Partial leaks count too: the distinctive word of each text canary.
    for word in ("Quetzal", "Ocelot", "Tapir", "hidden garden", "Marmoset", "Axolotl", "Pangolin"):
        assert word not in text, word
