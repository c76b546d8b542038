"""The page, its files and its headers, then one sign-up in the browser."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, expect

from tests.web.conftest import DESKTOP, Server, Watch


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
