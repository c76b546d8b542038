"""Full-text search over entries: one interface, two engines.

- PostgreSQL: the stored generated `tsvector` column `journals.fts_document` (configuration
  `simple`) with a GIN index; `websearch_to_tsquery` parses the user's query (quoted
  phrases, `or`, `-word`), `ts_rank` scores and `ts_headline` cuts the snippet.
- SQLite: the FTS5 table `journals_fts` (rowids mapped to journals by `journals_fts_ids`),
  `MATCH` on a query translated from the same syntax, `bm25` scores (negated, so higher is
  better on both), `snippet()` cuts the snippet.

Snippets come back as plain text plus `highlights`: `[start, end)` character offsets of
the matched words in the snippet, so clients never have to trust markup.

The migrations `20261127_1100` and `20261127_1500` (the per-user GIN index) create the
objects used here.
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


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def fts5_query(q: str) -> str | None:
    """The user's query as a safe FTS5 expression, with web-search syntax.

    Words and "quoted phrases" must all match; `or` between two terms makes either do;
    a leading `-` excludes a term. Every term is quoted, so no FTS5 syntax gets through.
    None when nothing searchable is left.
    """
    positive: list[str] = []
    negative: list[str] = []
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
        term = '"' + " ".join(words) + '"'
        if exclude:
            negative.append(term)
        elif pending_or and positive:
            positive[-1] = f"({positive[-1]} OR {term})"
        else:
            positive.append(term)
        pending_or = False
    if not positive:
        return None
    expression = " AND ".join(positive)
    for term in negative:
        expression = f"({expression}) NOT {term}"
    return expression


def _pg_query(q: str | ColumnElement[Any]) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(_PG_CONFIG, q)


# ts_headline's options: the marks become `highlights`, fragments are joined by an ellipsis.
_HEADLINE_OPTIONS = (
    f'StartSel="{START}", StopSel="{STOP}", MaxWords=35, MinWords=12, '
    f'MaxFragments=2, FragmentDelimiter=" {ELLIPSIS} "'
)


def pg_query_template() -> ColumnElement[Any]:
    """PostgreSQL's parsed form of the `fts_query` bind parameter (the user's `q`), for
    statements built once; use it in `pg_match`, `pg_rank` and `pg_headline`."""
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
    return split_marks(marked) if START in marked else highlight_words(title, _WORD.findall(q))


# An FTS5 query that matches nothing (an empty phrase), for input with no searchable word.
NOTHING = '""'


def match_value(dialect: str, q: str) -> str:
    """The value of the `fts_query` parameter of `match_condition` for the user's `q`."""
    if dialect == "postgresql":
        return q
    return fts5_query(q) or NOTHING


def match_condition(dialect: str) -> ColumnElement[bool]:
    """True for entries whose title or content matches the `fts_query` bind parameter
    (give it `match_value(dialect, q)`); for use inside a query on `journals`."""
    param = bindparam("fts_query", type_=String())
    if dialect == "postgresql":
        return _PG_DOCUMENT.op("@@")(func.websearch_to_tsquery(_PG_CONFIG, param))
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
        score = pg_rank(_pg_query(q))
        return select(
            Journal.id, score.label("score"), Journal.created_at, Journal.entry_date
        ).where(pg_match(_pg_query(q)), *conditions)
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
            select(Journal.id, Journal.title, pg_headline(_pg_query(q))).where(Journal.id.in_(ids))
        )
        return {
            journal_id: (title, pg_snippet(title, marked, q)) for journal_id, title, marked in rows
        }
    expression = fts5_query(q) or NOTHING
    rows = await session.execute(
        select(
            _fts_ids.c.journal_id,
            Journal.title,
            func.snippet(_FTS_TABLE, -1, START, STOP, ELLIPSIS, 24),
        )
        .select_from(_fts.join(_fts_ids, _fts_ids.c.rowid == _fts.c.rowid))
        .join(Journal, Journal.id == _fts_ids.c.journal_id)
        .where(_FTS_TABLE.op("MATCH")(expression), _fts_ids.c.journal_id.in_(ids))
    )
    return {journal_id: (title, split_marks(marked)) for journal_id, title, marked in rows}
