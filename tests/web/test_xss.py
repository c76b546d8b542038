"""Hostile text in titles, content, tag names and search terms is shown, never run.

Every payload would set `window.__xss` (or open a dialog) if it ran; the page's console
must stay clean too, since a blocked inline script or handler would show that hostile
markup reached the DOM as HTML."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, EXPECT_TIMEOUT_MS, Server, Watch
from tests.web.flows import api_client, go, settle, sign_in, write_entry

EMAIL = "xss@example.com"
CORPUS = [
    "<script>window.__xss=1;alert(1)</script>",
    '<img src=x onerror="window.__xss=1;alert(1)">',
    '<svg onload="window.__xss=1"><script>alert(1)</script></svg>',
    "<svg><a xlink:href=\"javascript:alert(1)\"><text x='20' y='20'>svg link</text></a></svg>",
    "[click me](javascript:window.__xss=1)",
    '<a href="javascript:alert(1)">plain link</a>',
    '<a href="JaVaScRiPt:alert(1)">mixed case</a>',
    '![pic](x" onerror="alert(1))',
    '"><iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<details open ontoggle="alert(1)">details</details>',
    "<style>body{display:none}</style>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    '<div style="background:url(javascript:alert(1))">styled</div>',
    '<object data="javascript:alert(1)"></object>',
    '<input autofocus onfocus="alert(1)">',
]
TAGS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)"]


def assert_clean(page: Page, watch: Watch) -> None:
    settle(page)
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__xss") is None
    assert watch.problems == []


@pytest.mark.slow
def test_the_corpus_never_executes(server: Server, browser: Browser) -> None:
    ids = []
    with api_client(server.url, EMAIL) as client:
        for number, payload in enumerate(CORPUS):
            entry = write_entry(
                client,
                title=f"{payload} #{number}"[:500],
                content=f"Payload {number} beacon\n\n{payload}\n\n*inline* {payload}",
                tags=[TAGS[number % len(TAGS)]],
            )
            ids.append(entry["id"])

    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch()
    page = watch.attach(context.new_page())
    sign_in(page, server.url, EMAIL)
    # The timeline, scrolled to the end, with every card.
    expect(page.locator(".entry-card")).to_have_count(len(CORPUS[:20]) if len(CORPUS) <= 20 else 20)
    page.mouse.wheel(0, 20_000)
    expect(page.locator(".entry-card")).to_have_count(len(CORPUS))
    assert_clean(page, watch)

    # Each entry in the editor: the Markdown preview goes through the sanitiser.
    for entry_id in ids:
        go(page, f"/entries/{entry_id}")
        expect(page.locator(".preview")).to_contain_text("beacon")
        assert page.locator(".preview script, .preview iframe, .preview [onerror]").count() == 0
        assert page.locator('.preview a[href^="javascript" i]').count() == 0
    assert_clean(page, watch)

    # The tag sidebar and tag manager show the names as text.
    page.get_by_role("link", name="Tags", exact=True).click()
    expect(page.get_by_role("heading", name="Tags", exact=True, level=1)).to_be_visible()
    for name in TAGS:
        expect(page.locator(".chip", has_text=name).first).to_be_visible()
    assert_clean(page, watch)

    # Search for each payload: the terms and highlighted snippets stay text.
    for payload in [*CORPUS[:6], *TAGS]:
        page.get_by_role("link", name="Search", exact=True).click()
        box = page.get_by_label("Search your journal")
        box.fill(payload)
        box.press("Enter")
        expect(page).to_have_url(re.compile(r"/search\?q="))
        expect(page.locator(".results, .empty-state")).to_be_visible()
    page.get_by_label("Search your journal").fill("beacon")
    page.get_by_label("Search your journal").press("Enter")
    expect(page.locator(".result mark").first).to_have_text(re.compile("beacon", re.I))
    assert_clean(page, watch)
    context.close()
