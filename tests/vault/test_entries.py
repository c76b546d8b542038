"""The vault's helpers for journal entries: sealing, opening, in-memory matching."""

from __future__ import annotations

import uuid

import pytest

from vibes.vault import crypto
from vibes.vault.crypto import VaultIntegrityError
from vibes.vault.entries import (
    SecretContent,
    match_score,
    open_entry,
    parse_query,
    seal_entry,
    snippet,
)

USER, ROW = uuid.uuid4(), uuid.uuid4()


def test_sealed_entry_opens_only_at_its_row_and_version() -> None:
    key = crypto.new_data_key()
    nonce, ct = seal_entry(
        key, user_id=USER, journal_id=ROW, version=2, title="T", content="C", tags=["a", "b"]
    )
    opened = open_entry(key, user_id=USER, journal_id=ROW, version=2, nonce=nonce, ciphertext=ct)
    assert (opened.title, opened.content, opened.tags) == ("T", "C", ("a", "b"))
    assert "T" not in repr(opened)
    with pytest.raises(VaultIntegrityError):
        open_entry(key, user_id=USER, journal_id=ROW, version=3, nonce=nonce, ciphertext=ct)
    with pytest.raises(VaultIntegrityError):
        open_entry(key, user_id=USER, journal_id=ROW, version=2, nonce=None, ciphertext=ct)


def test_in_memory_match_needs_every_term_as_a_whole_word() -> None:
    entry = SecretContent(title="Morning run", content="Felt calm after therapy.", tags=("Health",))
    assert match_score(entry, parse_query("therapy calm", "en")) > 0
    assert match_score(entry, parse_query("health", "en")) > 0
    assert match_score(entry, parse_query("MORNING", "en")) > 0
    assert match_score(entry, parse_query("therap", "en")) == 0
    assert match_score(entry, parse_query("calm stress", "en")) == 0
    assert match_score(entry, parse_query("", "en")) == 0
    assert match_score(entry, parse_query("morning", "en")) > match_score(
        entry, parse_query("calm", "en")
    )


def test_in_memory_match_speaks_the_web_search_syntax() -> None:
    entry = SecretContent(title="Morning run", content="Felt calm after therapy.", tags=())
    assert match_score(entry, parse_query('"calm after"', "en")) > 0
    assert match_score(entry, parse_query('"after calm"', "en")) == 0
    assert match_score(entry, parse_query("stress or calm", "en")) > 0
    assert match_score(entry, parse_query("calm -therapy", "en")) == 0
    assert match_score(entry, parse_query("calm -stress", "en")) > 0


def test_snippet_marks_the_matched_words() -> None:
    text = "x " * 200 + "the calm lake"
    excerpt, highlights = snippet(text, parse_query("calm", "en"))
    assert [excerpt[a:b] for a, b in highlights] == ["calm"]
    assert excerpt.startswith("…")
