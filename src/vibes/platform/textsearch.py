"""Languages and queries of full-text search, shared by both engines and the in-memory
matcher of secret entries.

- A language is an ISO 639-1 code. Those with a Snowball stemmer (the ones PostgreSQL
  ships, `STEMMED`) stem words; the others only fold case and accents (`simple`). On
  PostgreSQL each has its text search configuration `vibes_<name>`: `unaccent`, then the
  language's stemmer (migration `20261203_0100`). SQLite ships only the porter (English)
  stemmer: English entries go to an FTS5 table with it, all others to one without.
- A query is what people type in a search box (`parse`): words (all must match),
  `"a phrase"`, `word*`, `-word`, `or` between alternatives, as PostgreSQL's
  `websearch_to_tsquery` reads them; anything else degrades to plain words.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import snowballstemmer

DEFAULT_LANGUAGE = "en"

# Every ISO 639-1 code (the two-letter column of ISO 639-2's code list).
_ISO_639_1_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu
    cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he
    hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko
    kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd
    ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se
    sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty
    ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())

# Languages with a stemmer: ISO 639-1 → the name of PostgreSQL's Snowball dictionary
# (`<name>_stem`), which is also snowballstemmer's algorithm name.
STEMMED: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "ne": "nepali",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
SIMPLE = "simple"
CONFIG_PREFIX = "vibes_"
# SQLite's FTS5 ships one stemmer, porter: entries in this configuration use it.
PORTER_CONFIG = CONFIG_PREFIX + "english"


def is_language(code: str) -> bool:
    return code in ISO_639_1


def config_of(language: str) -> str:
    """The text search configuration of entries written in `language`."""
    return CONFIG_PREFIX + STEMMED.get(language, SIMPLE)


def configs_after_change(language: str, configs: str) -> str:
    """An account's `search_configs` once its language is `language`: that language's
    configuration first, then every other one its entries may still be indexed with."""
    first = config_of(language)
    rest = [c for c in configs.split(",") if c and c != first]
    return ",".join([first, *rest])


def fold(word: str) -> str:
    """`word` case-folded and without accents, as both engines index it (`unaccent`,
    `remove_diacritics`): `Café` → `cafe`."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def stemmer(language: str) -> Callable[[str], str]:
    """The in-memory stemmer of `language`, over folded words (identity without one)."""
    name = STEMMED.get(language)
    if name is None:
        return lambda word: word
    stem: Callable[[str], str] = snowballstemmer.stemmer(name).stemWord
    return stem


# --- queries --------------------------------------------------------------------------

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
WORD = re.compile(r"\w+", re.UNICODE)
_PREFIX = re.compile(r"\w\*+$", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a phrase (its words in order); `prefix`: its last word is a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """The user's query: every group must match (a group: any one of its terms), and
    none of `negative`."""

    positive: list[list[Term]]
    negative: list[Term]

    @property
    def words(self) -> list[str]:
        return [w for group in self.positive for term in group for w in term.words]


def parse(q: str) -> Query | None:
    """Web-search syntax, forgivingly: words and "quoted phrases" must all match; `or`
    between two terms makes either do; a leading `-` excludes a term; a trailing `*` on
    a word makes it a prefix (`walk*`). Anything else is plain words: only `\\w` runs
    survive, so no engine syntax gets through. None when nothing searchable is left."""
    positive: list[list[Term]] = []
    negative: list[Term] = []
    pending_or = False
    for match in _TOKEN.finditer(q):
        phrase, word = match.group(1), match.group(2)
        if word is not None and word.lower() == "or" and positive:
            pending_or = True
            continue
        exclude = word is not None and word.startswith("-") and len(word) > 1
        text = phrase if phrase is not None else (word[1:] if exclude else word)
        words = WORD.findall(text or "")
        if not words:
            continue
        prefix = word is not None and _PREFIX.search(text or "") is not None
        term = Term(tuple(words), prefix)
        if exclude:
            negative.append(term)
        elif pending_or and positive:
            positive[-1].append(term)
        else:
            positive.append([term])
        pending_or = False
    if not positive:
        return None
    return Query(positive, negative)
