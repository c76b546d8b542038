"""Periodic jobs that any number of workers may try: one of them runs each round.

A job's row (`PeriodicJob`) holds when it last ran. Claiming a round is one conditional
UPDATE (`… WHERE last_run_at IS NULL OR last_run_at <= now - every`): of workers that try
at once, exactly one changes the row (PostgreSQL re-checks the condition after waiting
for the other's row lock; SQLite runs one writer at a time), and only it runs the job.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, update

from vibes.db import Database
from vibes.platform.models import PeriodicJob
from vibes.platform.portable import insert_ignoring_conflicts


async def claim_round(database: Database, name: str, every: dt.timedelta, now: dt.datetime) -> bool:
    """True when this caller may run job `name` now (its last run is `every` old or more,
    or it never ran); the claim is committed before the job runs."""
    async with database.session_scope() as session:
        await session.execute(
            insert_ignoring_conflicts(
                session, PeriodicJob, [{"name": name, "last_run_at": None}], on=["name"]
            )
        )
        result = await session.execute(
            update(PeriodicJob)
            .where(
                PeriodicJob.name == name,
                or_(PeriodicJob.last_run_at.is_(None), PeriodicJob.last_run_at <= now - every),
            )
            .values(last_run_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0) == 1
