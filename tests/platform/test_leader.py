"""One holder of a job among the workers of a serve, and a takeover when it lets go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.waiting import wait_until
from vibes.platform.leader import run_when_elected


def _job(name: str, ran: list[str]) -> Callable[[asyncio.Event], Awaitable[None]]:
    async def run(stop: asyncio.Event) -> None:
        ran.append(name)
        await stop.wait()

    return run


async def test_one_holder_runs_the_job_and_another_takes_it_over_when_it_stops(
    tmp_path: Path,
) -> None:
    # flock belongs to an open file: two openings in one process contend as two processes do.
    lock = tmp_path / "dispatcher.lock"
    ran: list[str] = []
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(
        run_when_elected(lock, _job("first", ran), first_stop, retry_seconds=0.01)
    )
    await wait_until(lambda: ran == ["first"], message="the first never ran")
    second = asyncio.create_task(
        run_when_elected(lock, _job("second", ran), second_stop, retry_seconds=0.01)
    )
    for _ in range(10):  # several of the second's tries, all refused
        await asyncio.sleep(0.01)
    assert ran == ["first"]

    first_stop.set()
    await first
    await wait_until(lambda: ran == ["first", "second"], message="no takeover")
    second_stop.set()
    await second


async def test_a_waiting_candidate_stops_without_running_the_job(tmp_path: Path) -> None:
    lock = tmp_path / "dispatcher.lock"
    ran: list[str] = []
    holder_stop, waiter_stop = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(run_when_elected(lock, _job("holder", ran), holder_stop))
    await wait_until(lambda: ran == ["holder"], message="the holder never ran")
    waiter = asyncio.create_task(run_when_elected(lock, _job("waiter", ran), waiter_stop))
    waiter_stop.set()
    await waiter
    holder_stop.set()
    await holder
    assert ran == ["holder"]
