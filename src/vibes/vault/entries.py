"""What the journals domain needs from the vault: unlocked tags, sealed entries, matching.

The visibility rule itself lives in one place, `journals.visibility.visible_journals`: a
request sees public entries plus the secret entries of exactly the tags its unlock tokens
opened (`UnlockedTag`s, built by `vault.access.unlocked_tags`). Everything the index or
another table could reveal (title, content, tag links) lives only inside the entry's
AES-256-GCM ciphertext; it is decrypted in memory for the request that holds the key, and
never written anywhere else.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import CHECKPOINT_AFTER_COMMIT
from vibes.platform import textsearch
from vibes.vault import crypto
from vibes.vault.crypto import VaultIntegrityError

log = structlog.get_logger("vibes.vault")


async def forget_public_plaintext(session: AsyncSession) -> None:
    """After a flush that removed an entry's public text (moved into the vault): leave no
    copy of it in the database files.

    SQLite: rows are rewritten with `secure_delete` on (db.py), but FTS5 keeps a deleted
    entry's tokens in its index segments until they are merged, so the index is merged now
    ('optimize', cost grows with the index: acceptable for this rare operation), and the
    write-ahead log, which still holds the old pages, is checkpointed and truncated once
    the transaction has committed (`get_session`).
    PostgreSQL: the old row version stays in the table file and the WAL until VACUUM and
    WAL recycling; a dump never shows it, the raw files may (documented, not scrubbed).
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    for table in ("journals_fts", "journals_fts_plain"):
        await session.execute(text(f"INSERT INTO {table}({table}) VALUES('optimize')"))
    session.info[CHECKPOINT_AFTER_COMMIT] = True


@dataclass(frozen=True, slots=True)
class UnlockedTag:
    """A secret tag this request has unlocked: its data key and decrypted name."""

    id: uuid.UUID
    name: str
    data_key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"UnlockedTag(id={self.id})"


@dataclass(frozen=True, slots=True)
class SecretContent:
    """A secret entry's decrypted fields; exists only in memory."""

    title: str
    content: str
    tags: tuple[str, ...]

    def __repr__(self) -> str:  # never print an entry's text
        return "SecretContent(<redacted>)"


