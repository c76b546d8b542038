"""Keyset (cursor) pagination, the one way every list in the API is paged.

A list is ordered by a fixed tuple of columns ending in a unique one (usually `id`), e.g.
`(entry_date DESC, id DESC)`. A page is `WHERE (order columns) < (last row's values)
ORDER BY ... LIMIT n + 1`: the extra row says whether there is a next page, and rows
inserted meanwhile never shift a page the way OFFSET would (stable under concurrent
inserts). The cursor is the last row's key values, base64url-encoded JSON tagged with the
keyset's name; clients treat it as opaque. A cursor that does not decode, or belongs to
another list, is a 422 problem (`loc: ["query", "cursor"]`).

Usage::

    ENTRIES = Keyset("journals", KeyColumn(Journal.entry_date, dt.datetime),
                     KeyColumn(Journal.id, uuid.UUID))

    async def list_entries(page: Page) -> ...:
        stmt = ENTRIES.apply(select(Journal).where(...), page)
        rows = (await session.scalars(stmt)).all()
        items, next_cursor = ENTRIES.split(rows, page, lambda j: (j.entry_date, j.id))
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Query
from sqlalchemy import Select, and_, bindparam, false, literal, or_, tuple_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from vibes.errors import Unprocessable

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Cursors are small; anything longer is not one of ours.
MAX_CURSOR_LENGTH = 1024

T = TypeVar("T")
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")

KeyValue = dt.datetime | uuid.UUID | int | float | str | None


class InvalidCursor(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            "The cursor is not valid for this list.",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
        )


@dataclass(frozen=True, slots=True)
class PageParams:
    """What the client asked for: `limit` rows after `cursor` (raw, decoded per keyset)."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


# `async` although it awaits nothing: FastAPI runs a plain `def` dependency in a worker
# thread, a thread hand-off per list request for two query parameters.
async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor or None)


Page = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True, slots=True)
class KeyColumn:
    """One column of a keyset order, with the Python type its cursor value decodes to."""

    column: ColumnElement[Any] | QueryableAttribute[Any]
    kind: type
    descending: bool = True
    nullable: bool = False


def _encode_value(value: KeyValue) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decode_value(raw: Any, kind: type, nullable: bool) -> KeyValue:
    if raw is None:
        if nullable:
            return None
        raise ValueError("null key")
    if kind is dt.datetime:
        if not isinstance(raw, str):
            raise ValueError("not a timestamp")
        value = dt.datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError("naive timestamp")
        return value
    if kind is uuid.UUID:
        if not isinstance(raw, str):
            raise ValueError("not a uuid")
        return uuid.UUID(raw)
    if kind is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError("not a number")
        return float(raw)
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("not an integer")
        return raw
    if kind is str:
        if not isinstance(raw, str):
            raise ValueError("not a string")
        return raw
    raise TypeError(f"unsupported key type {kind!r}")


