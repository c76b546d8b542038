"""Logs as `vibes serve` and `vibes worker` configure them, captured for a test."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import structlog

from vibes.config import Settings
from vibes.platform.logging import configure_logging


@contextmanager
def configured_logs(
    settings: Settings, log_format: Literal["json", "console"] = "console", level: str = "INFO"
) -> Iterator[io.StringIO]:
    """Configure logging as the commands do and yield what it writes; restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    pinned = ("httpx", "httpcore", "aiosqlite", "asyncpg", "sqlalchemy.engine", "hpack")
    saved_levels = {name: logging.getLogger(name).level for name in pinned}
    output = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": log_format, "log_level": level}))
    # configure_logging writes to stderr, which pytest swaps between test phases.
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(output)
    try:
        yield output
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        for name, level_number in saved_levels.items():
            logging.getLogger(name).setLevel(level_number)
        structlog.reset_defaults()
