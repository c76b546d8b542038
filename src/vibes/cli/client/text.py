"""Entries as text: jrnl's quick syntax (`vibes write`), and the front-matter form an entry
takes in `$EDITOR` (`vibes edit`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TITLE_MAX = 500
# `@word` not glued to a word before it (so `mum@example.com` is no tag).
_TAG = re.compile(r"(?<![\w@])@(\w[\w-]*)")
# The first sentence ends at . ! ? followed by a space or the end, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?:\s+|$)|\n")


@dataclass
class Draft:
    title: str
    content: str
    tags: list[str] = field(default_factory=list)


def tags_in(text: str) -> list[str]:
    """`@tags` in order of first appearance, each once (case-insensitively)."""
    seen: dict[str, str] = {}
    for match in _TAG.finditer(text):
        name = match.group(1).rstrip("-_")
        if name:
            seen.setdefault(name.casefold(), name)
    return list(seen.values())


def quick(text: str) -> Draft:
    """jrnl's syntax: the first sentence (or line) is the title, the rest the body; `@tags`
    anywhere are the entry's tags and stay in the text. A title longer than the API takes
    is cut at a word and the whole sentence kept in the body."""
    text = text.strip()
    match = _SENTENCE_END.search(text)
    if match:
        title, content = text[: match.start()].strip(), text[match.end() :].strip()
    else:
        title, content = text, ""
    if title.endswith(".") and not title.endswith(".."):
        title = title[:-1].rstrip()
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        content = text
        title = title[: TITLE_MAX - 1].rsplit(" ", 1)[0] + "…"
    return Draft(title=title, content=content, tags=tags_in(text))


# -- the editor form -----------------------------------------------------------------

FENCE = "---"


def to_editable(title: str, content: str, *, date: str, tags: list[str], mood: int | None) -> str:
    return (
        f"{FENCE}\n"
        f"title: {title}\n"
        f"date: {date}\n"
        f"tags: {', '.join(tags)}\n"
        f"mood: {'' if mood is None else mood}\n"
        f"{FENCE}\n"
        f"{content}"
        f"{'' if content.endswith(chr(10)) or not content else chr(10)}"
    )


@dataclass
class Edited:
    title: str
    content: str
    date: str | None
    tags: list[str]
    mood: int | None


def from_editable(text: str) -> Edited:
    """Read the form back. Without front matter the text is read with the quick syntax."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != FENCE:
        draft = quick(text)
        return Edited(draft.title, draft.content, None, draft.tags, None)
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == FENCE)
    except StopIteration:
        raise ValueError("the front matter has no closing '---' line") from None
    fields: dict[str, str] = {}
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in ("title", "date", "tags", "mood"):
            raise ValueError(f"unknown line in the front matter: {line!r}")
        fields[key.strip().lower()] = value.strip()
    content = "\n".join(lines[end + 1 :]).rstrip("\n")
    title = fields.get("title", "")
    if not title:
        raise ValueError("the title is empty")
    mood_text = fields.get("mood", "")
    try:
        mood = int(mood_text) if mood_text else None
    except ValueError:
        raise ValueError(f"mood is a number from 1 to 10, not {mood_text!r}") from None
    tags = [t.strip().lstrip("@") for t in fields.get("tags", "").split(",") if t.strip()]
    return Edited(title, content, fields.get("date") or None, tags, mood)