def seal_entry(
    data_key: bytes,
    *,
    user_id: uuid.UUID,
    journal_id: uuid.UUID,
    version: int,
    title: str,
    content: str,
    tags: Iterable[str],
) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) for the row at `version` (the version it will have once written)."""
    payload = {"title": title, "content": content, "tags": list(tags)}
    return crypto.seal(data_key, user_id, journal_id, version, payload)


def open_entry(
    data_key: bytes,
    *,
    user_id: uuid.UUID,
    journal_id: uuid.UUID,
    version: int,
    nonce: bytes | None,
    ciphertext: bytes | None,
) -> SecretContent:
    """The entry's fields, or VaultIntegrityError when the ciphertext is not this row's."""
    try:
        if nonce is None or ciphertext is None:
            raise VaultIntegrityError()
        payload = crypto.open_sealed(data_key, user_id, journal_id, version, nonce, ciphertext)
    except VaultIntegrityError:
        # Ids only: worth an operator's attention (tampering, a bad restore), never content.
        log.warning("secret entry failed authentication", journal_id=str(journal_id))
        raise
    title, content, tags = payload.get("title"), payload.get("content"), payload.get("tags")
    if not isinstance(title, str) or not isinstance(content, str) or not isinstance(tags, list):
        raise VaultIntegrityError()
    return SecretContent(title=title, content=content, tags=tuple(str(tag) for tag in tags))


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A query term for the in-memory matcher: its words folded and stemmed; with
    `prefix`, the last one is a folded prefix instead, and `prefix_stem` that prefix
    stemmed (PostgreSQL stems a prefix too: `walking*` finds `walked`)."""

    stems: tuple[str, ...]
    prefix: bool
    prefix_stem: str = ""

    def at(self, tokens: list[tuple[str, str]], i: int) -> bool:
        """Whether the term matches `tokens` (folded, stemmed) from position `i`."""
        last = len(self.stems) - 1
        for k, wanted in enumerate(self.stems):
            folded, stem = tokens[i + k]
            if k == last and self.prefix:
                if not (
                    folded.startswith(wanted)
                    or stem.startswith(wanted)
                    or stem.startswith(self.prefix_stem)
                ):
                    return False
            elif stem != wanted:
                return False
        return True

    def count(self, tokens: list[tuple[str, str]]) -> int:
        return sum(1 for i in range(len(tokens) - len(self.stems) + 1) if self.at(tokens, i))


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A parsed search query (`platform.textsearch.parse`: the syntax the indexed search
    accepts), its words folded and stemmed in the account's language as the index stems
    them: every group must match (any one of its terms), none of `excluded`."""

    groups: tuple[tuple[_Pattern, ...], ...]
    excluded: tuple[_Pattern, ...]
    stem: Callable[[str], str]

    @property
    def is_empty(self) -> bool:
        return not self.groups

    def tokens(self, text: str) -> list[tuple[str, str]]:
        folded = (textsearch.fold(w) for w in textsearch.WORD.findall(text))
        return [(f, self.stem(f)) for f in folded]


def parse_query(q: str, language: str) -> TextQuery:
    stem = textsearch.stemmer(language)

    def pattern(term: textsearch.Term) -> _Pattern:
        folded = [textsearch.fold(w) for w in term.words]
        stems = [stem(w) for w in folded]
        if not term.prefix:
            return _Pattern(tuple(stems), False)
        prefix_stem = stems[-1]
        stems[-1] = folded[-1]
        return _Pattern(tuple(stems), True, prefix_stem)

    parsed = textsearch.parse(q)
    if parsed is None:
        return TextQuery((), (), stem)
    return TextQuery(
        tuple(tuple(pattern(t) for t in group) for group in parsed.positive),
        tuple(pattern(t) for t in parsed.negative),
        stem,
    )


def match_score(entry: SecretContent, query: TextQuery) -> float:
    """In-memory full-text match of a decrypted entry (title, content and its tag names).

    0.0 when it does not match; otherwise a score where title hits weigh twice as much as
    content hits, normalised by length (close in spirit to the index's ranking).
    """
    if query.is_empty:
        return 0.0
    title = query.tokens(entry.title)
    body = query.tokens(entry.content)
    for tag in entry.tags:
        body += query.tokens(tag)
    score = 0.0
    for group in query.groups:
        hits = sum(2.0 * p.count(title) + p.count(body) for p in group)
        if not hits:
            return 0.0
        score += hits
    for p in query.excluded:
        if p.count(title) or p.count(body):
            return 0.0
    return score / math.sqrt(1.0 + len(title) + len(body))


def snippet(text: str, query: TextQuery, *, width: int = 160) -> tuple[str, list[tuple[int, int]]]:
    """A plain-text excerpt of `text` around the first matched word, with `[start, end)`
    offsets of the matched words inside it (like the indexed search's snippets)."""
    singles = [
        _Pattern((stem,), True, p.prefix_stem)
        if p.prefix and k == len(p.stems) - 1
        else _Pattern((stem,), False)
        for group in query.groups
        for p in group
        for k, stem in enumerate(p.stems)
    ]
    spans = []
    for m in textsearch.WORD.finditer(text):
        folded = textsearch.fold(m.group())
        token = [(folded, query.stem(folded))]
        if any(s.at(token, 0) for s in singles):
            spans.append(m.span())
    start = max(0, spans[0][0] - width // 4) if spans else 0
    end = min(len(text), start + width)
    excerpt = text[start:end]
    highlights = [(a - start, b - start) for a, b in spans if a >= start and b <= end]
    if start > 0:
        excerpt = "…" + excerpt
        highlights = [(a + 1, b + 1) for a, b in highlights]
    if end < len(text):
        excerpt += "…"
    return excerpt, highlights
