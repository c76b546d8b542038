"""Full-text search over entries: one interface, two engines.

The user's query is parsed once (`_parse`: words, quoted phrases, `or`, `-word`, `word*`
prefixes; anything else is plain words) and written out for each engine, every word quoted:

- PostgreSQL: the stored generated `tsvector` column `journals.fts_document` (configuration
  `simple`) with a GIN index; `to_tsquery` on `tsquery_text`, `ts_rank` scores and
  `ts_headline` cuts the snippet (markup removed, at most 35 words).
- SQLite: the FTS5 table `journals_fts` (porter stemming over unicode61; rowids mapped to
  journals by `journals_fts_ids`), `MATCH` on `fts5_query`, scores counted per entry (see
  `ranked`), `highlight()` marks the content and `cut_marked` cuts it like `ts_headline`.

Snippets come back as plain text plus `highlights`: `[start, end)` character offsets of
the matched words in the snippet, so clients never have to trust markup.

The migrations `20261127_1100`, `20261127_1500` (the per-user GIN index) and
`20261202_1830` (the porter tokenizer) create the objects used here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    Uuid,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from vibes.journals.models import Journal

CONFIG = "simple"
# A literal regconfig (not a bind parameter): the planner needs a constant configuration.
_PG_CONFIG: ColumnElement[Any] = literal_column(f"'{CONFIG}'::regconfig")
# Markers for matched words inside a snippet; stripped into `highlights` offsets.
START, STOP = "\x02", "\x03"
ELLIPSIS = "…"

_fts = table("journals_fts", column("rowid", Integer))
_fts_ids = table("journals_fts_ids", column("rowid", Integer), column("journal_id", Uuid))
_FTS_TABLE: ColumnElement[Any] = literal_column("journals_fts")
_PG_DOCUMENT = literal_column("journals.fts_document", type_=TSVECTOR)
_FTS_TITLE: ColumnElement[Any] = literal_column("journals_fts.title")
_FTS_CONTENT: ColumnElement[Any] = literal_column("journals_fts.content")
_MARK: ColumnElement[Any] = literal_column("char(1)")

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)
_PREFIX = re.compile(r"\w\*+$", re.UNICODE)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True, slots=True)
class _Term:
    """A word or a phrase (its words in order); `prefix`: its last word is a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class _Parsed:
    """The user's query: every group must match (a group: any one of its terms), and
    none of `negative`."""

    positive: list[list[_Term]]
    negative: list[_Term]


def _parse(q: str) -> _Parsed | None:
    """Web-search syntax, forgivingly: words and "quoted phrases" must all match; `or`
    between two terms makes either do; a leading `-` excludes a term; a trailing `*` on
    a word makes it a prefix (`walk*`). Anything else is plain words: only `\\w` runs
    survive, so no engine syntax gets through. None when nothing searchable is left."""
    positive: list[list[_Term]] = []
    negative: list[_Term] = []
    pending_or = False
    for match in _TOKEN.finditer(q):
        phrase, word = match.group(1), match.group(2)
        if word is not None and word.lower() == "or" and positive:
            pending_or = True
            continue
        exclude = word is not None and word.startswith("-") and len(word) > 1
        text = phrase if phrase is not None else (word[1:] if exclude else word)
        words = _WORD.findall(text or "")
        if not words:
            continue
        prefix = word is not None and _PREFIX.search(text or "") is not None
        term = _Term(tuple(words), prefix)
        if exclude:
            negative.append(term)
        elif pending_or and positive:
            positive[-1].append(term)
        else:
            positive.append([term])
        pending_or = False
    if not positive:
        return None
    return _Parsed(positive, negative)


def _fts5_term(term: _Term) -> str:
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")


def fts5_query(q: str) -> str | None:
    """The user's query (see `_parse`) as a safe FTS5 expression: every term quoted.
    None when nothing searchable is left."""
    parsed = _parse(q)
    if parsed is None:
        return None
    groups = [
        _fts5_term(g[0]) if len(g) == 1 else "(" + " OR ".join(_fts5_term(t) for t in g) + ")"
        for g in parsed.positive
    ]
    expression = " AND ".join(groups)
    for term in parsed.negative:
        expression = f"({expression}) NOT {_fts5_term(term)}"
    return expression


