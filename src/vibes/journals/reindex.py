"""Re-indexing an account's entries in its new language, in the background.

Changing `users.language` puts the language's configuration first in `search_configs`
and keeps the old ones after it (`platform.textsearch.configs_after_change`); searches
query all of them, so they stay correct while entries still carry an old one. The
dispatcher's periodic loop calls `reindex_pending`: a bounded batch per account per call
gets the account's configuration (the row's trigger rebuilds its index: PostgreSQL's
`fts_document`, or its row moved between SQLite's two FTS5 tables). When none is left,
the old configurations are dropped from `search_configs`, unless the language changed
again meanwhile (compare-and-set).
"""

from __future__ import annotations

import uuid

from sqlalchemy import String, Uuid, column, select, table, update

from vibes.accounts.models import User
from vibes.db import Database
from vibes.platform.portable import claim_rows

# Entries per call: the dispatcher's loop also fires reminders (within seconds of their
# time), so one call stays short: ~0.1 s for 500 entries on an idle core (PostgreSQL
# rebuilding their tsvector and index entries). The accounts read per call.
BATCH = 500
ACCOUNTS = 20

# `fts_config` is a migration-only column (see the migration `20261203_0100`).
_journals = table(
    "journals", column("id", Uuid), column("user_id", Uuid), column("fts_config", String)
)


async def reindex_pending(database: Database, *, batch: int = BATCH) -> int:
    """Up to `batch` entries of the pending accounts re-indexed (the number returned);
    the accounts found done are cleared."""
    async with database.read_sessionmaker() as session:
        pending = (
            await session.execute(
                select(User.id, User.search_configs)
                .where(User.search_configs.contains(","))
                .limit(ACCOUNTS)
            )
        ).all()
    done = 0
    for user_id, configs in pending:
        if done >= batch:
            break
        done += await _reindex_account(database, user_id, configs, batch - done)
    return done


async def _reindex_account(database: Database, user_id: uuid.UUID, configs: str, batch: int) -> int:
    current = configs.split(",", 1)[0]
    async with database.session_scope() as session:
        # Several workers share an account's entries instead of rewriting the same ones.
        stale = claim_rows(
            select(_journals.c.id)
            .where(_journals.c.user_id == user_id, _journals.c.fts_config != current)
            .limit(batch),
            session,
        )
        result = await session.execute(
            update(_journals)
            .where(_journals.c.id.in_(stale))
            .values(fts_config=current)
            .execution_options(synchronize_session=False)
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count == 0:
            await session.execute(
                update(User)
                .where(User.id == user_id, User.search_configs == configs)
                # Not a change the account's owner made: its updated_at stays.
                .values(search_configs=current, updated_at=User.updated_at)
                .execution_options(synchronize_session=False)
            )
    return count
