"""Tag names: what a name may be, and what makes two names one tag."""

from __future__ import annotations

import functools
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from vibes.platform.fields import (
    BLANK_CHARS,
    WHITESPACE,
    Documented,
    line_pattern,
    text_problem,
)

TAG_NAME_MAX = 64


# Cached: an import or a batch checks the same few names on every entry (a ValueError is
# not cached; it is raised again).
@functools.lru_cache(maxsize=8192)
def clean_tag_name(value: str) -> str:
    """NFC, trimmed, inner whitespace collapsed; no control characters."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise ValueError("a tag name must not be blank")
    if len(name) > TAG_NAME_MAX:
        raise ValueError(f"a tag name has at most {TAG_NAME_MAX} characters")
    if text_problem(name, single_line=True) is not None:
        raise ValueError("a tag name must not contain control characters")
    if _invisible(name):
        raise ValueError("a tag name must not contain invisible or text-direction characters")
    return name


# Around a zero-width joiner inside an emoji sequence (👩‍💻, 🏳️‍🌈): emoji, modifiers,
# variation selectors.
_EMOJI_PARTS = frozenset({"So", "Sk", "Mn"})


def _invisible(name: str) -> bool:
    """Whether the name holds a format character (category Cf: zero-width spaces, bidi
    embeddings and overrides, direction marks, soft hyphens): "a\u200bb" would look like
    "ab" yet be another tag, and "\u202e" reverses what follows. The one exception is a
    zero-width joiner between emoji parts, which is how many emoji are spelled."""
    if name.isascii():
        return False  # no format character is ASCII
    for i, ch in enumerate(name):
        if unicodedata.category(ch) != "Cf":
            continue
        joined_emoji = (
            ch == "\u200d"
            and 0 < i < len(name) - 1
            and unicodedata.category(name[i - 1]) in _EMOJI_PARTS
            and unicodedata.category(name[i + 1]) == "So"
        )
        if not joined_emoji:
            return True
    return False


@functools.lru_cache(maxsize=8192)  # every listed entry's tags are sorted by it
def tag_key(name: str) -> str:
    """What makes two names one tag: case-folded, so "Work" and "WORK" are the same."""
    return clean_tag_name(name).casefold()[:TAG_NAME_MAX]


# What the schema can say of `clean_tag_name`: something visible, no format character,
# no control character but whitespace (which is collapsed to one space), at most
# TAG_NAME_MAX long (counted after collapsing, so a longer name with runs of spaces may
# pass). The one difference: the API takes a zero-width joiner inside an emoji (👩‍💻),
# which a pattern cannot tell from a joiner elsewhere, so the schema refuses it
# everywhere: stricter than the API, never looser.
_FORMAT_CHARS = [c for c in BLANK_CHARS if unicodedata.category(chr(c)) == "Cf"]
TAG_NAME_PATTERN = line_pattern(
    _FORMAT_CHARS, allowed=WHITESPACE, needs_one_not=[*BLANK_CHARS, *WHITESPACE]
)

TagName = Annotated[
    str,
    StringConstraints(max_length=4 * TAG_NAME_MAX),
    AfterValidator(clean_tag_name),
    Documented.of(pattern=TAG_NAME_PATTERN, maxLength=TAG_NAME_MAX),
]