def _ts_term(term: _Term) -> str:
    # Words are `\\w` runs: no quote or backslash can reach the quoted lexemes.
    lexemes = [f"'{w}'" for w in term.words]
    if term.prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def tsquery_text(q: str) -> str | None:
    """The user's query (see `_parse`) as safe `to_tsquery` input, the same expression as
    `fts5_query`'s (prefixes as `:*`). None when nothing searchable is left."""
    parsed = _parse(q)
    if parsed is None:
        return None
    groups = [
        _ts_term(g[0]) if len(g) == 1 else "(" + " | ".join(_ts_term(t) for t in g) + ")"
        for g in parsed.positive
    ]
    expression = " & ".join(groups)
    for term in parsed.negative:
        expression = f"({expression}) & !{_ts_term(term)}"
    return expression


def _pg_query(value: str | ColumnElement[Any]) -> ColumnElement[Any]:
    """PostgreSQL's parsed form of a `pg_value` (never the raw user input)."""
    return func.to_tsquery(_PG_CONFIG, value)


def pg_value(q: str) -> str:
    """The `to_tsquery` input for the user's `q`: empty (matches nothing) when nothing
    searchable is left."""
    return tsquery_text(q) or ""


# ts_headline's options: the marks become `highlights`, fragments are joined by an ellipsis.
_HEADLINE_OPTIONS = (
    f'StartSel="{START}", StopSel="{STOP}", MaxWords=35, MinWords=12, '
    f'MaxFragments=2, FragmentDelimiter=" {ELLIPSIS} "'
)


def pg_query_template() -> ColumnElement[Any]:
    """PostgreSQL's parsed form of the `fts_query` bind parameter (the user's `q`), for
    statements built once (give it `pg_value(q)`); use it in `pg_match`, `pg_rank` and
    `pg_headline`."""
    return _pg_query(bindparam("fts_query", type_=String()))


def pg_match(query: ColumnElement[Any]) -> ColumnElement[bool]:
    return _PG_DOCUMENT.op("@@")(query)


def pg_rank(query: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.ts_rank(_PG_DOCUMENT, query), Float)


def pg_headline(query: ColumnElement[Any]) -> ColumnElement[Any]:
    """The entry's content cut around its matches, START/STOP-marked (see `pg_snippet`)."""
    return func.ts_headline(_PG_CONFIG, Journal.content, query, _HEADLINE_OPTIONS)


def pg_snippet(title: str, marked: str, q: str) -> Snippet:
    """The snippet of an entry from its `pg_headline`: the marked content, or the title
    highlighted when only the title matched."""
    if START not in marked:
        return highlight_words(title, _WORD.findall(q))
    # ts_headline drops the tags its parser knows, not all (`<img src=x onerror=…>`).
    return split_marks(" ".join(strip_markup(marked).split()))


# An FTS5 query that matches nothing (an empty phrase), for input with no searchable word.
NOTHING = '""'


def match_value(dialect: str, q: str) -> str:
    """The value of the `fts_query` parameter of `match_condition` for the user's `q`."""
    if dialect == "postgresql":
        return pg_value(q)
    return fts5_query(q) or NOTHING


def match_condition(dialect: str) -> ColumnElement[bool]:
    """True for entries whose title or content matches the `fts_query` bind parameter
    (give it `match_value(dialect, q)`); for use inside a query on `journals`."""
    param = bindparam("fts_query", type_=String())
    if dialect == "postgresql":
        return _PG_DOCUMENT.op("@@")(_pg_query(param))
    matching = (
        select(_fts_ids.c.journal_id)
        .select_from(_fts.join(_fts_ids, _fts_ids.c.rowid == _fts.c.rowid))
        .where(_FTS_TABLE.op("MATCH")(param))
    )
    return Journal.id.in_(matching)


def ranked(dialect: str, q: str, conditions: Sequence[ColumnElement[bool]]) -> Select[Any] | None:
    """`(id, score, created_at, at)` of matching entries; higher score = better match.

    `conditions` (the visibility rule, date filters) are applied as given. None when the
    query has nothing searchable in it.
    """
    if dialect == "postgresql":
        value = tsquery_text(q)
        if value is None:
            return None
        score = pg_rank(_pg_query(value))
        return select(
            Journal.id, score.label("score"), Journal.created_at, Journal.entry_date
        ).where(pg_match(_pg_query(value)), *conditions)
    expression = fts5_query(q)
    if expression is None:
        return None
    # Title matches weigh twice as much as content matches, over the entry's length. Not
    # bm25: its term statistics span the whole table, so other users' entries would shift
    # this user's scores (a side channel between accounts). This counts the entry's own
    # matches (highlight() adds one marker per match) like the vault's in-memory ranking.
    title_hits = func.length(func.highlight(_FTS_TABLE, 0, _MARK, "")) - func.length(_FTS_TITLE)
    content_hits = func.length(func.highlight(_FTS_TABLE, 1, _MARK, "")) - func.length(_FTS_CONTENT)
    score = cast((2.0 * title_hits + content_hits) / func.sqrt(1.0 + Journal.word_count), Float)
    return (
        select(Journal.id, score.label("score"), Journal.created_at, Journal.entry_date)
        .select_from(_fts)
        .join(_fts_ids, _fts_ids.c.rowid == _fts.c.rowid)
        .join(Journal, Journal.id == _fts_ids.c.journal_id)
        .where(_FTS_TABLE.op("MATCH")(expression), *conditions)
    )


