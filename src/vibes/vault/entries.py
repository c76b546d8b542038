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
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.db import CHECKPOINT_AFTER_COMMIT
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
    await session.execute(text("INSERT INTO journals_fts(journals_fts) VALUES('optimize')"))
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


_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


@dataclass(frozen=True, slots=True)
class TextQuery:
    """A parsed search query, in the web-search syntax the indexed search accepts: every
    word or "quoted phrase" must match, `or` between two terms makes either do, a leading
    `-` excludes a term. Words match whole words, case-insensitively, as in the index."""

    groups: tuple[tuple[tuple[str, ...], ...], ...]  # AND of (OR of phrases)
    excluded: tuple[tuple[str, ...], ...]

    @property
    def is_empty(self) -> bool:
        return not self.groups

    @property
    def words(self) -> frozenset[str]:
        return frozenset(word for group in self.groups for phrase in group for word in phrase)


def parse_query(q: str) -> TextQuery:
    groups: list[list[tuple[str, ...]]] = []
    excluded: list[tuple[str, ...]] = []
    pending_or = False
    for match in _TOKEN.finditer(q):
        quoted, word = match.group(1), match.group(2)
        if word is not None and word.lower() == "or" and groups:
            pending_or = True
            continue
        exclude = word is not None and word.startswith("-") and len(word) > 1
        text = quoted if quoted is not None else (word[1:] if exclude else word)
        phrase = tuple(w.casefold() for w in _WORD.findall(text or ""))
        if not phrase:
            continue
        if exclude:
            excluded.append(phrase)
        elif pending_or and groups:
            groups[-1].append(phrase)
        else:
            groups.append([phrase])
        pending_or = False
    return TextQuery(tuple(tuple(g) for g in groups), tuple(excluded))


def _count(words: list[str], phrase: tuple[str, ...]) -> int:
    n = len(phrase)
    return sum(1 for i in range(len(words) - n + 1) if tuple(words[i : i + n]) == phrase)


def match_score(entry: SecretContent, query: TextQuery) -> float:
    """In-memory full-text match of a decrypted entry (title, content and its tag names).

    0.0 when it does not match; otherwise a score where title hits weigh twice as much as
    content hits, normalised by length (close in spirit to the index's ranking).
    """
    if query.is_empty:
        return 0.0
    title = [w.casefold() for w in _WORD.findall(entry.title)]
    body = [w.casefold() for w in _WORD.findall(entry.content)]
    body += [w.casefold() for tag in entry.tags for w in _WORD.findall(tag)]
    score = 0.0
    for group in query.groups:
        hits = sum(2.0 * _count(title, phrase) + _count(body, phrase) for phrase in group)
        if not hits:
            return 0.0
        score += hits
    for phrase in query.excluded:
        if _count(title, phrase) or _count(body, phrase):
            return 0.0
    return score / math.sqrt(1.0 + len(title) + len(body))


def snippet(text: str, query: TextQuery, *, width: int = 160) -> tuple[str, list[tuple[int, int]]]:
    """A plain-text excerpt of `text` around the first matched word, with `[start, end)`
    offsets of the matched words inside it (like the indexed search's snippets)."""
    wanted = query.words
    spans = [m.span() for m in _WORD.finditer(text) if m.group().casefold() in wanted]
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
