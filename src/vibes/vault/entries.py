"""What the journals domain needs from the vault: the visibility rule and sealed entries.

The one rule: a request sees public entries, plus the secret entries of exactly the tags
its unlock tokens opened. Everything the index or another table could reveal (title,
content, tag links) lives only inside the entry's AES-256-GCM ciphertext; it is decrypted
in memory for the request that holds the key, and never written anywhere else.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_

from vibes.vault import crypto
from vibes.vault.crypto import VaultIntegrityError


def visible_clause(secret_tag_id: Any, unlocked: Collection[uuid.UUID]) -> ColumnElement[bool]:
    """WHERE clause: not secret, or secret under one of the unlocked tags."""
    public: ColumnElement[bool] = secret_tag_id.is_(None)
    if not unlocked:
        return public
    return or_(public, secret_tag_id.in_(sorted(unlocked)))


def only_unlocked_clause(
    secret_tag_id: Any, unlocked: Collection[uuid.UUID]
) -> ColumnElement[bool]:
    """WHERE clause: secret entries of the unlocked tags only (for in-memory search)."""
    if not unlocked:
        return false()
    clause: ColumnElement[bool] = secret_tag_id.in_(sorted(unlocked))
    return clause


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
    if nonce is None or ciphertext is None:
        raise VaultIntegrityError()
    payload = crypto.open_sealed(data_key, user_id, journal_id, version, nonce, ciphertext)
    title, content, tags = payload.get("title"), payload.get("content"), payload.get("tags")
    if not isinstance(title, str) or not isinstance(content, str) or not isinstance(tags, list):
        raise VaultIntegrityError()
    return SecretContent(title=title, content=content, tags=tuple(str(tag) for tag in tags))


_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(q: str) -> list[str]:
    return [term.casefold() for term in _WORD.findall(q)]


def match_score(entry: SecretContent, terms: list[str]) -> float:
    """In-memory full-text match for decrypted entries: every term must start a word of the
    title, content or tags (prefix match, case-insensitive). 0.0 when it does not match; a
    title hit weighs more, like the indexed search's ranking."""
    if not terms:
        return 0.0
    title_words = [w.casefold() for w in _WORD.findall(entry.title)]
    body_words = [w.casefold() for w in _WORD.findall(entry.content)]
    body_words += [w.casefold() for tag in entry.tags for w in _WORD.findall(tag)]
    score = 0.0
    for term in terms:
        in_title = sum(1 for w in title_words if w.startswith(term))
        in_body = sum(1 for w in body_words if w.startswith(term))
        if not in_title and not in_body:
            return 0.0
        score += 2.0 * in_title + in_body
    length = 1.0 + len(title_words) + len(body_words)
    return score / math.sqrt(length)