@dataclass(frozen=True, slots=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]


_MARKS = re.compile(f"[{START}{STOP}]")


def split_marks(marked: str) -> Snippet:
    """Turn START/STOP-marked text into plain text and highlight offsets."""
    out: list[str] = []
    highlights: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    position = 0
    # Piece by piece between marks (a regex finds them), not character by character.
    for mark in _MARKS.finditer(marked):
        piece = marked[position : mark.start()]
        out.append(piece)
        length += len(piece)
        position = mark.end()
        if mark.group() == START:
            start = length
        else:
            if start is not None and length > start:
                highlights.append((start, length))
            start = None
    out.append(marked[position:])
    return Snippet("".join(out), highlights)


def highlight_words(text: str, words: Sequence[str]) -> Snippet:
    """`text` with every case-insensitive occurrence of `words` highlighted."""
    terms = sorted({w.casefold() for w in words if w}, key=len, reverse=True)
    if not terms:
        return Snippet(text, [])
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    return Snippet(text, [(m.start(), m.end()) for m in pattern.finditer(text)])


async def snippets(
    session: AsyncSession, q: str, journal_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, Snippet]]:
    """Title and a highlighted excerpt for each of these (matched, visible) entries, in
    one statement."""
    if not journal_ids:
        return {}
    ids = list(journal_ids)
    if dialect_of(session) == "postgresql":
        rows = await session.execute(
            select(Journal.id, Journal.title, pg_headline(_pg_query(pg_value(q)))).where(
                Journal.id.in_(ids)
            )
        )
        return {
            journal_id: (title, pg_snippet(title, marked, q)) for journal_id, title, marked in rows
        }
    expression = fts5_query(q) or NOTHING
    rows = await session.execute(
        select(
            _fts_ids.c.journal_id,
            Journal.title,
            func.highlight(_FTS_TABLE, 0, START, STOP),
            func.highlight(_FTS_TABLE, 1, START, STOP),
        )
        .select_from(_fts.join(_fts_ids, _fts_ids.c.rowid == _fts.c.rowid))
        .join(Journal, Journal.id == _fts_ids.c.journal_id)
        .where(_FTS_TABLE.op("MATCH")(expression), _fts_ids.c.journal_id.in_(ids))
    )
    return {
        journal_id: (
            title,
            cut_marked(content) if START in content else split_marks(marked_title),
        )
        for journal_id, title, marked_title, content in rows
    }


# Markup (tags, comments): removed from SQLite snippets like ts_headline removes it.
_MARKUP = re.compile(
    r"<!--.*?(?:-->|$)|</?[A-Za-z][^<>]*(?:>|$)|<![^<>]*(?:>|$)|<\?[^<>]*(?:>|$)", re.DOTALL
)


def strip_markup(text: str) -> str:
    """`text` with its tags and comments (a cut one at the end too) turned into spaces."""
    return _MARKUP.sub(" ", text)


# ts_headline's MaxWords: the longest snippet, in words.
MAX_WORDS = 35
# Words of context kept before the first match (ts_headline centres its fragment).
_LEAD_WORDS = (MAX_WORDS - 1) // 2


def cut_marked(marked: str) -> Snippet:
    """SQLite's snippet from the START/STOP-marked content (FTS5 `highlight()`), cut like
    `pg_headline`: markup stripped (the text between tags stays), at most MAX_WORDS words
    around the first match, no ellipsis at the ends."""
    words = strip_markup(marked).split()
    first = next((i for i, word in enumerate(words) if START in word), 0)
    start = max(0, min(first - _LEAD_WORDS, len(words) - MAX_WORDS))
    window = words[start : start + MAX_WORDS]
    return split_marks(" ".join(window))
