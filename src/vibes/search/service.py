"""Global search across the user's entries, reminders and tags, ranked and paginated.

Entries use the full-text index (`journals.fts`: PostgreSQL tsvector/GIN or SQLite FTS5);
reminders (title, notes) and tags (name) are short, so every word of the query must occur
in them (case-insensitive). One ranked list: score descending, id breaking ties, keyset-
paginated on (score, id). Only the page's rows get snippets, computed in a second step.

Scores: entries get `ts_rank` (PostgreSQL) or their own match count (SQLite, see
`fts.ranked`); a reminder scores 1.0 when its title matches and 0.5 when only its notes
do; a tag 1.0 for an exact name and 0.5 otherwise. `from`/`to` bound an entry's
`entry_date`, a reminder's `remind_at` and a tag's `created_at`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Float,
    String,
    Uuid,
    and_,
    case,
    column,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from vibes.accounts.users import language_of
from vibes.journals import fts
from vibes.journals.models import Journal, Tag
from vibes.journals.rendering import reveal
from vibes.journals.visibility import Viewer, visible_journals
from vibes.platform.pagination import KeyColumn, Keyset, PageParams
from vibes.reminders.models import Reminder
from vibes.vault.entries import match_score, parse_query
from vibes.vault.entries import snippet as memory_snippet

Kind = Literal["journal", "reminder", "tag"]
ALL_KINDS: tuple[Kind, ...] = ("journal", "reminder", "tag")
SNIPPET_CHARS = 160
_WORDS = re.compile(r"\w+", re.UNICODE)
# The ranked list's order. Unqualified columns: they name the columns of the "hits" union.
HITS = Keyset(
    "search",
    KeyColumn(column("score", Float), float),
    KeyColumn(column("id", Uuid), uuid.UUID),
)


@dataclass(frozen=True, slots=True)
class Hit:
    type: Kind
    id: uuid.UUID
    title: str
    snippet: str
    highlights: list[tuple[int, int]]
    score: float
    created_at: dt.datetime


def _words(q: str) -> list[str]:
    return [w.casefold() for w in _WORDS.findall(q)]


def _contains_all(column: Any, words: Sequence[str]) -> ColumnElement[bool]:
    lowered = func.lower(column)
    return and_(*(lowered.contains(word, autoescape=True) for word in words))


def _between(column: Any, date_from: dt.datetime | None, date_to: dt.datetime | None) -> list[Any]:
    out = []
    if date_from is not None:
        out.append(column >= date_from)
    if date_to is not None:
        out.append(column <= date_to)
    return out


def _journal_ranks(
    dialect: str,
    viewer: Viewer,
    q: str,
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
) -> Any:
    conditions = [
        visible_journals(viewer).clause,
        *_between(Journal.entry_date, date_from, date_to),
    ]
    ranked = fts.ranked(dialect, q, conditions)
    if ranked is None:
        return None
    sub = ranked.subquery("journal_hits")
    return select(
        literal("journal", String).label("type"),
        sub.c.id,
        sub.c.score,
        sub.c.created_at,
    )


def _reminder_ranks(
    viewer: Viewer,
    words: Sequence[str],
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
) -> Any:
    in_title = _contains_all(Reminder.title, words)
    in_notes = _contains_all(
        func.coalesce(Reminder.title, "") + " " + func.coalesce(Reminder.notes, ""), words
    )
    return select(
        literal("reminder", String).label("type"),
        Reminder.id.label("id"),
        case((in_title, 1.0), else_=0.5).cast(Float).label("score"),
        Reminder.created_at.label("created_at"),
    ).where(
        Reminder.user_id == viewer.user_id,
        or_(in_title, in_notes),
        *_between(Reminder.remind_at, date_from, date_to),
    )


def _tag_ranks(
    viewer: Viewer,
    q: str,
    words: Sequence[str],
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
) -> Any:
    exact = " ".join(q.split()).casefold()
    return select(
        literal("tag", String).label("type"),
        Tag.id.label("id"),
        case((Tag.name_key == exact, 1.0), else_=0.5).cast(Float).label("score"),
        Tag.created_at.label("created_at"),
    ).where(
        Tag.user_id == viewer.user_id,
        _contains_all(Tag.name_key, words),
        *_between(Tag.created_at, date_from, date_to),
    )


def _excerpt(text: str, words: Sequence[str]) -> fts.Snippet:
    """A window of `text` around the first match, with the matches marked."""
    lowered = text.casefold()
    positions = [lowered.find(w) for w in words if lowered.find(w) >= 0]
    start = max(0, min(positions) - SNIPPET_CHARS // 3) if positions else 0
    window = text[start : start + SNIPPET_CHARS]
    prefix = fts.ELLIPSIS if start > 0 else ""
    suffix = fts.ELLIPSIS if start + SNIPPET_CHARS < len(text) else ""
    body = prefix + window + suffix
    return fts.highlight_words(body, words)


async def search(
    session: AsyncSession,
    viewer: Viewer,
    *,
    q: str,
    kinds: Sequence[Kind] = ALL_KINDS,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    page: PageParams,
) -> tuple[list[Hit], str | None]:
    """One page of ranked hits and the next page's cursor."""
    dialect = fts.dialect_of(session)
    words = _words(q)
    parts: list[Any] = []
    params: dict[str, Any] = {}
    if "journal" in kinds:
        journal_part = _journal_ranks(dialect, viewer, q, date_from, date_to)
        if journal_part is not None:
            parts.append(journal_part)
            # The entries' part runs with the visibility rule's parameters.
            params = visible_journals(viewer).params
    if words and "reminder" in kinds:
        parts.append(_reminder_ranks(viewer, words, date_from, date_to))
    if words and "tag" in kinds:
        parts.append(_tag_ranks(viewer, q, words, date_from, date_to))
    secret: dict[uuid.UUID, _SecretHit] = {}
    if "journal" in kinds and viewer.secret_tags:
        secret = await _secret_hits(session, viewer, q, date_from, date_to)
    if not parts and not secret:
        if page.cursor is not None:
            HITS.decode(page.cursor)
        return [], None
    rows: list[Any] = []
    if parts:
        combined: Any = union_all(*parts) if len(parts) > 1 else parts[0]
        hits: Any = combined.subquery("hits")
        rows = list((await session.execute(HITS.apply(select(hits), page), params)).all())
    if secret:
        # The index holds nothing of secret entries: their in-memory hits join the ranked
        # list here, after the same cursor and in the same (score, id) order.
        after = HITS.decode(page.cursor) if page.cursor is not None else None
        rows += [
            hit
            for hit in secret.values()
            if after is None or (hit.score, hit.id) < (after[0], after[1])
        ]
        rows.sort(key=lambda r: (r.score, r.id), reverse=True)
        rows = rows[: page.limit + 1]
    items, cursor = HITS.split(rows, page, lambda r: (r.score, r.id))
    return await _decorate(session, q, words, items), cursor


