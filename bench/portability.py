"""Import and export at scale, on PostgreSQL, against a real `vibes serve`.

    python bench/portability.py --entries 100000

Creates a dedicated database (dropped again at the end), writes a `vibes` export of
`--entries` entries (30-120 words each, two of twenty tags, a mood) to a temporary file,
then, against one `vibes serve` process on that database:

1. `pg_batch_floor.py`'s SQL for the same number of entries, as another user of the
   same database: one transaction per 1000 entries writing exactly the rows of a batch
   create (journal row, two tag links, a change-log row and an outbox row each), with no
   application at all.
2. `POST /import?format=vibes` of that file (multipart upload over loopback, spooled,
   parsed, written in one transaction): entries/s.
3. The floor again, right after. The ratio import / floor (the floor: the mean of the
   runs before and after) is the figure the issue asks for (goal >= 0.8). The import
   writes the same rows but one `imported_objects` row per entry in place of the outbox
   row, so each run has two floors: the batch's rows, and the import's own rows
   (`IDENTITIES` in place of `OUTBOX`).
4. A fresh server process, then `GET /export?format=json` and `format=markdown` read to
   the end: MB/s, and the server's peak RSS (`VmHWM`) against its RSS before the export.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).parent))
import pg_batch_floor
from seed import _create_database, _dsn
from serving import cpu_seconds

PASSWORD = "quiet rivers under paper moons at dawn"
WORDS = [
    "morning",
    "walk",
    "harbour",
    "coffee",
    "quiet",
    "rain",
    "letter",
    "garden",
    "river",
    "light",
    "bread",
    "window",
    "train",
    "winter",
    "friend",
    "music",
    "book",
    "evening",
    "cloud",
    "market",
    "bicycle",
    "kitchen",
    "island",
]
TAGS = [f"tag-{i:02d}" for i in range(20)]
FLOOR_EMAIL = "floor@example.com"


def write_document(path: Path, entries: int) -> tuple[int, list[str]]:
    """A `vibes` export of `entries` synthetic entries: its size in bytes, and the
    contents of its first 1000 entries (the text the import-rows floor writes)."""
    texts: list[str] = []
    rng = random.Random(7)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with path.open("wb") as out:
        out.write(
            orjson.dumps(
                {
                    "format": "vibes",
                    "version": 1,
                    "exported_at": dt.datetime.now(dt.UTC),
                    "profile": {
                        "email": "bench@example.com",
                        "display_name": "Bench",
                        "timezone": "Europe/Berlin",
                        "created_at": start,
                    },
                }
            )[:-1]
        )
        out.write(b',"tags":[],"journals":[\n')
        for i in range(entries):
            when = start + dt.timedelta(minutes=37 * i)
            words = " ".join(rng.choice(WORDS) for _ in range(30 + i % 90))
            if i < 1000:
                texts.append(words)
            item = {
                "id": str(uuid.uuid4()),
                "title": f"Entry {i}",
                "content": words,
                "entry_date": when,
                "tags": rng.sample(TAGS, 2),
                "mood_rating": 1 + i % 10,
                "secret_tag": None,
                "created_at": when,
                "updated_at": when,
            }
            out.write((b",\n" if i else b"") + orjson.dumps(item, option=orjson.OPT_UTC_Z))
        out.write(b'\n],"reminders":[],"webhooks":[]}\n')
    return path.stat().st_size, texts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBES_")}
    env.update(
        VIBES_DATABASE_URL=url,
        VIBES_DATA_DIR=str(data_dir),
        VIBES_RATE_LIMITS_ENABLED="false",
        VIBES_RUN_DISPATCHER="false",
        VIBES_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "vibes.cli.main", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / "server.log").open("ab"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited; see {data_dir / 'server.log'}"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def sign_in(client: httpx.Client, *, register: bool, email: str = "bench@example.com") -> None:
    body = {"email": email, "password": PASSWORD}
    if register:
        answer = client.post("/api/v1/auth/register", json=body)
        assert answer.status_code == 201, answer.text
    tokens = client.post("/api/v1/auth/login", json=body).json()
    client.headers["Authorization"] = f"Bearer {tokens['access_token']}"


def export(client: httpx.Client, fmt: str, pid: int) -> str:
    rss_before, _ = memory(pid)
    size = 0
    started = time.monotonic()
    with client.stream("GET", "/api/v1/export", params={"format": fmt}) as response:
        assert response.status_code == 200, response.read()
        for piece in response.iter_bytes():
            size += len(piece)
    elapsed = time.monotonic() - started
    _, peak = memory(pid)
    return (
        f"export {fmt:8}: {size / 1e6:,.1f} MB in {elapsed:.1f} s = "
        f"{size / 1e6 / elapsed:,.1f} MB/s; server RSS {rss_before / 1024:.0f} MiB before, "
        f"peak {peak / 1024:.0f} MiB"
    )


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend on the bench database (the server's
    pooled connections), but the one asking."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {r["pid"]: cpu_seconds(r["pid"]) for r in rows}
    finally:
        await conn.close()


async def floor(url: str, entries: int, tail: str, texts: list[str] | None) -> tuple[float, float]:
    """pg_batch_floor's rows for `entries` entries (`BATCH + LINKS + tail`), one
    1000-entry transaction at a time, as the floor user (its rows are in the same tables,
    never in the bench user's export): (entries/s, its backend's CPU seconds). The
    entries' text is `texts` (the document's own) or, with None, pg_batch_floor's."""
    conn = await asyncpg.connect(_dsn(url))
    backend = conn.get_server_pid()
    try:
        user = await conn.fetchval("SELECT id FROM users WHERE email = $1", FLOOR_EMAIL)
        tag1, tag2 = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM tags WHERE user_id = $1 ORDER BY id LIMIT 2", user
            )
        ]
        await conn.execute("DROP TABLE IF EXISTS bench_floor_source")
        if texts is None:
            await conn.execute(pg_batch_floor.SOURCE)
        else:
            await conn.execute("CREATE UNLOGGED TABLE bench_floor_source (g integer, content text)")
            await conn.execute(
                "INSERT INTO bench_floor_source SELECT g, content"
                " FROM unnest($1::text[]) WITH ORDINALITY AS u(content, g)",
                texts,
            )
        sql = (pg_batch_floor.BATCH + pg_batch_floor.LINKS + tail).format(
            user=user, tag1=tag1, tag2=tag2
        )
        started, cpu = time.monotonic(), cpu_seconds(backend)
        for _ in range(entries // 1000):
            async with conn.transaction():
                await conn.execute(sql)
        rate = (entries // 1000) * 1000 / (time.monotonic() - started)
        return rate, cpu_seconds(backend) - cpu
    finally:
        await conn.close()


# The batch's rows with pg_batch_floor's own text (the issue's `pg_batch_floor.py` as it
# is), and the import's own rows with the document's text ("the same rows" as the import
# writes: identity rows in place of outbox rows; entries with the document's wider
# vocabulary cost PostgreSQL's text index more than pg_batch_floor's eight words).
FLOORS = {
    "batch rows, pg_batch_floor's text": (pg_batch_floor.OUTBOX, False),
    "import rows, the document's text": (pg_batch_floor.IDENTITIES, True),
}


def run_floors(url: str, entries: int, when: str, texts: list[str]) -> dict[str, float]:
    rates = {}
    for name, (tail, own_text) in FLOORS.items():
        rates[name], pg_cpu = asyncio.run(floor(url, entries, tail, texts if own_text else None))
        print(
            f"floor ({name}): {rates[name]:,.0f} entries/s ({when} the import; "
            f"PostgreSQL CPU {pg_cpu / entries * 1e6:.0f} us/entry)",
            flush=True,
        )
    return rates


async def drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = await asyncpg.connect(_dsn(str(target.set(database="postgres"))))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await admin.close()


async def _heaviest(url: str) -> tuple[uuid.UUID, uuid.UUID, int]:
    """(user id, one of its sessions, its entry count) for the seeded user with the most
    entries."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT j.user_id, count(*) AS n, (SELECT s.id FROM auth_sessions s"
            " WHERE s.user_id = j.user_id LIMIT 1) AS session_id"
            " FROM journals j GROUP BY j.user_id ORDER BY n DESC LIMIT 1"
        )
        total = await conn.fetchval("SELECT count(*) FROM journals")
        print(f"seeded database: {total:,} entries; exporting a user with {row['n']:,}")
        return row["user_id"], row["session_id"], row["n"]
    finally:
        await conn.close()


def export_seeded(url: str) -> None:
    """Only the exports, of the seeded user with the most entries (`seed.py
    --heavy-user`), authenticated with a token minted from the server's key ring."""
    from vibes.accounts.tokens import issue_access_token
    from vibes.config import Settings
    from vibes.platform.keys import load_keyring

    user_id, session_id, _ = asyncio.run(_heaviest(url))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, data_dir=folder, database_url=url, rate_limits_enabled=False
        )
        token, _ = issue_access_token(
            load_keyring(settings), settings, user_id=user_id, session_id=session_id
        )
        for fmt in ("json", "markdown"):
            # A fresh server for each: its peak RSS is that export's.
            process, base = start_server(url, folder)
            try:
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base, timeout=None, headers=headers) as client:
                    print(export(client, fmt, process.pid))
            finally:
                stop(process)
    print(f"load average  : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main(args: argparse.Namespace) -> None:
    url = args.database_url
    if args.seeded:
        export_seeded(args.seeded.replace("postgresql://", "postgresql+asyncpg://", 1))
        return
    asyncio.run(_create_database(url))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            document = folder / "export.json"
            size, texts = write_document(document, args.entries)
            print(f"document: {args.entries:,} entries, {size / 1e6:,.1f} MB")

            process, base = start_server(url, folder)
            print(f"server pid    : {process.pid}", flush=True)
            try:
                with httpx.Client(base_url=base, timeout=None) as client:
                    sign_in(client, register=True, email=FLOOR_EMAIL)
                    answer = client.post(
                        "/api/v1/journals",
                        json={"title": "floor", "content": "x", "tags": ["a", "b"]},
                    )
                    assert answer.status_code == 201, answer.text
                # The floor right before and right after the import, on the same tables
                # (this machine's speed drifts by tens of percent within minutes).
                # CPU per entry from /proc (PostgreSQL's backends, the server): the
                # wall-clock figures move with the other load on the machine, these less.
                before = run_floors(url, args.entries, "before", texts)
                with httpx.Client(base_url=base, timeout=None) as client:
                    sign_in(client, register=True)
                    backends = asyncio.run(backend_cpu(url))
                    server_cpu = cpu_seconds(process.pid)
                    started = time.monotonic()
                    with document.open("rb") as file:
                        answer = client.post(
                            "/api/v1/import",
                            params={"format": "vibes"},
                            files={"file": ("export.json", file, "application/json")},
                        )
                    elapsed = time.monotonic() - started
                    server_cpu = cpu_seconds(process.pid) - server_cpu
                    pg_cpu = sum(
                        cpu - backends.get(pid, 0.0)
                        for pid, cpu in asyncio.run(backend_cpu(url)).items()
                    )
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["imported"]["journals"] == args.entries
                    imported = args.entries / elapsed
                    _, peak = memory(process.pid)
                    print(
                        f"import vibes   : {args.entries:,} entries in {elapsed:.1f} s = "
                        f"{imported:,.0f} entries/s (server peak RSS {peak / 1024:.0f} MiB; "
                        f"CPU per entry: server {server_cpu / args.entries * 1e6:.0f} us, "
                        f"PostgreSQL {pg_cpu / args.entries * 1e6:.0f} us)",
                        flush=True,
                    )
                after = run_floors(url, args.entries, "after", texts)
                for name in FLOORS:
                    floor_rate = (before[name] + after[name]) / 2
                    print(
                        f"import / floor ({name}): {imported / floor_rate:.2f} (floor: the "
                        f"mean of the two; load average {os.getloadavg()[0]:.2f})"
                    )
            finally:
                stop(process)

            if args.exports:
                process, base = start_server(url, folder)
                try:
                    with httpx.Client(base_url=base, timeout=None) as client:
                        sign_in(client, register=False)
                        print(export(client, "json", process.pid))
                        print(export(client, "markdown", process.pid))
                finally:
                    stop(process)

        print(f"load average  : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if not args.keep:
            asyncio.run(drop_database(url))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/vibes_bench_portability",
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--no-exports",
        dest="exports",
        action="store_false",
        help="Only the import and the floor (quicker loops).",
    )
    parser.add_argument(
        "--seeded",
        metavar="URL",
        help="only export, from this database seeded by seed.py (its heaviest user)",
    )
    main(parser.parse_args())
