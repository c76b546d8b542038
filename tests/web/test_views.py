"""Every main view, light and dark, desktop and phone: a screenshot of each (for a person
to look at) and an axe-core check with no serious or critical violation."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, EXPECT_TIMEOUT_MS, PHONE, Server, Watch
from tests.web.flows import api_client, axe_violations, go, screenshot, settle, sign_in, write_entry

EMAIL = "views@example.com"
PHRASE = "seven paper boats at dawn"


@pytest.fixture(scope="module")
def seeded(server: Server) -> Iterator[dict[str, str]]:
    with api_client(server.url, EMAIL) as client:
        client.patch("/users/me", json={"display_name": "Robin", "timezone": "Europe/Berlin"})
        today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        entry = write_entry(
            client,
            title="A slow Sunday",
            content="Coffee on the balcony, then a long walk by the **river**.\n\n"
            "- bread from the corner bakery\n- call Mum\n\n> Rest is not idleness.",
            tags=["weekend", "walks"],
            mood_rating=8,
            entry_date=today.isoformat(),
        )
        for days, title, tags, mood in [
            (1, "Rain all day", ["home"], 5),
            (3, "Finished the book", ["reading", "weekend"], 9),
            (9, "First frost", ["walks"], 7),
        ]:
            write_entry(
                client,
                title=title,
                content=f"{title}. The river was quiet and the light was low.",
                tags=tags,
                mood_rating=mood,
                entry_date=(today - dt.timedelta(days=days)).isoformat(),
            )
        client.patch(f"/tags/{client.get('/tags').json()[0]['id']}", json={"color": "#c0703a"})
        secret = client.post("/secret-tags", json={"name": "Letters", "phrase": PHRASE}).json()
        unlock = client.post("/secret-tags/unlock", json={"phrase": PHRASE}).json()
        vault = client.post(
            "/journals",
            json={
                "title": "To my future self",
                "content": "Keep going.",
                "secret_tag_id": secret["id"],
            },
            headers={"X-Vibes-Unlock": unlock["unlock_token"]},
        )
        assert vault.status_code == 201, vault.text
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        client.post(
            "/reminders",
            json={"title": "Write three lines", "remind_at": soon, "recurrence": "daily"},
        )
        client.post(
            "/reminders", json={"title": "Water the plants", "remind_at": soon, "priority": 1}
        )
        yield {"entry_id": entry["id"]}


VIEWS = [
    ("timeline", "/", "Journal"),
    ("editor", "/entries/{entry_id}", None),
    ("search", "/search?q=river", "Search"),
    ("calendar", "/calendar", None),
    ("insights", "/insights", "Insights"),
    ("tags", "/tags", "Tags"),
    ("vault", "/vault", "Vault"),
    ("reminders", "/reminders", "Reminders"),
    ("settings", "/settings", "Settings"),
    ("security", "/security", "Security"),
    ("portability", "/import-export", "Import and export"),
]


def open_view(page: Page, base: str, path: str, heading: str | None) -> None:
    page.goto(base + path)
    if heading:
        expect(page.get_by_role("heading", name=heading, exact=True, level=1)).to_be_visible()
    settle(page)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_main_view_screenshot_and_accessibility(
    server: Server,
    browser: Browser,
    seeded: dict[str, str],
    shots_dir: Path,
    scheme: str,
    size: str,
) -> None:
    context = browser.new_context(
        viewport=DESKTOP if size == "desktop" else PHONE,
        color_scheme=scheme,  # type: ignore[arg-type]
        timezone_id="Europe/Berlin",
        # Only so the test can inject axe-core; the other browser tests keep the CSP.
        bypass_csp=True,
        is_mobile=size == "phone",
        has_touch=size == "phone",
    )
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch()
    page = watch.attach(context.new_page())
    check_axe = size == "desktop"
    violations: dict[str, list[object]] = {}
    # On a phone nothing may be wider than the screen: the page would pan sideways.
    overflowing: dict[str, int] = {}

    def shoot(name: str) -> None:
        for dismiss in page.get_by_role("button", name="Dismiss").all():
            dismiss.click()
        screenshot(page, shots_dir, f"{name}-{scheme}-{size}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > page.viewport_size["width"]:  # type: ignore[index]
            overflowing[name] = width
        if check_axe:
            found = axe_violations(page)
            if found:
                violations[name] = list(found)

    page.goto(server.url + "/sign-in")
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    shoot("sign-in")
    page.goto(server.url + "/sign-up")
    expect(page.get_by_role("heading", name="Start your journal")).to_be_visible()
    shoot("sign-up")
    sign_in(page, server.url, EMAIL)

    for name, path, heading in VIEWS:
        if name == "vault":
            # Unlocked, so the secret tag shows (and its entry in the timeline after).
            open_view(page, server.url, path, heading)
            page.get_by_label("Your secret phrase").fill(PHRASE)
            page.get_by_role("button", name="Unlock", exact=True).click()
            expect(page.get_by_text("Open now")).to_be_visible()
        else:
            page.get_by_role("link", name=re.compile(".")).first.wait_for()
            go(page, path.format(**seeded))
            if heading:
                expect(
                    page.get_by_role("heading", name=heading, exact=True, level=1)
                ).to_be_visible()
            if name == "editor":
                expect(page.get_by_label("Title")).to_have_value("A slow Sunday")
            if name == "search":
                expect(page.locator(".result mark").first).to_be_visible()
        shoot(name)
    # The timeline again, with the unlocked secret entry marked.
    go(page, "/")
    expect(page.locator(".badge-secret").first).to_be_visible()
    shoot("timeline-unlocked")
    if size == "phone":
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        shoot("menu")
    context.close()
    assert violations == {}
    assert overflowing == {}
    assert watch.problems == []
