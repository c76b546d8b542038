"""`format=markdown`: a zip of one Markdown file per entry with YAML front matter,
streamed; read back losslessly."""

from __future__ import annotations

import io
import zipfile

import httpx
import yaml
from fastapi import FastAPI

from tests.factories import AuthedUser
from tests.portability.conftest import API, document, export_bytes, import_file, without_ids
from tests.vault.conftest import make_vault

CONTENT = "---\nnot front matter\n---\n\n# Über\n\nLine with trailing spaces  \n\n```\ncode\n```"


async def _fill(client: httpx.AsyncClient, user: AuthedUser) -> None:
    for body in (
        {
            "title": "Über den Wolken: yes",
            "content": CONTENT,
            "entry_date": "2026-03-28T23:30:00Z",  # already the 29th in Berlin
            "tags": ["Reise", "café"],
            "mood_rating": 7,
        },
        {"title": "日本語", "content": "本文", "entry_date": "2026-04-01"},
        {"title": "true", "content": "", "entry_date": "2026-04-01"},
    ):
        response = await client.post(f"{API}/journals", json=body, headers=user.headers)
        assert response.status_code == 201, response.text


async def test_the_markdown_zip_holds_one_file_per_entry_with_front_matter(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await _fill(client, alice)
    content = await export_bytes(client, alice.headers, "markdown")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 3
        first = next(n for n in names if "uber-den-wolken-yes" in n)
        assert first.startswith("2026/03/29-uber-den-wolken-yes-")
        assert first.endswith(".md")
        text = archive.read(first).decode()
    head, _, body = text.removeprefix("---\n").partition("\n---\n")
    front = yaml.safe_load(head)
    assert front["title"] == "Über den Wolken: yes"
    assert front["tags"] == ["café", "Reise"]
    assert front["mood_rating"] == 7
    assert front["entry_date"] == "2026-03-28T23:30:00Z"
    assert body == CONTENT
    assert set(front) == {
        "id",
        "title",
        "entry_date",
        "tags",
        "mood_rating",
        "created_at",
        "updated_at",
    }


async def test_a_markdown_export_reads_back_losslessly(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser
) -> None:
    await _fill(client, alice)
    zipped = await export_bytes(client, alice.headers, "markdown")
    response = await import_file(client, bob.headers, "markdown", zipped, "alice.zip")
    assert response.status_code == 200, response.text
    assert response.json()["imported"]["journals"] == 3
    theirs = without_ids(document(await export_bytes(client, alice.headers)))
    ours = without_ids(document(await export_bytes(client, bob.headers)))
    assert ours["journals"] == theirs["journals"]
    again = await import_file(client, bob.headers, "markdown", zipped)
    assert again.json()["imported"]["journals"] == 0
    # The same entries as JSON: the same identities, nothing new either.
    json_export = await export_bytes(client, alice.headers)
    assert (await import_file(client, bob.headers, "vibes", json_export)).json()["imported"][
        "journals"
    ] == 0


async def test_a_locked_markdown_export_is_the_one_from_before_the_vault(
    client: httpx.AsyncClient, app: FastAPI, alice: AuthedUser
) -> None:
    await _fill(client, alice)
    before = await export_bytes(client, alice.headers, "markdown")
    vault = await make_vault(client, app, user=alice)
    response = await client.post(
        f"{API}/journals",
        json={"title": "Hidden", "content": "x", "secret_tag_id": vault.tag_id},
        headers=vault.headers,
    )
    assert response.status_code == 201
    assert await export_bytes(client, alice.headers, "markdown") == before
    unlocked = await export_bytes(client, vault.headers, "markdown")
    with zipfile.ZipFile(io.BytesIO(unlocked)) as archive:
        hidden = [n for n in archive.namelist() if "hidden" in n]
        assert len(hidden) == 1
        assert 'secret_tag: "therapy"' in archive.read(hidden[0]).decode()


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


GOOD = (
    "---\nid: 0190f0f0-0000-7000-8000-000000000001\ntitle: Fine\n"
    "entry_date: '2026-01-01T00:00:00Z'\n---\nBody"
)


async def test_malformed_markdown_files_name_the_file_and_field(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    cases = {
        "no front matter": ("Just text", ["file", "b.md"]),
        "unclosed": ("---\ntitle: x\n", ["file", "b.md"]),
        "not yaml": ("---\ntitle: [x\n---\n", ["file", "b.md"]),
        "no id": (
            "---\ntitle: x\nentry_date: '2026-01-01T00:00:00Z'\n---\n",
            ["file", "b.md", "id"],
        ),
        "bad mood": (GOOD.replace("title: Fine", "title: Fine\nmood_rating: 0"), None),
        "naive date": (GOOD.replace("'2026-01-01T00:00:00Z'", "'2026-01-01T00:00:00'"), None),
    }
    for case, (text, loc) in cases.items():
        text = text.replace("000000000001", "000000000002")
        response = await import_file(
            client, alice.headers, "markdown", _zip({"a.md": GOOD, "b.md": text})
        )
        assert response.status_code == 422, (case, response.text)
        got = response.json()["errors"][0]["loc"]
        assert got[:2] == ["file", "b.md"], case
        if loc is not None:
            assert got == loc, case
    assert document(await export_bytes(client, alice.headers))["journals"] == []
