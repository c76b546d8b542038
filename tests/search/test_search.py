"""Global search: ranking, snippets and highlights, types, dates, pages, user boundary.

Every test runs on SQLite (FTS5, bm25, snippet) and PostgreSQL (tsvector/GIN, ts_rank,
ts_headline): the same assertions hold for both engines behind `journals.fts`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.factories import AuthedUser
from tests.journals.conftest import API, create_entry, is_problem
from vibes.db import Database, utcnow
from vibes.journals.fts import MAX_WORDS, fts5_query, split_marks, tsquery_text
from vibes.reminders.models import Reminder


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("fox", '"fox"'),
        ("Fox  dog", '"Fox" AND "dog"'),
        ('"quick fox" dog', '"quick fox" AND "dog"'),
        ("fox or dog", '("fox" OR "dog")'),
        ("fox -dog", '("fox") NOT "dog"'),
        ('NEAR(a b) * ^ "', '"NEAR a" AND "b"'),  # punctuation joins words into a phrase
        ("-only", None),
        ("***", None),
        ("walk*", '"walk"*'),
        ("foo-bar* -walk*", '("foo bar"*) NOT "walk"*'),
        ('wa*lk "open* phrase"', '"wa lk" AND "open phrase"'),
    ],
)
def test_fts5_query_quotes_every_term(q: str, expected: str | None) -> None:
    assert fts5_query(q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("fox", "'fox'"),
        ('"quick fox" dog', "('quick' <-> 'fox') & 'dog'"),
        ("fox or dog", "('fox' | 'dog')"),
        ("fox -dog", "('fox') & !'dog'"),
        ("walk*", "'walk':*"),
        # to_tsquery's operators in the input only separate quoted words.
        ("it's a:* b&c|d!e", "('it' <-> 's') & 'a' & ('b' <-> 'c' <-> 'd' <-> 'e')"),
        ("-only", None),
        ("***", None),
    ],
)
def test_tsquery_text_is_the_same_expression_safely_quoted(q: str, expected: str | None) -> None:
    assert tsquery_text(q) == expected


def test_split_marks_turns_markers_into_offsets() -> None:
    snippet = split_marks("a \x02fox\x03 and \x02Fox\x03es")
    assert snippet.text == "a fox and Foxes"
    assert [snippet.text[s:e] for s, e in snippet.highlights] == ["fox", "Fox"]


async def _search(client: httpx.AsyncClient, user: AuthedUser, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/search", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_entries_are_ranked_with_snippets_and_highlights(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, title="Morning", content="cat dog emu fox owl yak")
    best = await create_entry(client, alice, title="Fox day", content="fox fox fox owl yak")
    await create_entry(client, alice, title="Nothing", content="no match here")
    body = await _search(client, alice, q="fox", type="journals")
    items = body["items"]
    assert [i["title"] for i in items] == ["Fox day", "Morning"]
    assert items[0]["id"] == best["id"]
    assert items[0]["score"] > items[1]["score"]
    for item in items:
        assert item["type"] == "journal"
        assert item["highlights"]
        for start, end in item["highlights"]:
            assert item["snippet"][start:end].lower() == "fox"
        assert dt.datetime.fromisoformat(item["created_at"])
    assert body["next_cursor"] is None


async def test_title_only_match_still_gives_a_highlighted_snippet(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, title="Zebra crossing", content="black and white")
    item = (await _search(client, alice, q="zebra"))["items"][0]
    assert item["title"] == "Zebra crossing"
    assert any(item["snippet"][s:e].lower() == "zebra" for s, e in item["highlights"])


async def test_reminders_and_tags_are_found_and_type_filters(
    client: httpx.AsyncClient, alice: AuthedUser, bob: AuthedUser, database: Database
) -> None:
    await create_entry(client, alice, title="Dentist notes", content="teeth", tags=["dentist"])
    now = utcnow()
    async with database.session_scope() as session:
        for user, title, notes in (
            (alice, "Call the dentist", "ask about Tuesday"),
            (alice, "Groceries", "also book the DENTIST"),
            (bob, "Dentist for bob", None),
        ):
            session.add(
                Reminder(
                    user_id=user.id,
                    title=title,
                    notes=notes,
                    remind_at=now,
                    timezone="UTC",
                    next_fire_at=now,
                )
            )
    everything = (await _search(client, alice, q="dentist"))["items"]
    assert sorted(i["type"] for i in everything) == ["journal", "reminder", "reminder", "tag"]
    reminders = (await _search(client, alice, q="dentist", type="reminders"))["items"]
    assert [i["title"] for i in reminders] == ["Call the dentist", "Groceries"]
    assert reminders[0]["score"] > reminders[1]["score"]
    groceries = reminders[1]
    assert [groceries["snippet"][s:e] for s, e in groceries["highlights"]] == ["DENTIST"]
    tags = (await _search(client, alice, q="Dentist", type="tags"))["items"]
    assert [(i["type"], i["title"], i["score"]) for i in tags] == [("tag", "dentist", 1.0)]
    bob_sees = (await _search(client, bob, q="dentist"))["items"]
    assert [(i["type"], i["title"]) for i in bob_sees] == [("reminder", "Dentist for bob")]


async def test_from_and_to_bound_the_entry_date(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, title="old", content="walrus", entry_date="2020-01-01")
    await create_entry(client, alice, title="new", content="walrus", entry_date="2026-01-01")
    recent = await _search(client, alice, q="walrus", **{"from": "2025-01-01T00:00:00Z"})
    assert [i["title"] for i in recent["items"]] == ["new"]
    early = await _search(client, alice, q="walrus", to="2021-01-01")
    assert [i["title"] for i in early["items"]] == ["old"]


async def test_results_page_by_cursor_without_gaps_or_repeats(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    for i in range(8):
        await create_entry(client, alice, title=f"e{i}", content="otter " * (i + 1) + "end")
    await create_entry(client, alice, title="tagged", content="x", tags=["otter"])
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "otter", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = await _search(client, alice, **params)
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    journal_hits = [i for i in seen if i["type"] == "journal"]
    assert len(journal_hits) == 8
    assert len({i["id"] for i in seen}) == len(seen) == 9  # 8 entries + the tag
    scores = [i["score"] for i in seen]
    assert scores == sorted(scores, reverse=True)


async def test_bad_search_requests_are_422(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    for query in ("", "?q=", "?q=x&type=notes", "?q=x&cursor=broken", "?q=x&limit=500"):
        response = await client.get(f"{API}/search{query}", headers=alice.headers)
        assert is_problem(response, 422), query


async def test_queries_with_nothing_searchable_find_nothing(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    await create_entry(client, alice, content="something")
    assert (await _search(client, alice, q="***"))["items"] == []
    assert (await _search(client, alice, q='"'))["items"] == []


async def test_the_index_follows_edits_and_deletes(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    entry = await create_entry(client, alice, title="t", content="penguin colony")
    url = f"{API}/journals/{entry['id']}"
    assert len((await _search(client, alice, q="penguin"))["items"]) == 1
    await client.patch(url, json={"content": "albatross"}, headers=alice.headers)
    assert (await _search(client, alice, q="penguin"))["items"] == []
    assert len((await _search(client, alice, q="albatross"))["items"]) == 1
    await client.delete(url, headers=alice.headers)
    assert (await _search(client, alice, q="albatross"))["items"] == []


async def test_search_needs_a_live_session(client: httpx.AsyncClient) -> None:
    assert is_problem(await client.get(f"{API}/search?q=x"), 401)


def _words(text: str) -> int:
    return len(text.split())


async def test_snippets_strip_markup_and_are_cut_like_postgres(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    filler = " ".join(f"word{i}" for i in range(80))
    content = (
        f"<p>{filler}</p><script>alert('x')</script> <b>glacier</b> ice "
        f"<img src=x onerror=alert(1)> {filler}"
    )
    await create_entry(client, alice, title="Ice", content=content)
    item = (await _search(client, alice, q="glacier"))["items"][0]
    snippet = item["snippet"]
    assert "<" not in snippet
    assert ">" not in snippet
    assert "script" not in snippet
    assert "onerror" not in snippet
    assert _words(snippet) <= MAX_WORDS
    assert "word0" in snippet  # around the match, cut
    assert "word79" in snippet
    assert [snippet[s:e].lower() for s, e in item["highlights"]] == ["glacier"]


async def test_a_word_finds_its_other_forms(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    created = await create_entry(client, alice, title="Trip", content="We saw the glaciers.")
    items = (await _search(client, alice, q="glacier"))["items"]
    assert [i["id"] for i in items] == [created["id"]]
    assert [items[0]["snippet"][s:e] for s, e in items[0]["highlights"]] == ["glaciers"]


async def test_a_trailing_star_searches_by_prefix_on_both_routes(
    client: httpx.AsyncClient, alice: AuthedUser
) -> None:
    walking = await create_entry(client, alice, title="Out", content="Walking by the sea")
    await create_entry(client, alice, title="In", content="A wall and a talk")
    items = (await _search(client, alice, q="walk*", type="journals"))["items"]
    assert [i["id"] for i in items] == [walking["id"]]
    assert [items[0]["snippet"][s:e] for s, e in items[0]["highlights"]] == ["Walking"]
    listed = await client.get(f"{API}/journals", params={"q": "walk*"}, headers=alice.headers)
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["items"]] == [walking["id"]]
    # Malformed syntax is plain words: never an error.
    for q in ['walk* "sea', "walk*) OR (", "NEAR(walk*", "walk:* & !", "*walk", "w*a*lk*"]:
        response = await client.get(f"{API}/search", params={"q": q}, headers=alice.headers)
        assert response.status_code == 200, (q, response.text)
    found = (await _search(client, alice, q='walk* "sea'))["items"]
    assert [i["id"] for i in found] == [walking["id"]]
