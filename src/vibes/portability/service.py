"""Writing an import: all of it in the caller's transaction (any error: nothing), in
bulk (COPY on PostgreSQL), each object remembered by its source identity so the same
file twice creates nothing new, and one `import.completed` event for the whole of it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import structlog
from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.models import User
from vibes.db import Database, utcnow
from vibes.journals.models import Journal, JournalTag, Tag
from vibes.journals.tagnames import clean_tag_name, tag_key
from vibes.journals.visibility import Viewer
from vibes.journals.writes import count_words
from vibes.platform.portable import (
    bulk_insert,
    bulk_insert_records,
    copy_uuid,
    insert_ignoring_conflicts,
    is_postgres,
    new_ids,
)
from vibes.portability.models import ImportedObject
from vibes.portability.records import Chunk, EntryRecord, ReminderRecord, TagRecord, malformed
from vibes.portability.schemas import Counts, ImportFormat, ImportSummary, SkippedCounts
from vibes.recording.models import Change
from vibes.recording.record import Written, record_event, record_writes
from vibes.reminders.models import Reminder
from vibes.vault.entries import UnlockedTag, seal_entry

_log = structlog.get_logger(__name__)

# An import that wrote at least this many entries and reminders has the statistics of the
# tables it filled taken again once it has committed (`refresh_statistics`).
ANALYZE_FROM = 1000
_FILLED = tuple(
    model.__tablename__ for model in (Journal, JournalTag, Reminder, ImportedObject, Change)
)

# The import's look-ups on PostgreSQL: one index probe per key, as a scalar subquery per
# element of an array (a subquery the planner cannot turn into a join). Written as
# `IN (…)`, the planner costs a probe per key dearer than reading the account's whole
# range of the index and filtering, and inside the import's own transaction its
# statistics say the tables are small: each chunk then read every row the import had
# written so far (quadratic: 36 ms per chunk at 5,000 entries, growing).
_PROBE_SOURCES = text(
    "SELECT k.key, (SELECT o.object_id FROM imported_objects o"
    " WHERE o.user_id = :user_id AND o.kind = :kind AND o.source_key = k.key)"
    " FROM unnest(CAST(:keys AS varchar[])) AS k(key)"
)
# One import per account at a time (PostgreSQL): a transaction's advisory lock in a space
# of the imports' own (the first key), keyed by a hash of the account's id. Two accounts
# whose ids hash alike only take turns.
_ONE_IMPORT = text("SELECT pg_advisory_xact_lock(1986620784, hashtext(:account))")

# The import's claim of its source keys on PostgreSQL: the fresh ones go in, the ones an
# earlier import has are left (and returned by nobody).
_CLAIM_SOURCES = text(
    "INSERT INTO imported_objects"
    " (id, user_id, kind, source_key, object_id, created_at, updated_at)"
    " SELECT k.id, CAST(:user_id AS uuid), CAST(:kind AS varchar), k.key, k.id,"
    " CAST(:now AS timestamptz), CAST(:now AS timestamptz)"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS varchar[])) AS k(id, key)"
    " ON CONFLICT (user_id, kind, source_key) DO NOTHING RETURNING source_key"
)
_PROBE_IDS = (
    "SELECT k.id FROM unnest(CAST(:ids AS uuid[])) AS k(id)"
    " WHERE (SELECT t.user_id FROM {table} t WHERE t.id = k.id) = :user_id"
)

# The rows the import writes, as tuples in this order (`bulk_insert_records`).
_IDENTITY_COLUMNS = (
    "id", "user_id", "kind", "source_key", "object_id", "created_at", "updated_at",
)  # fmt: skip
_JOURNAL_COLUMNS = (
    "id", "user_id", "title", "content", "entry_date", "timezone", "mood_rating",
    "word_count", "secret_tag_id", "ciphertext", "nonce", "version", "created_at",
    "updated_at",
)  # fmt: skip
_LINK_COLUMNS = ("journal_id", "tag_id", "user_id", "created_at", "updated_at")


class ImportWriter:
    """Writes the chunks a reader yields. Tags are created on first use (or from a file's
    own tag list, keeping their colour and dates); entries and reminders already imported
    (or, from our own export, still in this account) are skipped."""

    def __init__(self, session: AsyncSession, viewer: Viewer, fmt: ImportFormat) -> None:
        self.session = session
        self.viewer = viewer
        self.user_id = viewer.user_id
        self.format = fmt
        self.imported = Counts()
        self.skipped = SkippedCounts()
        self._tags: dict[str, tuple[uuid.UUID, str]] = {}  # name_key -> (id, stored name)
        self._journals: dict[str, uuid.UUID] = {}  # source_key -> entry id in this account
        self._seen: set[str] = set()
        # The kinds this account has imported before (`begin`), and the source keys this
        # import has claimed, by kind.
        self._earlier: set[str] = set()
        # The tables in which this account had nothing when the import began (`begin`).
        self._empty: set[str] = set()
        self._claimed: dict[str, dict[str, uuid.UUID]] = {}
        self._vaults = {tag_key(t.name): t for t in viewer.secret_tags.values()}

    async def begin(self) -> None:
        # One import per account at a time: two concurrent imports of one file would both
        # find its entries new. SQLite's write lock serialises them (and every other
        # write). On PostgreSQL a lock of the account's own, not its row: `FOR UPDATE` on
        # the account held every other write of it (their entry-day counts take the row
        # `FOR SHARE`) until the import committed, a phone's new entry for the whole of a
        # 100,000-entry import. The row is held `FOR KEY SHARE`: the account cannot be
        # erased under the import, and nothing else waits.
        if is_postgres(self.session):
            await self.session.execute(_ONE_IMPORT, {"account": str(self.user_id)})
            await self.session.execute(
                select(User.id)
                .where(User.id == self.user_id)
                .with_for_update(read=True, key_share=True)
            )
            # The import's lookups (ids and source keys IN a chunk's list) must probe their
            # indexes: planned on statistics from before the import, a table that grows
            # inside this transaction looked small enough to scan, once per chunk
            # (quadratic: 100k entries took minutes per chunk at the end).
            await self.session.execute(text("SET LOCAL enable_seqscan = off"))
        for kind in ("journal", "reminder"):
            earlier = select(ImportedObject.id).where(
                ImportedObject.user_id == self.user_id, ImportedObject.kind == kind
            )
            if await self.session.scalar(select(earlier.exists())):
                self._earlier.add(kind)
        for model in (Journal, Reminder):
            held = select(model.id).where(model.user_id == self.user_id)
            if not await self.session.scalar(select(held.exists())):
                self._empty.add(model.__tablename__)

    async def write(self, chunk: Chunk, staged: Callable[[], None] = lambda: None) -> None:
        """Write one chunk; `staged` is called when an entries' chunk has done its
        look-ups and built its rows, and only its bulk writes are left."""
        if not chunk:
            return
        first = chunk[0]
        if isinstance(first, TagRecord):
            await self._write_tags(cast(list[TagRecord], chunk))
        elif isinstance(first, EntryRecord):
            await self._write_entries(cast(list[EntryRecord], chunk), staged)
        else:
            await self._write_reminders(cast(list[ReminderRecord], chunk))

    def summary(self) -> ImportSummary:
        return ImportSummary(format=self.format, imported=self.imported, skipped=self.skipped)

    async def finish(self, *, skipped_media: int = 0, skipped_webhooks: int = 0) -> ImportSummary:
        self.skipped.media += skipped_media
        self.skipped.webhooks += skipped_webhooks
        summary = self.summary()
        record_event(
            self.session,
            user_id=self.user_id,
            type="import.completed",
            data=summary.model_dump(),
        )
        await self.session.flush()
        return summary

    # -- tags ---------------------------------------------------------------------------

    async def _write_tags(
        self, records: Sequence[TagRecord], *, count_existing: bool = True
    ) -> None:
        """Create the missing ones (ON CONFLICT DO NOTHING on the user's name key)."""
        now = utcnow()
        wanted: dict[str, TagRecord] = {}
        for record in records:
            key = tag_key(record.name)
            if key not in self._tags:
                wanted.setdefault(key, record)
        if not wanted:
            return
        keys = sorted(wanted)
        rows = [
            {
                "id": tag_id,
                "user_id": self.user_id,
                "name": clean_tag_name(wanted[key].name),
                "name_key": key,
                "color": wanted[key].color,
                "version": 1,
                "created_at": wanted[key].created_at or now,
                "updated_at": wanted[key].updated_at or now,
            }
            for tag_id, key in zip(new_ids(len(keys)), keys, strict=True)
        ]
        stmt = insert_ignoring_conflicts(self.session, Tag, rows, on=["user_id", "name_key"])
        created = list((await self.session.scalars(stmt.returning(Tag.id))).all())
        self.imported.tags += len(created)
        if count_existing:
            self.skipped.tags += len(keys) - len(created)
        await record_writes(
            self.session,
            user_id=self.user_id,
            kind="tag",
            op="upsert",
            written=[Written(tag_id, 1) for tag_id in created],
        )
        found = await self.session.execute(
            select(Tag.name_key, Tag.id, Tag.name).where(
                Tag.user_id == self.user_id, Tag.name_key.in_(keys)
            )
        )
        self._tags.update({key: (copy_uuid(tag_id), name) for key, tag_id, name in found})

    async def _ensure_tags(self, names: Sequence[str]) -> None:
        """The tags entries name, created on first use. A name that is already a tag is
        not one the file brought: not counted as skipped."""
        missing = [name for name in names if tag_key(name) not in self._tags]
        if missing:
            await self._write_tags([TagRecord(name) for name in missing], count_existing=False)

    # -- identities ---------------------------------------------------------------------

    async def _claim(
        self, kind: str, keys: Sequence[str]
    ) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
        """Remember these source keys, each with a new object id, unless an earlier import
        (or this one) has them: `(fresh, known)`, each `{source_key: object id}`. No other
        import of this account runs meanwhile (`begin` locked the account), so no key can
        be taken between a look-up and the write; a key twice in `keys` is fresh once."""
        if not keys:
            return {}, {}
        wanted = list(dict.fromkeys(keys))
        ids = new_ids(len(wanted))
        now = utcnow()
        claimed = self._claimed.setdefault(kind, {})
        if kind in self._earlier and is_postgres(self.session):
            # One statement: the unique index's own check finds the keys already there,
            # and only those are looked up for their object ids.
            taken = set(
                (
                    await self.session.scalars(
                        _CLAIM_SOURCES,
                        {"ids": ids, "keys": wanted, "user_id": self.user_id,
                         "kind": kind, "now": now},
                    )
                ).all()
            )  # fmt: skip
            fresh = {key: i for key, i in zip(wanted, ids, strict=True) if key in taken}
            claimed.update(fresh)
            return fresh, await self._known(kind, [k for k in wanted if k not in taken])
        if kind in self._earlier:
            known = await self._known(kind, wanted)
        else:
            # The account's first import of this kind: only this import's own keys can be
            # there, and nothing need be looked up (the rows go by plain COPY, cheaper for
            # PostgreSQL than an INSERT that checks each key first: 12 against 17 us).
            known = {key: claimed[key] for key in wanted if key in claimed}
        fresh = {key: i for key, i in zip(wanted, ids, strict=True) if key not in known}
        claimed.update(fresh)
        user_id = copy_uuid(self.user_id)
        await bulk_insert_records(
            self.session,
            cast(Table, ImportedObject.__table__),
            _IDENTITY_COLUMNS,
            [(row_id, user_id, kind, key, row_id, now, now) for key, row_id in fresh.items()],
        )
        return fresh, known

    async def _known(self, kind: str, keys: list[str]) -> dict[str, uuid.UUID]:
        """The object ids of these source keys that an earlier import remembered."""
        if not keys:
            return {}
        if is_postgres(self.session):
            # One probe of the unique index per key, whatever the planner's statistics
            # (see `_PROBE_SOURCES`).
            found = await self.session.execute(
                _PROBE_SOURCES, {"keys": keys, "user_id": self.user_id, "kind": kind}
            )
        else:
            found = await self.session.execute(
                select(ImportedObject.source_key, ImportedObject.object_id).where(
                    ImportedObject.user_id == self.user_id,
                    ImportedObject.kind == kind,
                    ImportedObject.source_key.in_(keys),
                )
            )
        return {key: object_id for key, object_id in found if object_id is not None}

    async def _present(self, model: Any, ids: Sequence[uuid.UUID | None]) -> set[uuid.UUID]:
        """Which of these ids are already this user's objects (our own export re-imported
        into the account it came from)."""
        # Unsorted: `sorted` compares UUIDs in Python (10,000 calls for a chunk).
        wanted = list({i for i in ids if i is not None})
        if not wanted or model.__tablename__ in self._empty:
            # An account with none when the import began holds none of the file's ids:
            # what the import writes gets new ids, and so does any write meanwhile. (A
            # first import into a new account, the common case: a look-up a chunk saved.)
            return set()
        if is_postgres(self.session):
            found = await self.session.scalars(
                text(_PROBE_IDS.format(table=model.__tablename__)),
                {"ids": wanted, "user_id": self.user_id},
            )
        else:
            found = await self.session.scalars(
                select(model.id).where(model.user_id == self.user_id, model.id.in_(wanted))
            )
        return set(found.all())

    # -- entries ------------------------------------------------------------------------

    def _vault_for(self, record: EntryRecord) -> UnlockedTag | None:
        if record.secret_tag is None:
            return None
        unlocked = self._vaults.get(tag_key(record.secret_tag))
        if unlocked is None:
            raise malformed(
                [*record.where, "secret_tag"],
                f"a secret entry of {record.secret_tag!r}: unlock a secret tag of that name"
                " (X-Vibes-Unlock) to import it",
            )
        return unlocked

    async def _write_entries(
        self, records: Sequence[EntryRecord], staged: Callable[[], None]
    ) -> None:
        present = await self._present(Journal, [r.source_id for r in records])
        candidates: list[EntryRecord] = []
        for record in records:
            if record.source_key in self._seen:
                self.skipped.journals += 1
            elif record.source_id is not None and record.source_id in present:
                # Our own export, back into the account it came from: still here.
                self._journals[record.source_key] = record.source_id
                self.skipped.journals += 1
            else:
                self._seen.add(record.source_key)
                candidates.append(record)
        claimed, known = await self._claim("journal", [r.source_key for r in candidates])
        self._journals.update(known)
        self.skipped.journals += len(known)
        fresh = [r for r in candidates if r.source_key in claimed]
        if not fresh:
            return
        vaults = [self._vault_for(record) for record in fresh]
        await self._ensure_tags(
            [
                name
                for record, vault in zip(fresh, vaults, strict=True)
                if vault is None
                for name in record.tags
            ]
        )
        now = utcnow()
        user_id = copy_uuid(self.user_id)
        tags = self._tags
        ids = [claimed[r.source_key] for r in fresh]
        # Tuples in the columns' order (`_JOURNAL_COLUMNS`, `_LINK_COLUMNS`): the COPY
        # takes them as they are.
        rows: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        for journal_id, record, vault in zip(ids, fresh, vaults, strict=True):
            word_count = record.word_count
            if word_count is None:
                word_count = count_words(record.content)
            created_at = record.created_at or now
            updated_at = record.updated_at or record.created_at or now
            if vault is not None:
                names = sorted(
                    {tag_key(n): clean_tag_name(n) for n in record.tags}.values(), key=tag_key
                )
                nonce, ciphertext = seal_entry(
                    vault.data_key,
                    user_id=user_id,
                    journal_id=journal_id,
                    version=1,
                    title=record.title,
                    content=record.content,
                    tags=names,
                )
                rows.append(
                    (journal_id, user_id, "", "", record.entry_date, record.timezone,
                     record.mood_rating, word_count, vault.id, ciphertext, nonce, 1,
                     created_at, updated_at)
                )  # fmt: skip
            else:
                rows.append(
                    (journal_id, user_id, record.title, record.content, record.entry_date,
                     record.timezone, record.mood_rating, word_count, None, None, None, 1,
                     created_at, updated_at)
                )  # fmt: skip
                keys = record.tag_keys
                if keys is None:
                    keys = sorted({tag_key(name) for name in record.tags})
                links.extend((journal_id, tags[key][0], user_id, now, now) for key in keys)
            self._journals[record.source_key] = journal_id
        staged()
        await bulk_insert_records(
            self.session, cast(Table, Journal.__table__), _JOURNAL_COLUMNS, rows
        )
        await bulk_insert_records(
            self.session, cast(Table, JournalTag.__table__), _LINK_COLUMNS, links
        )
        await record_writes(
            self.session,
            user_id=self.user_id,
            kind="journal",
            op="upsert",
            written=[
                Written(i, 1, None if v is None else v.id) for i, v in zip(ids, vaults, strict=True)
            ],
        )
        self.imported.journals += len(fresh)

    # -- reminders ----------------------------------------------------------------------

    async def _linked(self, records: Sequence[ReminderRecord]) -> list[uuid.UUID | None]:
        """Each reminder's entry in this account: the one imported from its source entry,
        or its own id when that entry is still here; otherwise none."""
        present = await self._present(
            Journal, [r.journal_id for r in records if r.journal_source_key not in self._journals]
        )
        return [
            self._journals.get(r.journal_source_key or "")
            or (r.journal_id if r.journal_id in present else None)
            for r in records
        ]

    async def _write_reminders(self, records: Sequence[ReminderRecord]) -> None:
        present = await self._present(Reminder, [r.source_id for r in records])
        candidates = [r for r in records if r.source_id not in present]
        claimed, _ = await self._claim("reminder", [r.source_key for r in candidates])
        fresh: list[ReminderRecord] = []
        ids: list[uuid.UUID] = []
        for record in candidates:
            # popped: a reminder twice in the file is written once
            reminder_id = claimed.pop(record.source_key, None)
            if reminder_id is not None:
                fresh.append(record)
                ids.append(reminder_id)
        self.skipped.reminders += len(records) - len(fresh)
        if not fresh:
            return
        links = await self._linked(fresh)
        rows = [
            {
                "id": reminder_id,
                "user_id": self.user_id,
                "journal_id": journal_id,
                "title": r.title,
                "notes": r.notes,
                "priority": r.priority,
                "remind_at": r.remind_at,
                "timezone": r.timezone,
                "recurrence": r.recurrence,
                "next_fire_at": r.next_fire_at,
                "occurrence_at": r.occurrence_at,
                "last_fired_at": r.last_fired_at,
                "is_completed": r.is_completed,
                "completed_at": r.completed_at,
                "snoozed_until": r.snoozed_until,
                "version": 1,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for reminder_id, r, journal_id in zip(ids, fresh, links, strict=True)
        ]
        await bulk_insert(self.session, cast(Table, Reminder.__table__), rows)
        await record_writes(
            self.session,
            user_id=self.user_id,
            kind="reminder",
            op="upsert",
            written=[Written(i, 1) for i in ids],
        )
        self.imported.reminders += len(fresh)


def prepare(chunks: Iterator[Chunk]) -> Chunk | None:
    """The reader's next chunk (None at the end), with the per-entry work that needs no
    database done here, in the reader's thread, while the writer waits on the database."""
    chunk = next(chunks, None)
    if chunk and isinstance(chunk[0], EntryRecord):
        for record in chunk:
            record.word_count = count_words(record.content)
            record.tag_keys = sorted({tag_key(name) for name in record.tags})
    return chunk


async def import_chunks(
    session: AsyncSession,
    viewer: Viewer,
    fmt: ImportFormat,
    chunks: Iterator[Chunk],
    *,
    skipped: dict[str, int] | None = None,
) -> ImportSummary:
    """Read the chunks (in a thread: parsing is CPU and file work) and write them, in the
    caller's transaction. `skipped` is read after the reader is done (media it met)."""
    writer = ImportWriter(session, viewer, fmt)
    await writer.begin()
    # The next chunk is read (in a thread) while this one's rows are written: from
    # `staged` on, so that the look-ups and the Python between them, which the database
    # waits for, do not share the GIL with the reader (idle in transaction: 13.5 -> 9.6 %
    # of the import's time).
    reading = asyncio.create_task(asyncio.to_thread(prepare, chunks))
    consumed = reading

    def read_next() -> None:
        nonlocal reading
        if reading is consumed:
            reading = asyncio.create_task(asyncio.to_thread(prepare, chunks))

    try:
        while (chunk := await reading) is not None:
            consumed = reading
            await writer.write(chunk, read_next)
            read_next()
    finally:
        if not reading.done():
            # A write failed: let the reader's step finish before the file is closed.
            await asyncio.wait([reading])
        if reading.done() and not reading.cancelled():
            reading.exception()  # retrieved: an error there no longer matters
    skipped = skipped or {}
    return await writer.finish(
        skipped_media=skipped.get("media", 0), skipped_webhooks=skipped.get("webhooks", 0)
    )


async def refresh_statistics(database: Database, summary: ImportSummary) -> None:
    """Once a large import has committed, the tables it filled get fresh statistics
    (PostgreSQL's advice after a bulk load). Until autovacuum got there, a minute or more
    later, the planner still saw those tables as they were before: the export's look-up of
    a page's tags by the entries' ids read the whole link table (after a 100,000-entry
    import: 163 ms a page instead of 2 ms, the export four times slower), and so did every
    account's look-ups of that kind."""
    if summary.imported.journals + summary.imported.reminders < ANALYZE_FROM:
        return
    try:
        await database.analyze(_FILLED)
    except Exception:  # upkeep: the import stands either way, and autovacuum follows
        _log.warning("import_analyze_failed", exc_info=True)
