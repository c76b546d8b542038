"""What a flaky network, a second tab and a mailed reset link do to the web app."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Route, expect

from tests.web.conftest import (
    DESKTOP,
    EXPECT_TIMEOUT_MS,
    Server,
    Watch,
    _start_server,
    _stop,
    free_port,
)
from tests.web.flows import api_client, sign_up


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Mailbox, int]
) -> Iterator[Server]:
    """This module's server mails through the test's SMTP server."""
    process, served = _start_server(
        tmp_path_factory.mktemp("serve"),
        VIBES_SMTP_HOST="127.0.0.1",
        VIBES_SMTP_PORT=str(mailbox[1]),
        VIBES_SMTP_STARTTLS="false",
    )
    try:
        yield served
    finally:
        _stop(process)


@pytest.mark.slow
def test_a_lost_answer_is_retried_with_the_same_key_and_never_makes_two(
    server: Server, browser: Browser
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch()
    page = watch.attach(context.new_page())
    sign_up(page, server.url, "flaky@example.com")
    keys: list[str | None] = []

    def lose_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # the server creates the entry...
            route.abort("connectionreset")  # ...and its answer is lost on the way back
        else:
            route.continue_()

    page.route(re.compile(r".*/api/v1/journals$"), lose_first_answer)
    page.get_by_label("Title").fill("Written on a train")
    page.get_by_label("Entry text (Markdown)").fill("The tunnel ate the signal.")
    expect(page.locator("#save-state")).to_have_text(re.compile("Kept on this device"))
    # Kept as a draft on this device meanwhile.
    assert "Written on a train" in page.evaluate("() => JSON.stringify(localStorage)")
    page.evaluate("() => dispatchEvent(new Event('online'))")
    expect(page.locator("#save-state")).to_have_text("Saved")
    expect(page).to_have_url(re.compile(r"/entries/[0-9a-f-]{36}$"))
    assert len(keys) >= 2
    assert keys[0]
    assert all(key == keys[0] for key in keys)
    assert "Written on a train" not in page.evaluate("() => JSON.stringify(localStorage)")
    context.close()
    with api_client(server.url, "flaky@example.com", register=False) as client:
        titles = [e["title"] for e in client.get("/journals").json()["items"]]
    assert titles == ["Written on a train"]
    # Only the lost answer itself may show as a failed load.
    assert [p for p in watch.problems if "ERR_CONNECTION_RESET" not in p] == []


@pytest.mark.slow
def test_tabs_refreshing_at_the_same_moment_keep_the_session(
    server: Server, browser: Browser
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch()
    first = watch.attach(context.new_page())
    sign_up(first, server.url, "tabs@example.com")
    second = watch.attach(context.new_page())
    second.goto(server.url + "/")
    expect(second.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    # Both tabs spend the shared cookie at the same instant, five times over.
    schedule = """at => {
        window.__refreshed = null;
        setTimeout(async () => {
            const api = await import('/assets/api.js');
            try { await api.refresh(); window.__refreshed = 'ok'; }
            catch (error) { window.__refreshed = 'failed ' + error.status; }
        }, Math.max(0, at - Date.now()));
    }"""
    for _ in range(5):
        at = first.evaluate("() => Date.now() + 300")
        first.evaluate(schedule, at)
        second.evaluate(schedule, at)
        for page in (first, second):
            page.wait_for_function("() => window.__refreshed !== null")
            assert page.evaluate("() => window.__refreshed") == "ok"
    for page in (first, second):
        status = page.evaluate(
            """async () => {
                const api = await import('/assets/api.js');
                return (await api.send('GET', '/users/me', {raw: true})).status;
            }"""
        )
        assert status == 200
    context.close()
    assert watch.problems == []


@pytest.mark.slow
def test_password_reset_from_the_mailed_link(
    server: Server, browser: Browser, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    email = "forgetful@example.com"
    with api_client(server.url, email):
        pass
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch()
    page = watch.attach(context.new_page())
    page.goto(server.url + "/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    for _ in range(100):
        if box.messages:
            break
        page.wait_for_timeout(100)
    body = box.messages[-1].get_payload(decode=True)
    assert isinstance(body, bytes)
    link = re.search(r"http://\S+/reset-password#token=[A-Za-z0-9_\-]+", body.decode())
    assert link is not None
    page.goto(link.group(0))
    # The token leaves the address bar at once.
    expect(page).to_have_url(server.url + "/reset-password")
    new_password = "amber lanterns drift downstream"
    page.get_by_label("New password").fill(new_password)
    page.get_by_label("The same again").fill(new_password)
    page.get_by_role("button", name="Save the new password").click()
    expect(page).to_have_url(re.compile("/sign-in$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(new_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    context.close()
    assert watch.problems == []


@pytest.mark.slow
def test_problem_documents_become_plain_messages(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch(expected_statuses=(429, 413))
    page = watch.attach(context.new_page())
    problem = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
    page.route(
        re.compile(r".*/auth/web/login$"),
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "42", "Content-Type": "application/problem+json"},
            body=json.dumps({**problem, "detail": "Too many attempts."}),
        ),
    )
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill("someone@example.com")
    page.get_by_label("Password").fill("whatever it is")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Too many attempts. Please wait 42 seconds and try again."
    )
    page.unroute(re.compile(r".*/auth/web/login$"))

    sign_up(page, server.url, "big@example.com")
    page.route(
        re.compile(r".*/api/v1/journals$"),
        lambda route: route.fulfill(
            status=413,
            headers={"Content-Type": "application/problem+json"},
            body=json.dumps({"type": "about:blank", "title": "Too large", "status": 413}),
        ),
    )
    page.get_by_label("Title").fill("A very long entry")
    page.get_by_label("Entry text (Markdown)").fill("Imagine a mebibyte of words here.")
    expect(page.get_by_role("alert")).to_contain_text("too large to save")
    expect(page.locator("#save-state")).to_have_text("Not saved")
    context.close()
    assert watch.problems == []
