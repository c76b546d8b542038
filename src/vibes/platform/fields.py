"""Validated input types every domain's schemas share: text that both databases can store,
and instants that every conversion (to UTC, to a local zone, a year ahead) can handle.

Text: PostgreSQL refuses NUL in text columns and a lone surrogate cannot be encoded to
UTF-8 on either database, so both are refused at the edge (422) instead of failing in the
driver (500). Single-line fields (titles, names) also refuse every other control
character, CR and LF included, since they end up in places such as mail subjects; multi-line
fields (content, notes) allow tab, LF and CR.

Instants: a date-time at the edge of Python's range (0001-01-01T00:00+05:00) overflows when
converted to UTC; one before 1900 in a zone like Europe/Paris runs on local mean time.
Each instant type bounds the year, both as given and in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

MIN_YEAR = 1900
MAX_YEAR = 9000
# Schedules run on zone rules, which are only well defined from the Unix epoch on.
SCHEDULE_MIN_YEAR = 1970

_MULTI_LINE_ALLOWED = frozenset("\t\n\r")
# Line and paragraph separators break a "single line" as surely as LF does.
_LINE_BREAK_CATEGORIES = frozenset({"Zl", "Zp"})


# Every character the loop in `text_problem` can refuse (NUL and the other Cc characters,
# surrogates; for single lines also tab, CR, LF and the Zl/Zp separators): a regex finds
# the first one at C speed, so an entry of a megabyte is not walked character by character.
_SUSPECT_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SUSPECT_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, single_line: bool) -> str | None:
    """Why `value` cannot be stored as a text field, or None when it can."""
    # In ASCII the refused characters are exactly the unprintable ones (but tab, CR and
    # LF in multi-line text): `isprintable` tells at C speed, faster than the regex, for
    # the common case of nothing refused.
    if value.isascii() and (
        value.isprintable()
        or (
            not single_line
            and value.replace("\n", "").replace("\r", "").replace("\t", "").isprintable()
        )
    ):
        return None
    suspect = (_SUSPECT_SINGLE_LINE if single_line else _SUSPECT_MULTI_LINE).search(value)
    if suspect is None:
        return None
    for ch in value[suspect.start() :]:
        code = ord(ch)
        if code == 0:
            return "must not contain NUL characters"
        if 0xD800 <= code <= 0xDFFF:
            return "must not contain unpaired surrogate characters"
        category = unicodedata.category(ch)
        if category == "Cc":
            if single_line:
                return "must be a single line without control characters"
            if ch not in _MULTI_LINE_ALLOWED:
                return "must not contain control characters other than tab and line breaks"
        elif single_line and category in _LINE_BREAK_CATEGORIES:
            return "must be a single line without control characters"
    return None


def check_line(value: str) -> str:
    problem = text_problem(value, single_line=True)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_text(value: str) -> str:
    problem = text_problem(value, single_line=False)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_unicode(value: str) -> str:
    for ch in value:
        if ch == "\x00":
            raise ValueError("must not contain NUL characters")
        if "\ud800" <= ch <= "\udfff":
            raise ValueError("must not contain unpaired surrogate characters")
    return value


def is_blank(value: str) -> bool:
    """Nothing a reader would see: only whitespace and invisible format characters
    (zero-width spaces, joiners, direction marks)."""
    # The first character that is not a space decides, unless it is a format character
    # (then every character is looked at): a title is answered without a loop over it.
    rest = value.lstrip()
    if not rest:
        return True
    if unicodedata.category(rest[0]) != "Cf":
        return False
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in rest)


def check_required_line(value: str) -> str:
    """A single line that must say something: trimmed, and refused (not stored as "")
    when nothing visible is left."""
    value = check_line(value).strip()
    if is_blank(value):
        raise ValueError("must not be blank")
    return value


@dataclass(frozen=True)
class Documented:
    """Puts into a field's JSON schema what its validator enforces (`pattern`,
    `maxLength`, …): a validator is checked but not shown, and a schema that offers what
    the API refuses sends every generated client and fuzzer into 422s."""

    keywords: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, **keywords: object) -> Documented:
        return cls(tuple(keywords.items()))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(self.keywords)
        return json_schema


def char_class(code_points: Iterable[int]) -> str:
    """The inside of a regex character class with these code points, as `\\uXXXX` ranges
    that JSON Schema (ECMA-262), Python and Rust regex engines all read alike. Code points
    must be in the Basic Multilingual Plane and not surrogates (those three engines
    disagree about both)."""
    ranges: list[list[int]] = []
    for code in sorted(set(code_points)):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi in ranges)


# The same sets as `text_problem` and `is_blank`, as patterns for the schema. Lone
# surrogates (refused too) cannot be written in a pattern every engine reads.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0)]  # category Cc
_REFUSED_IN_LINE = [*_CONTROLS, 0x2028, 0x2029]
_REFUSED_IN_TEXT = [c for c in _CONTROLS if chr(c) not in _MULTI_LINE_ALLOWED]
_BMP = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
WHITESPACE = [c for c in _BMP if chr(c).isspace()]
SPACE_CHARS = [c for c in WHITESPACE if c not in _REFUSED_IN_LINE]
BLANK_CHARS = SPACE_CHARS + [c for c in _BMP if unicodedata.category(chr(c)) == "Cf"]


def line_pattern(
    refused: Iterable[int] = (), *, allowed: Iterable[int] = (), needs_one_not: Iterable[int] = ()
) -> str:
    """A single line without these characters either (but with the `allowed` ones) and,
    given `needs_one_not`, with at least one character outside that set."""
    refused = sorted({*_REFUSED_IN_LINE, *refused} - set(allowed))
    others = char_class(refused)
    needs = list(needs_one_not)
    if not needs:
        return f"^[^{others}]*$"
    return f"^[^{others}]*[^{char_class([*refused, *needs])}][^{others}]*$"


UNICODE_PATTERN = "^[^\\u0000]*$"
LINE_PATTERN = line_pattern()
REQUIRED_LINE_PATTERN = line_pattern(needs_one_not=BLANK_CHARS)
TEXT_PATTERN = f"^[^{char_class(_REFUSED_IN_TEXT)}]*$"

# Any storable string (passwords, tokens, addresses): only NUL and lone surrogates refused.
Unicode = Annotated[str, AfterValidator(check_unicode), Documented.of(pattern=UNICODE_PATTERN)]
# A single-line string (title, name): no control characters at all.
Line = Annotated[str, AfterValidator(check_line), Documented.of(pattern=LINE_PATTERN)]
# A single line where a value is required (titles, names): trimmed, blank refused. The
# length limit (`Field(max_length=…)`) applies to the value as sent.
RequiredLine = Annotated[
    str, AfterValidator(check_required_line), Documented.of(pattern=REQUIRED_LINE_PATTERN)
]
# A multi-line string (content, notes): tab, LF and CR allowed, other controls refused.
Text = Annotated[str, AfterValidator(check_text), Documented.of(pattern=TEXT_PATTERN)]


def check_json_int(value: object) -> object:
    """JSON has one kind of number: `7.0` is the integer 7 (as JSON Schema reads it), but
    `"7"` and `true` are not numbers."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


