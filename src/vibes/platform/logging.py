"""Structured logs: JSON lines in production, readable lines on a console."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from vibes.config import Settings

# What a log line must never carry raw, since much of it comes from clients (a request
# path, a header): C0 controls (newline forges a line, ESC drives the terminal, NUL cuts
# it), DEL, C1 controls (U+009B is a one-character ESC [ on many terminals, U+0085 a
# newline), Unicode line/paragraph separators, and the bidi controls that reorder what a
# reader sees (Trojan Source). The backslash is escaped too, so an escape in a log line is
# ours and a client cannot spell one that looks like it.
_UNSAFE = re.compile(
    "[\\\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# A traceback's own line breaks and indentation are kept (console format); everything
# else in it is escaped like any field.
_UNSAFE_IN_TRACEBACK = re.compile(
    "[\\\\\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_MULTILINE_FIELDS = frozenset({"exception", "stack"})


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control_characters(text: str, *, multiline: bool = False) -> str:
    """`text` with every control, separator and bidi character written as an escape
    (`\\x0a`, `\\u202e`), and backslashes doubled; keeps newlines and tabs when
    `multiline` (a traceback)."""
    pattern = _UNSAFE_IN_TRACEBACK if multiline else _UNSAFE
    if pattern.search(text) is None:  # the common case costs one scan
        return text
    return pattern.sub(_escape_char, text)


def _escaped(value: Any, multiline: bool = False) -> Any:
    if isinstance(value, str):
        return escape_control_characters(value, multiline=multiline)
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_escaped(item) for item in value)
    return value


def escape_log_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: escape control characters in every field of every line, ours
    and foreign (uvicorn's, the stdlib's), whatever the output format."""
    return {
        escape_control_characters(str(key)): _escaped(value, key in _MULTILINE_FIELDS)
        for key, value in event_dict.items()
    }


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering: every field is final here, the traceback included.
            escape_log_fields,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # httpx and httpcore log every request at INFO/DEBUG with its full URL, and aiohttp
    # (the webhooks' client) may quote one at DEBUG; a webhook's path and query can hold
    # its receiver's secret (the dispatcher logs the host only).
    # Drivers log each statement with its parameters at DEBUG (aiosqlite, asyncpg, and
    # SQLAlchemy's engine when echoing): that is people's journal text, emails and hashes.
    # They stay at WARNING whatever VIBES_LOG_LEVEL says; the canary test proves it.
    quiet = ("httpx", "httpcore", "aiohttp", "aiosqlite", "asyncpg", "sqlalchemy.engine", "hpack")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
