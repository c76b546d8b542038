"""The import and export view in Chromium: download an export, upload an import with a
progress bar and its summary, and a malformed file's precise error."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.web.conftest import DESKTOP, EXPECT_TIMEOUT_MS, Server, Watch
from tests.web.flows import api_client, go, sign_in, write_entry

EMAIL = "portability@example.com"

JRNL = {
    "tags": {"@garden": 1},
    "entries": [
        {
            "title": "Planted tulips.",
            "body": "Forty bulbs @garden.",
            "date": "2026-10-12",
            "time": "17:05",
            "tags": ["@garden"],
            "starred": False,
        },
        {
            "title": "First snow.",
            "body": "",
            "date": "2026-11-30",
            "time": "08:00",
            "tags": [],
            "starred": True,
        },
    ],
}


def test_export_download_and_import_upload_with_summary_and_errors(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    with api_client(server.url, EMAIL) as client:
        write_entry(client, title="Already here", content="Before the import.", tags=["home"])
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    watch = Watch(expected_statuses=(422,))  # the malformed file, on purpose
    page = watch.attach(context.new_page())
    sign_in(page, server.url, EMAIL)
    go(page, "/import-export")
    expect(page.get_by_role("heading", name="Import and export", level=1)).to_be_visible()

    with page.expect_download() as downloading:
        page.get_by_role("listitem").filter(has_text="Everything (JSON)").get_by_role(
            "button", name="Download"
        ).click()
    saved = tmp_path / "export.json"
    downloading.value.save_as(saved)
    exported = json.loads(saved.read_text("utf-8"))
    assert exported["format"] == "vibes"
    assert [j["title"] for j in exported["journals"]] == ["Already here"]

    good = tmp_path / "journal.json"
    good.write_text(json.dumps(JRNL), "utf-8")
    page.get_by_label("From").select_option("jrnl")
    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Import", exact=True).click()
    summary = page.get_by_role("status").filter(has_text="Imported:")
    expect(summary).to_contain_text("2 journals")
    expect(summary).to_contain_text("tags")

    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Imported:")).to_contain_text("nothing new")

    bad = tmp_path / "broken.json"
    broken = json.loads(json.dumps(JRNL))
    broken["entries"][1]["date"] = "30.11.2026"
    bad.write_text(json.dumps(broken), "utf-8")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was imported")
    expect(page.get_by_role("alert")).to_contain_text("entries/1/date")

    with api_client(server.url, EMAIL, register=False) as client:
        titles = [e["title"] for e in client.get("/journals").json()["items"]]
    assert sorted(titles) == ["Already here", "First snow.", "Planted tulips."]
    context.close()
    assert watch.problems == []
