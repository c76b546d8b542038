"""Dashboard and calendar answers kept per user in the runtime's `UserCache`.

Only answers of a request that unlocked no secret tag are kept: an unlocked answer counts
secret entries, and what the vault holds is never written outside the database. Any
committed write of the user makes the kept answers stale (see `platform.usercache`); a
dashboard also expires at the user's next local midnight, when "today" moves on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from vibes.analytics.schemas import Dashboard
from vibes.journals.visibility import Viewer
from vibes.platform.usercache import UserCache

# The longest a value is kept: bounds staleness should a generation bump ever be lost.
MAX_TTL = 3600


async def cached(
    cache: UserCache,
    viewer: Viewer,
    variant: str,
    compute: Callable[[], Awaitable[tuple[bytes, int]]],
) -> bytes:
    """The JSON answer for `variant`, from the cache or from `compute()` (which returns
    the answer and how many seconds it stays right)."""
    if viewer.unlocked_secret_tag_ids:
        body, _ = await compute()
        return body
    found, generation = await cache.get(viewer.user_id, variant)
    if found is not None:
        return found
    body, ttl = await compute()
    await cache.put(viewer.user_id, variant, generation, body, min(ttl, MAX_TTL))
    return body


def seconds_left_today(board: Dashboard, now: dt.datetime | None = None) -> int:
    """Seconds until the dashboard's day ends in its zone (its streak and charts move)."""
    zone = ZoneInfo(board.timezone)
    midnight = dt.datetime.combine(board.today + dt.timedelta(days=1), dt.time(), zone)
    return int((midnight - (now or dt.datetime.now(dt.UTC))).total_seconds())
