"""Full-text search over entries: one interface, two engines.

The user's query is parsed once (`platform.textsearch.parse`: words, quoted phrases, `or`,
`-word`, `word*` prefixes; anything else is plain words) and written out for each engine,
every word quoted. Words match in the language the entry was indexed in (its
`fts_config`, the account's language when it was written or last re-indexed), accents
ignored:

- PostgreSQL: the `tsvector` column `journals.fts_document`, built by a trigger with the
  row's configuration (`vibes_<language>`: unaccent, then the language's stemmer), with a
  GIN index. A query runs `to_tsquery` in each configuration of the account
  (`users.search_configs`: one, or two while a re-index is pending) and matches any;
  `ts_rank` scores and `ts_headline` cuts the snippet in the row's own configuration
  (markup removed, at most 35 words).
- SQLite: two FTS5 tables keyed by `journals_fts_ids`: `journals_fts` (porter over
  unicode61, for English entries) and `journals_fts_plain` (unicode61 alone: SQLite ships
  no other stemmer); a query matches both. `MATCH` on `fts5_query`, scores counted per
  entry (see `ranked`), `highlight()` marks the content and `cut_marked` cuts it like
  `ts_headline`.

Snippets come back as plain text plus `highlights`: `[start, end)` character offsets of
the matched words in the snippet, so clients never have to trust markup.

The migrations `20261127_1100`, `20261127_1500` (the per-user GIN index), `20261202_1830`
(the porter tokenizer) and `20261203_0100` (languages) create the objects used here.
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
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSQUERY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from vibes.accounts.models import User
from vibes.journals.models import Journal
from vibes.journals.visibility import viewer_user_id
from vibes.platform.textsearch import Term, parse

# Markers for matched words inside a snippet; stripped into `highlights` offsets.
START, STOP = "\x02", "\x03"
ELLIPSIS = "…"

_fts_ids = table("journals_fts_ids", column("rowid", Integer), column("journal_id", Uuid))
# SQLite's two FTS5 tables: English (porter) and every other language (no stemmer).
_FTS_TABLES = ("journals_fts", "journals_fts_plain")
_PG_DOCUMENT = literal_column("journals.fts_document", type_=TSVECTOR)
# The configuration the row was indexed with (migration-only column, set by a trigger).
_ROW_CONFIG: ColumnElement[Any] = cast(literal_column("journals.fts_config"), REGCONFIG)
_MARK: ColumnElement[Any] = literal_column("char(1)")


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _fts5_term(term: Term) -> str:
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")


def fts5_query(q: str) -> str | None:
    """The user's query (see `textsearch.parse`) as a safe FTS5 expression: every term
    quoted. None when nothing searchable is left."""
    parsed = parse(q)
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


def _ts_term(term: Term) -> str:
    # Words are `\\w` runs: no quote or backslash can reach the quoted lexemes.
    lexemes = [f"'{w}'" for w in term.words]
    if term.prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def tsquery_text(q: str) -> str | None:
    """The user's query (see `textsearch.parse`) as safe `to_tsquery` input, the same
    expression as `fts5_query`'s (prefixes as `:*`). None when nothing searchable is
    left. `to_tsquery` stems and unaccents its words in the configuration it is given."""
    parsed = parse(q)
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


def pg_value(q: str) -> str:
    """The `to_tsquery` input for the user's `q`: empty (matches nothing) when nothing
    searchable is left."""
    return tsquery_text(q) or ""


# ts_headline's options: the marks become `highlights`, fragments are joined by an ellipsis.
_HEADLINE_OPTIONS = (
    f'StartSel="{START}", StopSel="{STOP}", MaxWords=35, MinWords=12, '
    f'MaxFragments=2, FragmentDelimiter=" {ELLIPSIS} "'
)
_TITLE_OPTIONS = f'StartSel="{START}", StopSel="{STOP}", HighlightAll=true'


def pg_query_template() -> ColumnElement[Any]:
    """The `fts_query` bind parameter (give it `pg_value(q)`), for statements built once:
    use it in `pg_match`, `pg_rank` and `pg_headline`."""
    return bindparam("fts_query", type_=String())


def _account_queries(value: ColumnElement[Any]) -> Any:
    """`value` parsed in each configuration the viewer's entries are indexed with, as an
    array: an InitPlan evaluated once, so `@@ ANY(...)` is an index condition."""
    account = User.__table__.alias("search_account")
    configs = (
        func.unnest(func.string_to_array(account.c.search_configs, literal(",")))
        .table_valued("config")
        .render_derived("configs")
    )
    queries = (
        select(func.array_agg(func.to_tsquery(cast(configs.c.config, REGCONFIG), value)))
        .select_from(account.join(configs, true()))
        .where(account.c.id == viewer_user_id())
        .correlate(None)
        .scalar_subquery()
    )
    # The cast makes it `ANY(<array>)`, not `ANY(<subquery>)` (a row-by-row comparison).
    return cast(queries, ARRAY(TSQUERY))


def pg_match(value: ColumnElement[Any]) -> ColumnElement[bool]:
    """True for entries matching the query text `value` in the account's configurations
    (the viewer's: the visibility rule's `viewer_user_id` parameter)."""
    return _PG_DOCUMENT.op("@@")(any_(_account_queries(value)))


def _row_query(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.to_tsquery(_ROW_CONFIG, value)


def pg_rank(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(func.ts_rank(_PG_DOCUMENT, _row_query(value)), Float)


def pg_headline(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """The entry's content cut around its matches, START/STOP-marked (see `pg_snippet`)."""
    return func.ts_headline(_ROW_CONFIG, Journal.content, _row_query(value), _HEADLINE_OPTIONS)


