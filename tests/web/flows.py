"""Steps the browser tests share: accounts, seeding through the API, screenshots, axe."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.web.conftest import VENDOR

PASSWORD = "quiet rivers under paper moons"


def sign_up(page: Page, base: str, email: str, name: str = "Robin") -> None:
    page.goto(f"{base}/sign-up")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my journal").click()
    expect(page).to_have_url(re.compile("/write$"))


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Journal")).to_be_visible()


@contextmanager
def api_client(base: str, email: str, *, register: bool = True) -> Iterator[httpx.Client]:
    """A bearer-token client of the JSON API, for seeding what a test needs fast."""
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        if register:
            answer = client.post("/auth/register", json={"email": email, "password": PASSWORD})
            assert answer.status_code == 201, answer.text
        tokens = client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        yield client


def write_entry(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"title": "Untitled", "content": "", **fields}
    answer = client.post("/journals", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def go(page: Page, path: str) -> None:
    """Navigate inside the app (as its links do), keeping the page and its memory."""
    page.evaluate(
        "url => { history.pushState(null, '', url);"
        " dispatchEvent(new PopStateEvent('popstate')); }",
        path,
    )


def settle(page: Page) -> None:
    """Wait until nothing on the page is loading (the live stream never goes idle)."""
    page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")
    page.evaluate("() => document.fonts.ready")


def screenshot(page: Page, folder: Path, name: str) -> None:
    settle(page)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, animations="disabled")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations axe-core finds on the page now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(VENDOR / "axe.min.js"))
    result = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {resultTypes: ['violations']});
            return r.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    found: list[dict[str, Any]] = json.loads(json.dumps(result))
    return found