# An integer as JSON Schema's `integer`: 7 and 7.0, not 7.5, "7" or true. Bounds go
# before it (`Annotated[int, Field(ge=1), JSON_INT]`), so the schema shows them.
JSON_INT = BeforeValidator(check_json_int)


def instant_problem(
    value: dt.datetime, *, min_year: int = MIN_YEAR, max_year: int = MAX_YEAR
) -> str | None:
    """Why `value` is outside the range the API accepts, or None when it is inside."""
    message = f"must be between the years {min_year} and {max_year}"
    try:
        utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return message
    if not (min_year <= value.year <= max_year and min_year <= utc.year <= max_year):
        return message
    return None


# Pydantic reads a number, or a string of digits, as Unix time: `0.5` would be 1970. An
# instant is sent as text that starts with its date.
_STARTS_WITH_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_instant_form(value: object) -> object:
    if isinstance(value, int | float) or (
        isinstance(value, str) and not _STARTS_WITH_DATE.match(value)
    ):
        raise ValueError("expected an RFC 3339 date-time")
    return value


def check_instant(value: dt.datetime) -> dt.datetime:
    problem = instant_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_schedule_instant(value: dt.datetime) -> dt.datetime:
    problem = instant_problem(value, min_year=SCHEDULE_MIN_YEAR)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_day_form(value: object) -> object:
    """A calendar day is sent as `YYYY-MM-DD` text, never as a number (Unix time)."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("expected a date, YYYY-MM-DD")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A calendar day (`YYYY-MM-DD`), in queries and bodies.
Day = Annotated[dt.date, BeforeValidator(check_day_form)]


# An instant with an offset, years MIN_YEAR..MAX_YEAR (journal dates, list bounds).
Instant = Annotated[
    AwareDatetime, BeforeValidator(check_instant_form), AfterValidator(check_instant)
]
# An instant a schedule runs from (reminders, snoozes): years SCHEDULE_MIN_YEAR..MAX_YEAR.
ScheduleInstant = Annotated[
    AwareDatetime, BeforeValidator(check_instant_form), AfterValidator(check_schedule_instant)
]


def not_nullable(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional field that refuses null (`Field(default=None,
    json_schema_extra=not_nullable)`): left out means unchanged, so the type says `X | None`,
    but the schema must not offer null. (`SkipJsonSchema[None]` would make the type a real
    union, whose errors name its members in `loc`.)"""
    options = schema.pop("anyOf", None)
    if not isinstance(options, list):
        if options is not None:
            schema["anyOf"] = options
        return
    kept = [option for option in options if option != {"type": "null"}]
    if len(kept) == 1 and isinstance(kept[0], dict):
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


# A colour is "#rrggbb": the full check at the edge, the database guards the shape.
COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
Color = Annotated[str, StringConstraints(pattern=COLOR_PATTERN)]
COLOR_CHECK = "color IS NULL OR (length(color) = 7 AND substr(color, 1, 1) = '#')"