def pg_title_headline(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """The entry's whole title, its matches START/STOP-marked (stems, as in the content)."""
    return func.ts_headline(_ROW_CONFIG, Journal.title, _row_query(value), _TITLE_OPTIONS)


def pg_snippet(marked_title: str, marked: str) -> Snippet:
    """The snippet of an entry from its `pg_headline`: the marked content, or the title
    (`pg_title_headline`) when only the title matched."""
    if START not in marked:
        return split_marks(marked_title)
    # ts_headline drops the tags its parser knows, not all (`<img src=x onerror=…>`).
    return split_marks(" ".join(strip_markup(marked).split()))


# An FTS5 query that matches nothing (an empty phrase), for input with no searchable word.
NOTHING = '""'


def match_value(dialect: str, q: str) -> str:
    """The value of the `fts_query` parameter of `match_condition` for the user's `q`."""
    if dialect == "postgresql":
        return pg_value(q)
    return fts5_query(q) or NOTHING


def _fts_join(name: str) -> Any:
    fts = table(name, column("rowid", Integer))
    return fts.join(_fts_ids, _fts_ids.c.rowid == fts.c.rowid)


def _fts_match(name: str, expression: ColumnElement[Any] | str) -> ColumnElement[bool]:
    return literal_column(name).op("MATCH")(expression)


def match_condition(dialect: str) -> ColumnElement[bool]:
    """True for entries whose title or content matches the `fts_query` bind parameter
    (give it `match_value(dialect, q)`); for use inside a query on `journals` (with the
    visibility rule's parameters)."""
    param = bindparam("fts_query", type_=String())
    if dialect == "postgresql":
        return pg_match(param)
    matching = union_all(
        *(
            select(_fts_ids.c.journal_id)
            .select_from(_fts_join(name))
            .where(_fts_match(name, param))
            for name in _FTS_TABLES
        )
    )
    return Journal.id.in_(matching)


def _sqlite_ranked(name: str, expression: str, conditions: Sequence[Any]) -> Select[Any]:
    # Title matches weigh twice as much as content matches, over the entry's length. Not
    # bm25: its term statistics span the whole table, so other users' entries would shift
    # this user's scores (a side channel between accounts). This counts the entry's own
    # matches (highlight() adds one marker per match) like the vault's in-memory ranking.
    fts: ColumnElement[Any] = literal_column(name)
    title: ColumnElement[Any] = literal_column(f"{name}.title")
    content: ColumnElement[Any] = literal_column(f"{name}.content")
    title_hits = func.length(func.highlight(fts, 0, _MARK, "")) - func.length(title)
    content_hits = func.length(func.highlight(fts, 1, _MARK, "")) - func.length(content)
    score = cast((2.0 * title_hits + content_hits) / func.sqrt(1.0 + Journal.word_count), Float)
    return (
        select(Journal.id, score.label("score"), Journal.created_at, Journal.entry_date)
        .select_from(_fts_join(name))
        .join(Journal, Journal.id == _fts_ids.c.journal_id)
        .where(_fts_match(name, expression), *conditions)
    )


def ranked(dialect: str, q: str, conditions: Sequence[ColumnElement[bool]]) -> Any:
    """`(id, score, created_at, entry_date)` of matching entries; higher score = better.

    `conditions` (the visibility rule, date filters) are applied as given; run it with
    the visibility rule's parameters. None when the query has nothing searchable in it.
    """
    if dialect == "postgresql":
        value = tsquery_text(q)
        if value is None:
            return None
        text = literal(value, String())
        return select(
            Journal.id, pg_rank(text).label("score"), Journal.created_at, Journal.entry_date
        ).where(pg_match(text), *conditions)
    expression = fts5_query(q)
    if expression is None:
        return None
    return union_all(*(_sqlite_ranked(name, expression, conditions) for name in _FTS_TABLES))


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
        value = literal(pg_value(q), String())
        rows = await session.execute(
            select(Journal.id, Journal.title, pg_title_headline(value), pg_headline(value)).where(
                Journal.id.in_(ids)
            )
        )
        return {
            journal_id: (title, pg_snippet(marked_title, marked))
            for journal_id, title, marked_title, marked in rows
        }
    expression = fts5_query(q) or NOTHING
    found = union_all(
        *(
            select(
                _fts_ids.c.journal_id,
                Journal.title,
                func.highlight(literal_column(name), 0, START, STOP).label("marked_title"),
                func.highlight(literal_column(name), 1, START, STOP).label("marked"),
            )
            .select_from(_fts_join(name))
            .join(Journal, Journal.id == _fts_ids.c.journal_id)
            .where(_fts_match(name, expression), _fts_ids.c.journal_id.in_(ids))
            for name in _FTS_TABLES
        )
    )
    rows = await session.execute(found)
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