@dataclass(frozen=True, slots=True)
class _SecretHit:
    """A decrypted secret entry matching the query (lives only for this request)."""

    type: Kind
    id: uuid.UUID
    score: float
    created_at: dt.datetime
    title: str
    snippet: fts.Snippet


async def _secret_hits(
    session: AsyncSession,
    viewer: Viewer,
    q: str,
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
) -> dict[uuid.UUID, _SecretHit]:
    """The unlocked tags' entries that match `q`, decrypted and matched in memory."""
    query = parse_query(q, await language_of(session, viewer.user_id))
    if query.is_empty:
        return {}
    visible = visible_journals(viewer)
    rows = await session.execute(
        select(
            Journal.id,
            Journal.version,
            Journal.secret_tag_id,
            Journal.nonce,
            Journal.ciphertext,
            Journal.created_at,
        ).where(
            visible.clause,
            Journal.secret_tag_id.in_(sorted(viewer.secret_tags)),
            *_between(Journal.entry_date, date_from, date_to),
        ),
        visible.params,
    )
    found: dict[uuid.UUID, _SecretHit] = {}
    for row in rows:
        _, opened = reveal(viewer, row)
        score = match_score(opened, query)
        if not score:
            continue
        text, highlights = memory_snippet(opened.content or opened.title, query)
        if not highlights:
            text, highlights = memory_snippet(opened.title, query)
        found[row.id] = _SecretHit(
            type="journal",
            id=row.id,
            score=score,
            created_at=row.created_at,
            title=opened.title,
            snippet=fts.Snippet(text, highlights),
        )
    return found


async def _decorate(
    session: AsyncSession,
    q: str,
    words: Sequence[str],
    rows: Sequence[Any],
) -> list[Hit]:
    """Titles, snippets and highlights for the page's rows (a few small queries)."""
    ids: dict[str, list[uuid.UUID]] = {"journal": [], "reminder": [], "tag": []}
    texts: dict[uuid.UUID, tuple[str, fts.Snippet]] = {}
    for row in rows:
        if isinstance(row, _SecretHit):
            texts[row.id] = (row.title, row.snippet)
        else:
            ids[row.type].append(row.id)
    if ids["journal"]:
        cut = await fts.snippets(session, q, ids["journal"])
        for journal_id in ids["journal"]:
            texts[journal_id] = cut.get(journal_id, ("", fts.Snippet("", [])))
    if ids["reminder"]:
        for reminder_id, title, notes in await session.execute(
            select(Reminder.id, Reminder.title, Reminder.notes).where(
                Reminder.id.in_(ids["reminder"])
            )
        ):
            source = notes if notes and fts.highlight_words(notes, words).highlights else title
            texts[reminder_id] = (title, _excerpt(source, words))
    if ids["tag"]:
        for tag_id, name in await session.execute(
            select(Tag.id, Tag.name).where(Tag.id.in_(ids["tag"]))
        ):
            texts[tag_id] = (name, fts.highlight_words(name, words))
    hits = []
    for row in rows:
        title, snippet = texts.get(row.id, ("", fts.Snippet("", [])))
        hits.append(
            Hit(
                type=row.type,
                id=row.id,
                title=title,
                snippet=snippet.text,
                highlights=snippet.highlights,
                score=float(row.score),
                created_at=row.created_at,
            )
        )
    return hits
