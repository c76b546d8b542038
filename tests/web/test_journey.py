"""The page and its headers; then the acceptance walk through the app in a real browser,
against a real `vibes serve`: sign up, write, tag, search, a conflict between two tabs,
the vault, a due reminder, sign out. The page never shows a dialog or logs an error."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, EXPECT_TIMEOUT_MS, Server, Watch
from tests.web.flows import sign_up

ZONE = "Europe/Berlin"
# Records the browser notifications the page shows (headless Chromium shows none).
NOTIFICATION_SPY = """
(() => {
  window.__notifications = [];
  const Native = window.Notification;
  if (!Native) return;
  class Spy extends Native {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push(title);
    }
  }
  window.Notification = Spy;
})();
"""


def edit_content(page: Page, text: str) -> None:
    page.get_by_label("Entry text (Markdown)").fill(text)


def expect_saved(page: Page) -> None:
    expect(page.locator("#save-state")).to_have_text("Saved", timeout=15_000)


@pytest.mark.slow
def test_journey_from_sign_up_to_sign_out(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP, timezone_id=ZONE)
    context.grant_permissions(["notifications"], origin=server.url)
    context.add_init_script(NOTIFICATION_SPY)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch(expected_statuses=(412,))  # the conflict
    page = watch.attach(context.new_page())

    # Sign up: the editor opens on a new entry.
    sign_up(page, server.url, "journey@example.com")

    # Write, with a tag picked up by the sidebar, and autosave.
    page.get_by_label("Title").fill("Morning by the canal")
    page.get_by_role("combobox", name="Tags").fill("outdoors")
    page.get_by_role("combobox", name="Tags").press("Enter")
    edit_content(page, "The **heron** stood perfectly still by the water.")
    expect(page.locator(".preview strong")).to_have_text("heron")
    expect(page.locator("#word-count")).to_have_text("8 words")
    expect_saved(page)
    expect(page).to_have_url(re.compile(r"/entries/[0-9a-f-]{36}$"))
    entry_url = page.url
    expect(page.get_by_role("navigation", name="Main").get_by_text("outdoors")).to_be_visible()

    # Search finds it, the matched word highlighted.
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("/")
    expect(page).to_have_url(re.compile("/search$"))
    page.get_by_label("Search your journal").fill("heron")
    page.get_by_label("Search your journal").press("Enter")
    result = page.locator(".result").first
    expect(result.locator(".hit-title")).to_have_text("Morning by the canal")
    expect(result.locator("mark")).to_have_text("heron")

    # Two tabs edit the same entry: the second save meets a conflict, shown, not lost.
    page.goto(entry_url)
    expect(page.get_by_label("Entry text (Markdown)")).to_have_value(re.compile("heron"))
    other = watch.attach(context.new_page())
    other.goto(entry_url)
    expect(other.get_by_label("Entry text (Markdown)")).to_have_value(re.compile("heron"))
    edit_content(other, "Edited in the other tab: the heron flew off.")
    expect_saved(other)
    edit_content(page, "Edited in this tab: the heron caught a fish.")
    conflict = page.get_by_role("alertdialog")
    expect(conflict).to_be_visible()
    expect(conflict.locator(".conflict-mine")).to_have_text(re.compile("caught a fish"))
    expect(conflict.locator(".conflict-theirs")).to_have_text(re.compile("flew off"))
    conflict.get_by_role("button", name="Merge by hand").click()
    page.get_by_label("Combined text").fill("The heron flew off, then caught a fish.")
    page.get_by_role("button", name="Save the combined text").click()
    expect(conflict).to_be_hidden()
    expect_saved(page)
    other.reload()
    expect(other.get_by_label("Entry text (Markdown)")).to_have_value(
        "The heron flew off, then caught a fish."
    )
    other.close()

    # The vault: create (and unlock), write a secret entry, see it marked, lock: gone.
    page.get_by_role("link", name="Vault").click()
    page.get_by_label("Name of the secret tag").fill("Private")
    page.get_by_label("Choose a secret phrase").fill("lanterns over the harbour")
    page.get_by_label("The same phrase again").fill("lanterns over the harbour")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Open now")).to_be_visible()
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile("/write$"))
    page.get_by_label("Title").fill("A quiet secret")
    page.get_by_label("Vault").select_option(label="Private (secret)")
    edit_content(page, "Only the phrase opens this.")
    expect_saved(page)
    page.get_by_role("link", name="Journal").click()
    secret_card = page.locator(".entry-card", has_text="A quiet secret")
    expect(secret_card.locator(".badge-secret")).to_have_text(re.compile("Private"))
    page.get_by_role("link", name="Vault").click()
    page.get_by_role("button", name="Lock now").click()
    expect(page.get_by_text("The vault is locked.")).to_be_visible()
    page.get_by_role("link", name="Journal").click()
    expect(page.locator(".entry-card", has_text="Morning by the canal")).to_be_visible()
    expect(page.locator(".entry-card", has_text="A quiet secret")).to_have_count(0)

    # A reminder due now fires within seconds: a toast and a browser notification.
    page.get_by_role("link", name="Reminders").click()
    now = dt.datetime.now(ZoneInfo(ZONE))
    page.get_by_label("What").fill("Stretch your legs")
    page.get_by_label("Day").fill(now.strftime("%Y-%m-%d"))
    page.get_by_label("Time").fill(now.strftime("%H:%M"))
    page.get_by_role("button", name="Set reminder").click()
    expect(page.locator(".toast-reminder")).to_contain_text(
        "Reminder: Stretch your legs", timeout=20_000
    )
    assert page.evaluate("() => window.__notifications") == ["Stretch your legs"]

    # Sign out: back to the sign-in page, and a reload does not bring the session back.
    page.get_by_role("button", name="Sign out").first.click()
    expect(page).to_have_url(re.compile("/sign-in$"))
    page.reload()
    expect(page.get_by_role("heading", name="Welcome back")).to_be_visible()
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile("/sign-in$"))
    context.close()
    assert watch.problems == []


def test_page_has_a_strict_csp_and_hashed_cached_assets(server: Server) -> None:
    page = httpx.get(server.url + "/", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert page.headers["content-encoding"] == "gzip"
    script = re.search(r'src="(/assets/app\.[0-9a-f]{10}\.js)"', page.text)
    assert script is not None
    asset = httpx.get(server.url + script.group(1), headers={"Accept-Encoding": "gzip"})
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-encoding"] == "gzip"
    assert asset.headers["content-type"].startswith("text/javascript")
    reset = httpx.get(server.url + "/reset-password")
    assert reset.status_code == 200
    assert reset.headers["content-security-policy"] == csp


def test_sign_up_lands_in_the_editor(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch()
    page = watch.attach(context.new_page())
    page.goto(server.url)
    expect(page).to_have_url(re.compile("/sign-in$"))
    page.get_by_role("link", name="Create a journal").click()
    page.get_by_label("Email").fill("smoke@example.com")
    page.get_by_label("Password").fill("quiet rivers under paper moons")
    page.get_by_role("button", name="Create my journal").click()
    expect(page).to_have_url(re.compile("/write$"))
    expect(page.get_by_label("Title")).to_be_focused()
    context.close()
    assert watch.problems == []
