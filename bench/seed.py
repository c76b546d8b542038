"""Load a PostgreSQL database with users, sessions, tags and journal entries, fast.

    python bench/seed.py --database-url postgresql://postgres@127.0.0.1:5432/vibes_bench \
        --users 1000 --entries 1000000 --create

Migrates the database to head, then streams every table in with COPY
(asyncpg `copy_records_to_table`) in chunks. The secondary indexes of `journals` and
`journal_tags` (the GIN full-text index included) are dropped during the load and rebuilt
after it, which is how bulk loads are done; both phases are timed. Prints rows/s.

Entries are pseudo-text drawn from a Zipf-distributed vocabulary, so full-text queries
see realistic selectivity; a few marker words have fixed frequencies (see MARKERS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from vibes import migrations
from vibes.db import new_id

# Marker words and the share of entries that contain them (for FTS scenarios).
MARKERS = {"lighthouse": 0.01, "harbour": 0.05, "quiet": 0.2}
TAGS_PER_USER = 20
CHUNK = 50_000
# Dropped before the load, rebuilt after: (index name, CREATE statement).
INDEXES = [
    (
        "journals_fts_user_document_gin",
        "CREATE INDEX journals_fts_user_document_gin ON journals USING gin (user_id, fts_document)",
    ),
    (
        "ix_journals_user_id_entry_date_id",
        "CREATE INDEX ix_journals_user_id_entry_date_id ON journals (user_id, entry_date, id)",
    ),
    (
        "ix_journals_user_id_mood_rating",
        "CREATE INDEX ix_journals_user_id_mood_rating ON journals (user_id, mood_rating)",
    ),
    (
        "ix_journals_secret_tag_id",
        "CREATE INDEX ix_journals_secret_tag_id ON journals (secret_tag_id)",
    ),
    (
        "ix_journal_tags_tag_id_journal_id",
        "CREATE INDEX ix_journal_tags_tag_id_journal_id ON journal_tags (tag_id, journal_id)",
    ),
    (
        "ix_journal_tags_user_id",
        "CREATE INDEX ix_journal_tags_user_id ON journal_tags (user_id)",
    ),
]
# A placeholder password hash: bench users never log in, the load script mints tokens.
PASSWORD_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA$YmVuY2hiZW5jaGJlbmNoYmVuY2g"


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    syllables = [a + b for a in "bcdfghklmnprstvwz" for b in "aeiou"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    for marker in MARKERS:
        words.discard(marker)
    return sorted(words, key=lambda w: (len(w), w))


class TextMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words = _vocabulary(rng)
        # Zipf-like weights: a few words are everywhere, most are rare.
        self.weights = [1.0 / (rank + 1) for rank in range(len(self.words))]
        self.cum = []
        total = 0.0
        for w in self.weights:
            total += w
            self.cum.append(total)

    def text(self, n: int) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cum, k=n)
        for marker, share in MARKERS.items():
            if self.rng.random() < share:
                words[self.rng.randrange(n)] = marker
        return " ".join(words)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_database(url: str) -> None:
    target = make_url(url)
    admin = await asyncpg.connect(_dsn(str(target.set(database="postgres"))))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await admin.close()


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterator[tuple[Any, ...]],
) -> tuple[int, float]:
    """COPY `rows` in chunks; the next chunk is generated (in a thread) while the
    previous one is being written, so Python and PostgreSQL work at the same time."""
    started = time.perf_counter()
    count = 0
    chunks = _chunks(rows, CHUNK)
    writing: asyncio.Task[Any] | None = None
    while True:
        making = asyncio.create_task(asyncio.to_thread(next, chunks, None))
        if writing is not None:
            await writing
        chunk = await making
        if chunk is None:
            break
        writing = asyncio.create_task(
            conn.copy_records_to_table(table, records=chunk, columns=list(columns))
        )
        count += len(chunk)
    elapsed = time.perf_counter() - started
    print(f"  {table:<14} {count:>10,} rows in {elapsed:7.1f} s = {count / elapsed:>10,.0f} rows/s")
    return count, elapsed


async def seed(url: str, users: int, entries: int, seed_value: int) -> None:
    rng = random.Random(seed_value)
    maker = TextMaker(rng)
    now = dt.datetime.now(dt.UTC)
    print(f"migrating {make_url(url).database} ...")
    await migrations.upgrade(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(
            "TRUNCATE users, auth_sessions, tags, journals, journal_tags, changes,"
            " outbox_events, idempotency_keys CASCADE"
        )
        for name, _ in INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
        # A disposable bench load: no need to wait for the WAL flush of every chunk.
        await conn.execute("SET synchronous_commit = off")
        # The generated rows are consistent by construction: skip the per-row foreign-key
        # triggers during the load (needs a superuser; falls back to checking them).
        try:
            await conn.execute("SET session_replication_role = replica")
        except asyncpg.PostgresError:
            print("  (not a superuser: foreign keys are checked row by row)")
        user_ids = [new_id() for _ in range(users)]
        tag_ids: dict[uuid.UUID, list[uuid.UUID]] = {
            u: [new_id() for _ in range(TAGS_PER_USER)] for u in user_ids
        }
        total_rows = 0
        total_time = 0.0
        print("loading with COPY:")

        def user_rows() -> Iterator[tuple[Any, ...]]:
            for i, user_id in enumerate(user_ids):
                email = f"bench{i}@example.com"
                yield (user_id, email, email, PASSWORD_HASH, f"Bench {i}", "UTC", True, now, now, 1)

        n, t = await _copy(
            conn,
            "users",
            [
                "id",
                "email",
                "email_key",
                "password_hash",
                "display_name",
                "timezone",
                "is_active",
                "created_at",
                "updated_at",
                "version",
            ],
            user_rows(),
        )
        total_rows, total_time = total_rows + n, total_time + t

        def session_rows() -> Iterator[tuple[Any, ...]]:
            for user_id in user_ids:
                yield (new_id(), user_id, "bench", now, now + dt.timedelta(days=365), now, now)

        n, t = await _copy(
            conn,
            "auth_sessions",
            [
                "id",
                "user_id",
                "device_name",
                "last_used_at",
                "expires_at",
                "created_at",
                "updated_at",
            ],
            session_rows(),
        )
        total_rows, total_time = total_rows + n, total_time + t

        def tag_rows() -> Iterator[tuple[Any, ...]]:
            for user_id in user_ids:
                for j, tag_id in enumerate(tag_ids[user_id]):
                    name = f"tag{j}"
                    color = "#" + "".join(rng.choice("0123456789abcdef") for _ in range(6))
                    yield (tag_id, user_id, name, name, color, now, now, 1)

        n, t = await _copy(
            conn,
            "tags",
            ["id", "user_id", "name", "name_key", "color", "created_at", "updated_at", "version"],
            tag_rows(),
        )
        total_rows, total_time = total_rows + n, total_time + t

        per_user = entries // users
        links: list[tuple[Any, ...]] = []
        span = dt.timedelta(days=3 * 365).total_seconds()

        def journal_rows() -> Iterator[tuple[Any, ...]]:
            for user_id in user_ids:
                user_tags = tag_ids[user_id]
                for _ in range(per_user):
                    journal_id = new_id()
                    words = rng.randint(20, 160)
                    content = maker.text(words)
                    title = maker.text(rng.randint(2, 6)).capitalize()
                    entry_date = now - dt.timedelta(seconds=rng.random() * span)
                    mood = rng.randint(1, 10) if rng.random() < 0.8 else None
                    for tag_id in rng.sample(user_tags, rng.choice((0, 1, 1, 2, 2, 3))):
                        links.append((journal_id, tag_id, user_id, now, now))
                    yield (
                        journal_id,
                        user_id,
                        title,
                        content,
                        entry_date,
                        mood,
                        words,
                        now,
                        now,
                        1,
                    )

        # The full-text trigger must fire for entries (it builds `fts_document` with the
        # account's configuration); replica mode would skip it with the foreign keys.
        await conn.execute("RESET session_replication_role")
        n, t = await _copy(
            conn,
            "journals",
            [
                "id",
                "user_id",
                "title",
                "content",
                "entry_date",
                "mood_rating",
                "word_count",
                "created_at",
                "updated_at",
                "version",
            ],
            journal_rows(),
        )
        total_rows, total_time = total_rows + n, total_time + t
        with contextlib.suppress(asyncpg.PostgresError):  # not a superuser: see above
            await conn.execute("SET session_replication_role = replica")
        n, t = await _copy(
            conn,
            "journal_tags",
            ["journal_id", "tag_id", "user_id", "created_at", "updated_at"],
            iter(links),
        )
        total_rows, total_time = total_rows + n, total_time + t
        print(
            f"  {'all tables':<14} {total_rows:>10,} rows in {total_time:7.1f} s"
            f" = {total_rows / total_time:>10,.0f} rows/s"
        )
        await conn.execute("RESET session_replication_role")
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for name, create in INDEXES:
            t0 = time.perf_counter()
            await conn.execute(create)
            print(f"  index {name:<36} {time.perf_counter() - t0:6.1f} s")
        await conn.execute("ANALYZE")
        print(f"indexes + ANALYZE: {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/vibes_bench",
        help="PostgreSQL URL of the (dedicated!) bench database",
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--create", action="store_true", help="drop and create the database first")
    args = parser.parse_args()
    url = args.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    if make_url(url).database in (None, "", "postgres"):
        parser.error("give a dedicated database name in --database-url")
    if args.create:
        asyncio.run(_create_database(url))
    asyncio.run(seed(url, args.users, args.entries, args.seed))


if __name__ == "__main__":
    main()
