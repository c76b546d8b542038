"""What PostgreSQL alone can write: the rows of batch creates, with no application.

    python bench/pg_batch_floor.py --clients 2 --duration 15

Each client repeats, for a bounded time, one transaction per 1000-entry batch that
writes exactly what `POST /journals/batch` writes for entries with two tags: the
journal rows (the stored tsvector, the GIN and b-tree indexes, the foreign keys), two
tag links each, a change-log row each (numbered by the user's sync counter) plus one for
each of the two tags (their counts changed), and an outbox event each (`BATCH + LINKS +
OUTBOX`; an import writes `IDENTITIES` in place of `OUTBOX`). Ids are UUIDv7 in
ascending order as the server makes them (`platform.portable.new_ids`): random UUIDv4s
would land all over the primary-key indexes and cost PostgreSQL more than the server's
writes do. The content (30-119 words) is generated once in the database, so the figure
is PostgreSQL's own work, on the same machine and data as `load.py`. With
`--journals-only`, only the journal rows.

It prints entries/s: the ceiling for the batch scenario on this machine, before the
server has spent any CPU of its own. Everything it writes is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import cpu_seconds

WORDS = "ARRAY['morning','walk','harbour','coffee','quiet','rain','letter','garden']"
SOURCE = f"""
CREATE UNLOGGED TABLE IF NOT EXISTS bench_floor_source AS
  SELECT g, (SELECT string_agg(({WORDS})[1 + floor(random() * 8)::int], ' ')
             FROM generate_series(1, 30 + (g % 90)) WHERE g > -1) AS content
  FROM generate_series(1, 1000) g
"""


# A UUIDv7 (RFC 9562) whose 12-bit sequence field is `seq`: the batch's millisecond, then
# the row's number, then random bits, so a batch's ids ascend as `new_ids` makes them.
def _uuid7(seq: str) -> str:
    return (
        "(lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(" + seq + "), 3, '0') "
        "|| to_hex(8 + floor(random() * 4)::int) "
        "|| substr(md5(random()::text), 1, 15))::uuid"
    )


NOW_MS = "(SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) AS clock"
BATCH = f"""
CREATE TEMP TABLE batch_ids ON COMMIT DROP AS
  SELECT {_uuid7("g - 1")} AS id, g, content FROM bench_floor_source, {NOW_MS};
INSERT INTO journals (id, user_id, title, content, entry_date, mood_rating, word_count,
                      version, created_at, updated_at)
  SELECT id, '{{user}}', 'Bench floor ' || g, content, now(), 5, 75, 1, now(), now()
  FROM batch_ids;
"""
LINKS = f"""
INSERT INTO journal_tags (journal_id, tag_id, user_id, created_at, updated_at)
  SELECT id, t, '{{user}}', now(), now()
  FROM batch_ids, (VALUES ('{{tag1}}'::uuid), ('{{tag2}}'::uuid)) AS v(t);
WITH bump AS (
  INSERT INTO sync_counters (user_id, position, horizon) VALUES ('{{user}}', 1002, 0)
  ON CONFLICT (user_id) DO UPDATE SET position = sync_counters.position + 1002
  RETURNING position
), written AS (
  SELECT 'journal' AS kind, id, g FROM batch_ids
  UNION ALL VALUES ('tag', '{{tag1}}'::uuid, 1001), ('tag', '{{tag2}}'::uuid, 1002)
)
INSERT INTO changes (id, user_id, position, kind, entity_id, op, version, created_at,
                     updated_at)
  SELECT {_uuid7("g - 1")}, '{{user}}', bump.position - 1002 + g, kind, id, 'upsert', 1,
         now(), now()
  FROM written, bump, {NOW_MS};
"""
OUTBOX = f"""
INSERT INTO outbox_events (id, user_id, type, data, attempts, created_at, updated_at)
  SELECT {_uuid7("g - 1")}, '{{user}}', 'journal.created',
         json_build_object('id', id, 'version', 1), 0, now(), now()
  FROM batch_ids, {NOW_MS};
"""
# What an import writes in place of the outbox rows (it records one summary event): each
# entry's identity in its source, under the unique (user, kind, source key) index. The
# keys are random, as a `vibes` export's ids are (the bench's file has UUIDv4s).
IDENTITIES = f"""
INSERT INTO imported_objects (id, user_id, kind, source_key, object_id, created_at,
                              updated_at)
  SELECT {_uuid7("g - 1")}, '{{user}}', 'journal', 'vibes:' || gen_random_uuid(), id,
         now(), now()
  FROM batch_ids, {NOW_MS};
"""


async def client(dsn: str, sql: str, deadline: float) -> tuple[int, float]:
    """Batches run until the deadline, and the CPU seconds its backend spent on them."""
    conn = await asyncpg.connect(dsn)
    batches = 0
    pid = conn.get_server_pid()
    cpu = cpu_seconds(pid)
    try:
        while time.monotonic() < deadline:
            async with conn.transaction():
                await conn.execute(sql)
            batches += 1
        cpu = cpu_seconds(pid) - cpu
    finally:
        await conn.close()
    return batches, cpu


async def scripts_for(
    conn: asyncpg.Connection, user_ids: list[Any], *, journals_only: bool = False
) -> list[str]:
    """One batch transaction per user (its first two tags linked), the source made."""
    await conn.execute(SOURCE)
    scripts = []
    for user_id in user_ids:
        tag1, tag2 = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM tags WHERE user_id = $1 ORDER BY id LIMIT 2", user_id
            )
        ]
        sql = BATCH if journals_only else BATCH + LINKS + OUTBOX
        scripts.append(sql.format(user=user_id, tag1=tag1, tag2=tag2))
    return scripts


async def floor_rate(dsn: str, scripts: list[str], duration: float) -> tuple[float, float]:
    """Entries/s of the scripts run side by side (one connection each) for `duration`,
    and the backends' CPU seconds per entry (0 if PostgreSQL runs elsewhere)."""
    deadline = time.monotonic() + duration
    started = time.monotonic()
    done = await asyncio.gather(*(client(dsn, sql, deadline) for sql in scripts))
    entries = sum(batches for batches, _ in done) * 1000
    return entries / (time.monotonic() - started), sum(cpu for _, cpu in done) / entries


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.database_url)
    try:
        users = await conn.fetch(
            "SELECT user_id FROM tags GROUP BY user_id HAVING count(*) >= 2 LIMIT $1",
            args.clients,
        )
        scripts = await scripts_for(
            conn, [row["user_id"] for row in users], journals_only=args.journals_only
        )
        rate, cpu = await floor_rate(args.database_url, scripts, args.duration)
        what = "journal rows only" if args.journals_only else "entries (rows of a batch)"
        print(
            f"{args.clients} clients, {args.duration} s: {what} = {rate:,.0f} entries/s, "
            f"PostgreSQL CPU {cpu * 1e6:.0f} µs per entry"
        )
    finally:
        await conn.execute(
            "DELETE FROM journal_tags jt USING journals j "
            "WHERE jt.journal_id = j.id AND j.title LIKE 'Bench floor %'"
        )
        await conn.execute("DELETE FROM journals WHERE title LIKE 'Bench floor %'")
        await conn.execute("TRUNCATE changes, outbox_events, deliveries, delivery_attempts")
        await conn.execute("DROP TABLE IF EXISTS bench_floor_source")
        await conn.execute("VACUUM ANALYZE journals")
        await conn.execute("VACUUM ANALYZE journal_tags")
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/vibes_bench"
    )
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--journals-only", action="store_true")
    asyncio.run(main(parser.parse_args()))
