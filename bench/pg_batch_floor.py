"""What PostgreSQL alone can write: the rows of batch creates, with no application.

    python bench/pg_batch_floor.py --clients 2 --duration 15

Each client repeats, for a bounded time, one transaction per 1000-entry batch that
writes exactly what `POST /journals/batch` writes for entries with two tags: the
journal rows (the stored tsvector, the GIN and b-tree indexes, the foreign keys), two
tag links each, a change-log row each (numbered by the user's sync counter) and an
outbox event each. The content (30-120 words)
is generated once in the database, so the figure is PostgreSQL's own work, on the same
machine and data as `load.py`. With `--journals-only`, only the journal rows.

It prints entries/s: the ceiling for the batch scenario on this machine, before the
server has spent any CPU of its own. Everything it writes is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

WORDS = "ARRAY['morning','walk','harbour','coffee','quiet','rain','letter','garden']"
SOURCE = f"""
CREATE UNLOGGED TABLE IF NOT EXISTS bench_floor_source AS
  SELECT g, (SELECT string_agg(({WORDS})[1 + floor(random() * 8)::int], ' ')
             FROM generate_series(1, 30 + (g % 90)) WHERE g > -1) AS content
  FROM generate_series(1, 1000) g
"""
BATCH = """
CREATE TEMP TABLE batch_ids ON COMMIT DROP AS
  SELECT gen_random_uuid() AS id, g, content FROM bench_floor_source;
INSERT INTO journals (id, user_id, title, content, entry_date, mood_rating, word_count,
                      version, created_at, updated_at)
  SELECT id, '{user}', 'Bench floor ' || g, content, now(), 5, 75, 1, now(), now()
  FROM batch_ids;
"""
LINKS = """
INSERT INTO journal_tags (journal_id, tag_id, user_id, created_at, updated_at)
  SELECT id, t, '{user}', now(), now()
  FROM batch_ids, (VALUES ('{tag1}'::uuid), ('{tag2}'::uuid)) AS v(t);
WITH bump AS (
  INSERT INTO sync_counters (user_id, position, horizon) VALUES ('{user}', 1000, 0)
  ON CONFLICT (user_id) DO UPDATE SET position = sync_counters.position + 1000
  RETURNING position
)
INSERT INTO changes (id, user_id, position, kind, entity_id, op, version, created_at,
                     updated_at)
  SELECT gen_random_uuid(), '{user}', bump.position - 1000 + row_number() OVER (), 'journal',
         id, 'upsert', 1, now(), now()
  FROM batch_ids, bump;
INSERT INTO outbox_events (id, user_id, type, data, attempts, created_at, updated_at)
  SELECT gen_random_uuid(), '{user}', 'journal.created',
         json_build_object('id', id, 'version', 1), 0, now(), now()
  FROM batch_ids;
"""


async def client(dsn: str, sql: str, deadline: float) -> int:
    conn = await asyncpg.connect(dsn)
    batches = 0
    try:
        while time.monotonic() < deadline:
            async with conn.transaction():
                await conn.execute(sql)
            batches += 1
    finally:
        await conn.close()
    return batches


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.database_url)
    try:
        users = await conn.fetch(
            "SELECT user_id FROM tags GROUP BY user_id HAVING count(*) >= 2 LIMIT $1",
            args.clients,
        )
        await conn.execute(SOURCE)
        scripts = []
        for row in users:
            tag1, tag2 = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM tags WHERE user_id = $1 ORDER BY id LIMIT 2", row["user_id"]
                )
            ]
            values = {"user": row["user_id"], "tag1": tag1, "tag2": tag2}
            sql = BATCH if args.journals_only else BATCH + LINKS
            scripts.append(sql.format(**values))
        deadline = time.monotonic() + args.duration
        started = time.monotonic()
        counts = await asyncio.gather(
            *(client(args.database_url, sql, deadline) for sql in scripts)
        )
        elapsed = time.monotonic() - started
        entries = sum(counts) * 1000
        what = "journal rows only" if args.journals_only else "entries (rows of a batch)"
        print(
            f"{args.clients} clients, {elapsed:.1f} s: {entries:,} {what} = "
            f"{entries / elapsed:,.0f} entries/s"
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
