"""Waiting for a condition instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded machine (a flaky test) or longer than needed
everywhere (a slow one). `wait_until` polls the condition itself and fails with a clear
message at the deadline; `wait_until_blocking` is the same for synchronous tests that
watch another process.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    # The deadline is this helper's point; it fails with an AssertionError naming the wait.
    timeout: float = 10.0,  # noqa: ASYNC109
    interval: float = 0.01,
    message: str = "",
) -> T:
    """Poll `predicate` (sync or async) until it returns something truthy; return that.

    Checked once before any wait, and once more at the deadline, then AssertionError.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"condition not met within {timeout} s" + (f": {message}" if message else "")
            )
        await asyncio.sleep(interval)


def wait_until_blocking(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """`wait_until` for synchronous code (watching a subprocess, a file, a port)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"condition not met within {timeout} s" + (f": {message}" if message else "")
            )
        time.sleep(interval)
