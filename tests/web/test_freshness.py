"""The web app stays fresh from the sync feed: one person on a laptop and a phone at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, EXPECT_TIMEOUT_MS, PHONE, Server, Watch
from tests.web.flows import api_client, go, screenshot, sign_in, sign_up, write_entry

EMAIL = "two-devices@example.com"


def timeline_titles(page: Page) -> list[str]:
    return page.locator(".entry-card h3").all_inner_texts()


@pytest.mark.slow
def test_another_devices_writes_and_deletes_reach_an_open_timeline(
    server: Server, browser: Browser, shots_dir: Path
) -> None:
    watch = Watch()
    laptop_context = browser.new_context(viewport=DESKTOP)
    phone_context = browser.new_context(viewport=PHONE)
    for context in (laptop_context, phone_context):
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
    laptop = watch.attach(laptop_context.new_page())
    sign_up(laptop, server.url, EMAIL)
    go(laptop, "/")
    expect(laptop.get_by_role("heading", name="A blank page, Robin")).to_be_visible()

    # The phone writes an entry through its own editor; the laptop's open timeline shows
    # it without a reload (the live stream says something changed, the feed says what).
    phone = watch.attach(phone_context.new_page())
    sign_in(phone, server.url, EMAIL)
    go(phone, "/write")
    phone.get_by_label("Title").fill("Written on the train")
    phone.get_by_label("Entry text (Markdown)").fill("Fields, then a river, then the sea.")
    expect(phone.locator("#save-state")).to_have_text("Saved", timeout=15_000)
    expect(phone).to_have_url(re.compile(r"/entries/[0-9a-f-]{36}$"))
    expect(laptop.get_by_role("link", name=re.compile("Written on the train"))).to_be_visible()

    # An edit on the phone replaces the card's text on the laptop.
    phone.get_by_label("Title").fill("Written on the night train")
    expect(phone.locator("#save-state")).to_have_text("Saved", timeout=15_000)
    expect(
        laptop.get_by_role("link", name=re.compile("Written on the night train"))
    ).to_be_visible()
    screenshot(laptop, shots_dir, "freshness-laptop-after-phone-wrote")

    # The phone deletes it; it leaves the laptop's timeline.
    phone.get_by_role("button", name="Delete", exact=True).click()
    phone.get_by_role("button", name="Delete for good").click()
    expect(laptop.get_by_role("link", name=re.compile("night train"))).to_have_count(0)

    laptop_context.close()
    phone_context.close()
    assert watch.problems == []


@pytest.mark.slow
def test_a_tab_that_missed_the_stream_catches_up_when_it_regains_focus(
    server: Server, browser: Browser
) -> None:
    watch = Watch()
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = watch.attach(context.new_page())
    with api_client(server.url, "focus@example.com") as phone:
        older = write_entry(phone, title="Already there", entry_date="2026-01-02T08:00:00Z")
        sign_in(page, server.url, "focus@example.com")
        expect(page.get_by_role("link", name=re.compile("Already there"))).to_be_visible()
        # The live stream goes quiet (a laptop lid closed, a proxy that dropped it) ...
        page.evaluate("async () => (await import('/assets/events.js')).stopEvents()")
        write_entry(phone, title="Written while away", entry_date="2026-03-04T08:00:00Z")
        assert phone.delete(f"/journals/{older['id']}").status_code == 204
        page.wait_for_timeout(500)
        assert timeline_titles(page) == ["Already there"]
        # ... and coming back to the tab is enough.
        page.evaluate("() => window.dispatchEvent(new Event('focus'))")
        expect(page.get_by_role("link", name=re.compile("Written while away"))).to_be_visible()
        expect(page.get_by_role("link", name=re.compile("Already there"))).to_have_count(0)
    context.close()
    assert watch.problems == []
