"""Insights in the browser: streaks, the year heatmap (a day opens that day's entries),
mood and tag charts, and "On this day" on the journal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import DESKTOP, EXPECT_TIMEOUT_MS, Server, Watch
from tests.web.flows import api_client, screenshot, settle, sign_in, write_entry

EMAIL = "insights@example.com"
ZONE = "Europe/Berlin"


def _noon(days_ago: int = 0, years_ago: int = 0) -> str:
    day = dt.datetime.now(ZoneInfo(ZONE)).date() - dt.timedelta(days=days_ago)
    day = day.replace(year=day.year - years_ago) if (day.month, day.day) != (2, 29) else day
    return dt.datetime.combine(day, dt.time(12), ZoneInfo(ZONE)).isoformat()


def _fill(page: Page, selector: str) -> tuple[float, float, float]:
    """The rendered fill of the first element matched, as sRGB in 0..1 (Chromium gives
    `rgb(…)` for plain colours and `color(srgb …)` for mixed ones)."""
    value: str = page.locator(selector).first.evaluate("e => getComputedStyle(e).fill")
    if value.startswith("color(srgb "):
        r, g, b = (float(v) for v in value.removeprefix("color(srgb ").rstrip(")").split()[:3])
        return r, g, b
    r, g, b = (float(v) / 255 for v in value.removeprefix("rgb(").rstrip(")").split(",")[:3])
    return r, g, b


def _contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG's contrast ratio of two colours."""

    def luminance(rgb: tuple[float, float, float]) -> float:
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    low, high = sorted((luminance(a), luminance(b)))
    return (high + 0.05) / (low + 0.05)


def test_insights_show_streaks_charts_and_open_a_day(
    server: Server, browser: Browser, shots_dir: Path
) -> None:
    with api_client(server.url, EMAIL) as client:
        client.patch("/users/me", json={"timezone": ZONE})
        for days, title, mood, tags in [
            (0, "Today by the sea", 8, ["sea"]),
            (1, "Yesterday in the garden", 6, ["garden", "sea"]),
            (2, "Rainy reading", 4, ["books"]),
        ]:
            write_entry(
                client,
                title=title,
                content="A few words.",
                entry_date=_noon(days),
                mood_rating=mood,
                tags=tags,
            )
        write_entry(client, title="A year ago exactly", content="Then.", entry_date=_noon(0, 1))

    context = browser.new_context(viewport=DESKTOP, timezone_id=ZONE)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch()
    page = watch.attach(context.new_page())
    sign_in(page, server.url, EMAIL)

    # The journal shows what was written on this day in earlier years.
    on_this_day = page.get_by_role("complementary", name="On this day")
    expect(on_this_day.get_by_role("link", name="A year ago exactly")).to_be_visible()
    screenshot(page, shots_dir, "journal-on-this-day")

    page.get_by_role("link", name="Insights").first.click()
    expect(page.get_by_role("heading", name="Insights", level=1)).to_be_visible()
    settle(page)
    stats = page.locator(".stats")
    expect(stats.locator(".stat", has_text="Current streak")).to_contain_text("3 days")
    expect(stats.locator(".stat", has_text="Entries")).to_contain_text("4")
    expect(page.locator(".mood-chart .mood-dot")).not_to_have_count(0)
    expect(
        page.get_by_role("img", name="Tag shares: sea 50%, books 25%, garden 25%")
    ).to_be_visible()
    screenshot(page, shots_dir, "insights")
    # A day with one entry stands out from an empty day, on paper and at night (it was a
    # pale tint a reader could not tell from an empty day: 1.14 and 1.11).
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        one, empty = _fill(page, ".heatmap rect.heat-1"), _fill(page, ".heatmap rect.heat-0")
        assert _contrast(one, empty) >= 1.5, (scheme, one, empty)
    page.emulate_media(color_scheme="light")

    yesterday = (dt.datetime.now(ZoneInfo(ZONE)).date() - dt.timedelta(days=1)).isoformat()
    page.locator(f'.heatmap a[data-day="{yesterday}"]').click()
    expect(page).to_have_url(f"{server.url}/?from={yesterday}&to={yesterday}")
    expect(page.get_by_role("link", name="Yesterday in the garden")).to_be_visible()
    expect(page.get_by_role("link", name="Today by the sea")).to_have_count(0)
    context.close()
    assert watch.problems == []
