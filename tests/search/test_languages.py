"""Search in the account's language: one table of queries, entries and expected hits.

Each language's entries are written twice, as public entries (found through the index:
PostgreSQL's `vibes_<language>` configuration, SQLite's FTS5 tables) and as secret
entries in an unlocked vault (found by the in-memory matcher, snowballstemmer). Both
must answer the same, on `GET /search` and on `GET /journals?q=`. SQLite ships only an
English stemmer: where its answer differs, the table says so (`sqlite`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.factories import AuthedUser, make_authed_user
from tests.journals.conftest import API, create_entry, is_problem
from tests.vault.conftest import make_vault
from vibes.accounts.models import User
from vibes.db import Database
from vibes.events.dispatcher import Dispatcher
from vibes.journals import reindex
from vibes.platform.runtime import app_runtime


@dataclass(frozen=True)
class Case:
    q: str
    hits: frozenset[str]
    # SQLite's answer for the public entries, where it differs (no stemmer but English).
    sqlite: frozenset[str] | None = None


def case(q: str, *hits: str, sqlite: tuple[str, ...] | None = None) -> Case:
    return Case(q, frozenset(hits), None if sqlite is None else frozenset(sqlite))


@dataclass(frozen=True)
class Language:
    code: str
    entries: dict[str, tuple[str, str]]  # name → (title, content)
    cases: list[Case] = field(default_factory=list)


TABLE = [
    Language(
        "en",
        {
            "glacier": ("Trip", "We saw the glaciers melting."),
            "walk": ("Out", "Walking by the sea with Anna."),
            "wall": ("In", "A wall and a talk."),
            "cafe": ("Lunch", "Lunch at the Café de Flore."),
            "cafe_plain": ("Menu", "A cafe au lait."),
            "harbour": ("Night", "The quiet harbour at night."),
            "run": ("Sport", "She runs every morning."),
        },
        [
            case("glacier", "glacier"),  # plural
            case("GLACIERS", "glacier"),  # mixed case
            case("melted", "glacier"),  # verb forms
            case("running", "run"),
            case("walk*", "walk"),  # prefix
            case("wal*", "walk", "wall"),
            case("walks*", "walk"),  # a prefix is stemmed too
            case('"quiet harbour"', "harbour"),  # phrase
            case('"harbour quiet"'),
            case("sea -anna"),  # exclusion
            case("sea -flore", "walk"),
            case("glacier or harbour", "glacier", "harbour"),  # or
            case("cafe", "cafe", "cafe_plain"),  # accents, both ways
            case("CAFÉ", "cafe", "cafe_plain"),
            case("Flöre", "cafe"),
            case('walk* "sea', "walk"),  # malformed: the plain words
            case("(walk*", "walk"),
            case("lunch:* & !flore |", "cafe"),
        ],
    ),
    Language(
        "de",
        {
            "reise": ("Reise", "Wir sahen die Gletscher und viele Häuser."),
            "essen": ("Essen", "Ein Kaffee im Café am Fluss."),
            "arbeit": ("Arbeit", "Die Kinder spielten im Garten."),
        },
        [
            case("Haus", "reise", sqlite=()),
            case("hauser", "reise"),
            case("Häuser", "reise"),
            case("Gletscher", "reise"),
            case("cafe", "essen"),
            case("Kind", "arbeit", sqlite=()),
            case("spielte", "arbeit", sqlite=()),
            case("Gärten", "arbeit"),
            case('"im Garten"', "arbeit"),
            case("Kaffee -Fluss"),
            case("Kaff*", "essen"),
            case("Fluss or Garten", "essen", "arbeit"),
        ],
    ),
    Language(
        "fr",
        {
            "voyage": ("Voyage", "Nous avons mangé des pommes à l'hôtel."),
            "ferme": ("Ferme", "Les chevaux dans les prés."),
        },
        [
            case("pomme", "voyage", sqlite=()),
            case("manger", "voyage", sqlite=()),
            case("mange", "voyage"),
            case("hotel", "voyage"),
            case("HÔTEL", "voyage"),
            case("cheval", "ferme", sqlite=()),
            case("pres", "ferme"),
            case('"des pommes"', "voyage"),
            case("chevaux -pres"),
            case("chev*", "ferme"),
        ],
    ),
]


async def _set_language(client: httpx.AsyncClient, user: AuthedUser, code: str) -> None:
    response = await client.patch(f"{API}/users/me", json={"language": code}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["language"] == code


async def _found(
    client: httpx.AsyncClient, headers: dict[str, str], q: str, names: dict[str, str]
) -> tuple[set[str], set[str]]:
    """The names of the entries `q` finds on /search and on /journals?q=."""
    searched = await client.get(
        f"{API}/search", params={"q": q, "type": "journals", "limit": 100}, headers=headers
    )
    assert searched.status_code == 200, (q, searched.text)
    listed = await client.get(f"{API}/journals", params={"q": q, "limit": 100}, headers=headers)
    assert listed.status_code == 200, (q, listed.text)
    for item in searched.json()["items"]:
        assert "<" not in item["snippet"]
        assert all(0 <= s < e <= len(item["snippet"]) for s, e in item["highlights"])
    return (
        {names[i["id"]] for i in searched.json()["items"]},
        {names[i["id"]] for i in listed.json()["items"]},
    )


@pytest.mark.parametrize("language", TABLE, ids=lambda lang: lang.code)
async def test_queries_find_word_forms_in_the_account_language(
    client: httpx.AsyncClient, app: FastAPI, database: Database, language: Language
) -> None:
    sqlite = database.read_engine.dialect.name == "sqlite"
    user = await make_authed_user(app)
    if language.code != "en":
        await _set_language(client, user, language.code)
    vault = await make_vault(client, app, user=user)
    names: dict[str, str] = {}
    for name, (title, content) in language.entries.items():
        public = await create_entry(client, user, title=title, content=content)
        response = await client.post(
            f"{API}/journals",
            json={"title": title, "content": content, "secret_tag_id": vault.tag_id},
            headers=vault.headers,
        )
        assert response.status_code == 201, response.text
        secret = response.json()
        names[public["id"]] = name
        names[secret["id"]] = f"secret {name}"
    for row in language.cases:
        public = row.sqlite if sqlite and row.sqlite is not None else row.hits
        searched, listed = await _found(client, user.headers, row.q, names)
        assert searched == set(public), row.q
        assert listed == set(public), row.q
        searched, listed = await _found(client, vault.headers, row.q, names)
        unlocked = set(public) | {f"secret {name}" for name in row.hits}
        assert searched == unlocked, row.q
        assert listed == unlocked, row.q


async def test_language_is_an_iso_639_1_code_and_defaults_to_english(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await make_authed_user(app)
    me = await client.get(f"{API}/users/me", headers=user.headers)
    assert me.json()["language"] == "en"
    for bad in ("xx", "EN", "eng", "", None, 7):
        response = await client.patch(
            f"{API}/users/me", json={"language": bad}, headers=user.headers
        )
        assert is_problem(response, 422), bad
        assert response.json()["errors"][0]["loc"][-1] == "language"
    await _set_language(client, user, "ja")  # no stemmer: words, case and accents only
    me = await client.get(f"{API}/users/me", headers=user.headers)
    assert me.json()["language"] == "ja"


async def _names(client: httpx.AsyncClient, user: AuthedUser, q: str) -> list[str]:
    response = await client.get(
        f"{API}/search", params={"q": q, "type": "journals"}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def _search_configs(database: Database, user: AuthedUser) -> str:
    async with database.read_sessionmaker() as session:
        configs = await session.scalar(select(User.search_configs).where(User.id == user.id))
    return str(configs)


async def test_changing_language_reindexes_in_the_background_and_search_stays_correct(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    sqlite = database.read_engine.dialect.name == "sqlite"
    user = await make_authed_user(app)
    await create_entry(client, user, title="Old", content="Glaciers melting by the Häuser")
    await _set_language(client, user, "de")
    await create_entry(client, user, title="New", content="Die Gletscher und Häuser")
    assert await _search_configs(database, user) == "vibes_german,vibes_english"
    # Meanwhile: each entry is found in the configuration it was indexed with.
    assert await _names(client, user, "melted") == ["Old"]  # English stemming
    assert sorted(await _names(client, user, "Häuser")) == ["New", "Old"]
    assert await _names(client, user, "Haus") == ([] if sqlite else ["New"])
    while await reindex.reindex_pending(database, batch=1):
        pass
    assert await _search_configs(database, user) == "vibes_german"
    assert await _names(client, user, "melted") == []  # German now
    assert await _names(client, user, "melting") == ["Old"]
    assert sorted(await _names(client, user, "Haus")) == ([] if sqlite else ["New", "Old"])
    assert sorted(await _names(client, user, "hauser")) == ["New", "Old"]


async def test_the_dispatcher_loop_runs_the_reindex(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    user = await make_authed_user(app)
    await create_entry(client, user, title="Old", content="Glaciers")
    await _set_language(client, user, "fr")
    runtime = app_runtime(app)
    dispatcher = Dispatcher(database, runtime.settings, runtime.broker, keyring=runtime.keyring)
    try:
        await dispatcher.run_once()
        await dispatcher.run_once()
    finally:
        await dispatcher.aclose()
    assert await _search_configs(database, user) == "vibes_french"
    assert await _names(client, user, "glaciers") == ["Old"]


@pytest.mark.parametrize("secret", [False, True], ids=["indexed", "secret"])
async def test_highlights_mark_the_written_word_whatever_its_form(
    client: httpx.AsyncClient, app: FastAPI, database: Database, secret: bool
) -> None:
    stems = secret or database.read_engine.dialect.name == "postgresql"
    user = await make_authed_user(app)
    await _set_language(client, user, "de")
    vault = await make_vault(client, app, user=user)
    headers = vault.headers if secret else user.headers
    body: dict[str, str] = {"title": "Viele Häuser", "content": "Am See."}
    if secret:
        body["secret_tag_id"] = vault.tag_id
    response = await client.post(f"{API}/journals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    for q in ["hauser", *(["Haus"] if stems else [])]:
        found = await client.get(
            f"{API}/search", params={"q": q, "type": "journals"}, headers=headers
        )
        [item] = found.json()["items"]
        assert [item["snippet"][s:e] for s, e in item["highlights"]] == ["Häuser"], q


async def test_a_query_of_stop_words_only_is_no_error(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """PostgreSQL's English configuration drops stop words (`the`, `and`): a query of
    nothing else is empty there and matches nothing; never an error."""
    user = await make_authed_user(app)
    await create_entry(client, user, title="Sea", content="the sea and the sky")
    for q in ["the", '"the and"', "-the", "the*"]:
        for path in ("/search", "/journals"):
            response = await client.get(f"{API}{path}", params={"q": q}, headers=user.headers)
            assert response.status_code == 200, (q, response.text)
