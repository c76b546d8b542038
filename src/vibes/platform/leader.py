"""One process of a machine's `vibes serve --workers N` runs a job, whichever it is.

The workers are identical copies started together; the first to take an exclusive lock
on a file of the serve's own folder runs the job, the others try again every few seconds.
The kernel drops a lock with its process, so when that worker dies (and uvicorn replaces
it) another takes the job over within `RETRY_SECONDS`, with nothing to expire or clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

log = structlog.get_logger("vibes.platform.leader")

RETRY_SECONDS = 2.0


async def run_when_elected(
    lock_path: Path,
    job: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    *,
    retry_seconds: float = RETRY_SECONDS,
) -> None:
    """Run `job(stop)` once this process holds `lock_path`; return when `stop` is set."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while not stop.is_set():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(retry_seconds):
                        await stop.wait()
                continue
            log.info("elected", job=lock_path.stem, pid=os.getpid())
            try:
                await job(stop)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return
    finally:
        os.close(fd)