class Keyset:
    """A named keyset order: builds ORDER BY, the "after cursor" condition, and cursors."""

    def __init__(self, name: str, *columns: KeyColumn) -> None:
        if not columns:
            raise ValueError("a keyset needs at least one column")
        self.name = name
        self.columns = columns

    # -- cursors ---------------------------------------------------------------------
    def encode(self, values: Sequence[KeyValue]) -> str:
        payload = {"k": self.name, "v": [_encode_value(v) for v in values]}
        # orjson: a cursor ends every page, and json.dumps costs several times more.
        # (Non-ASCII strings come out as UTF-8 instead of \u escapes; `decode` reads both.)
        raw = orjson.dumps(payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, cursor: str) -> list[KeyValue]:
        """The key values in `cursor`, or `InvalidCursor` (a 422 problem)."""
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(payload, dict) or payload.get("k") != self.name:
                raise ValueError("foreign cursor")
            raw_values = payload.get("v")
            if not isinstance(raw_values, list) or len(raw_values) != len(self.columns):
                raise ValueError("wrong arity")
            return [
                _decode_value(raw, col.kind, col.nullable)
                for raw, col in zip(raw_values, self.columns, strict=True)
            ]
        except (ValueError, TypeError, UnicodeError, binascii.Error, json.JSONDecodeError):
            raise InvalidCursor() from None

    # -- SQL -------------------------------------------------------------------------
    def order_by(self) -> list[ColumnElement[Any]]:
        return [c.column.desc() if c.descending else c.column.asc() for c in self.columns]

    def after(self, values: Sequence[KeyValue]) -> ColumnElement[bool]:
        """Rows strictly after `values` in this order."""
        typed = [literal(v, type_=c.column.type) for v, c in zip(values, self.columns, strict=True)]
        return self._after(typed)

    def after_template(self, prefix: str = "cursor") -> ColumnElement[bool]:
        """`after` with named bind parameters (`cursor_0`, `cursor_1`, …), for statements
        built once and executed many times; values come from `cursor_params`."""
        return self._after(
            [bindparam(f"{prefix}_{i}", type_=c.column.type) for i, c in enumerate(self.columns)]
        )

    def cursor_params(self, cursor: str, prefix: str = "cursor") -> dict[str, KeyValue]:
        """Execution parameters for `after_template`, decoded from `cursor` (or 422)."""
        return {f"{prefix}_{i}": v for i, v in enumerate(self.decode(cursor))}

    def _after(self, typed: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
        cols = self.columns
        same_direction = len({c.descending for c in cols}) == 1
        if same_direction and not any(c.nullable for c in cols) and len(cols) > 1:
            # A row-value comparison lets PostgreSQL walk the (…, key, id) index directly.
            left = tuple_(*(c.column for c in cols))
            right = tuple_(*typed)
            return left < right if cols[0].descending else left > right
        # Expanded form: (a < x) OR (a = x AND b < y) OR ...
        clauses: list[ColumnElement[bool]] = []
        for i, col in enumerate(cols):
            equal_prefix = [cols[j].column == typed[j] for j in range(i)]
            step = col.column < typed[i] if col.descending else col.column > typed[i]
            clauses.append(and_(*equal_prefix, step))
        return or_(false(), *clauses)

    def apply(self, stmt: S, page: PageParams) -> S:
        """`stmt` ordered by this keyset, after the page's cursor, limited to limit + 1."""
        if page.cursor is not None:
            stmt = stmt.where(self.after(self.decode(page.cursor)))
        return stmt.order_by(*self.order_by()).limit(page.limit + 1)

    def split(
        self, rows: Sequence[T], page: PageParams, key: Callable[[T], Sequence[KeyValue]]
    ) -> tuple[list[T], str | None]:
        """The page's rows and the cursor of the next page (None on the last page)."""
        items = list(rows[: page.limit])
        if len(rows) > page.limit and items:
            return items, self.encode(key(items[-1]))
        return items, None


# -- cursors bound to their filters -----------------------------------------------------
# A cursor only means something for the query that made it: a `q=mountain` cursor used
# with `q=other` would silently skip or repeat rows. A list with filters appends a short
# hash of them to its cursors (`<cursor>.<fingerprint>`) and refuses a cursor whose
# fingerprint differs (422), without the keyset code having to know about filters.


def filter_fingerprint(filters: Mapping[str, object]) -> str:
    """A short, stable hash of a list's filters (values rendered with `str`)."""
    try:
        key = tuple(
            (name, tuple(value) if isinstance(value, list) else value)
            for name, value in sorted(filters.items())
        )
        return _cached_fingerprint(key)
    except TypeError:  # a value that is not hashable: computed afresh
        return _fingerprint(filters)


@functools.lru_cache(maxsize=1024)  # most pages repeat a few filter sets (none, most often)
def _cached_fingerprint(key: tuple[tuple[str, Any], ...]) -> str:
    # Tuples (from lists) render as the same JSON arrays.
    return _fingerprint(dict(key))


def _fingerprint(filters: Mapping[str, object]) -> str:
    canonical = json.dumps(
        {k: filters[k] for k in sorted(filters)}, default=str, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()[:6]
    return base64.urlsafe_b64encode(digest).decode()


def bind_page(page: PageParams, filters: Mapping[str, object]) -> PageParams:
    """`page` with its cursor unwrapped for the keyset; `InvalidCursor` (422) when the
    cursor was made for other filters (or carries no fingerprint)."""
    if page.cursor is None:
        return page
    inner, sep, mark = page.cursor.rpartition(".")
    if not sep or not inner or mark != filter_fingerprint(filters):
        raise InvalidCursor()
    return PageParams(limit=page.limit, cursor=inner)


def seal_cursor(cursor: str | None, filters: Mapping[str, object]) -> str | None:
    """The next page's cursor with the filters' fingerprint appended."""
    return None if cursor is None else f"{cursor}.{filter_fingerprint(filters)}"
