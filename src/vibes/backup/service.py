"""Make, verify and restore backups on either database (one entry point each)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from vibes import migrations
from vibes.backup import postgres, sqlite
from vibes.backup.archive import BackupError, Manifest, TableStats, open_backup, write_backup
from vibes.platform.keys import KeyRing


def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("postgresql", "sqlite"):
        raise BackupError(f"no backups for {backend} databases")
    return backend


async def create_backup(url: str, target: Path) -> Manifest:
    """Back the database up into `target` while it keeps serving; returns the manifest."""
    kind = _kind(url)
    with _staging(target) as tmp:
        data = Path(tmp) / "data"
        if kind == "postgresql":
            revision, tables = await postgres.dump(url, data)
        else:
            revision, tables = await sqlite.dump(url, data)
        manifest = Manifest(
            database=kind,
            schema_revision=revision,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            tables=tables,
        )
        write_backup(target, manifest, data)
    return manifest


def _staging(target: Path) -> tempfile.TemporaryDirectory[str]:
    """The dump is staged beside the target: the same filesystem, so /tmp never fills."""
    return tempfile.TemporaryDirectory(prefix=".vibes-backup-", dir=target.resolve().parent)


@dataclass(frozen=True)
class Verification:
    manifest: Manifest
    restored: dict[str, TableStats]

    @property
    def mismatches(self) -> list[str]:
        return compare(self.manifest.tables, self.restored)


def compare(expected: dict[str, TableStats], found: dict[str, TableStats]) -> list[str]:
    problems = []
    for name in sorted(set(expected) | set(found)):
        want, got = expected.get(name), found.get(name)
        if want is None:
            problems.append(f"{name}: not in the manifest")
        elif got is None:
            problems.append(f"{name}: missing after restore")
        elif want.rows != got.rows:
            problems.append(f"{name}: {got.rows} rows, the manifest says {want.rows}")
        elif want.content_hash != got.content_hash:
            problems.append(f"{name}: its content differs from the manifest's hash")
    return problems


async def verify_backup(url: str, source: Path, *, scratch_url: str | None = None) -> Verification:
    """Restore `source` into a scratch database of the same kind as `url` (never `url`
    itself) and compare every table's rows and content hash with the manifest."""
    kind = _kind(url)
    with open_backup(source) as (manifest, data):
        _same_kind(manifest, kind)
        if kind == "sqlite":
            with tempfile.TemporaryDirectory(prefix="vibes-verify-") as tmp:
                restored = sqlite.scratch_copy(data, Path(tmp) / "verify.db")
        elif scratch_url is not None:
            if await postgres.has_tables(scratch_url):
                raise BackupError("the scratch database is not empty")
            restored = await postgres.restore(scratch_url, data, replace=False)
        else:
            async with postgres.scratch_database(url) as scratch:
                restored = await postgres.restore(scratch, data, replace=False)
    return Verification(manifest, restored)


async def restore_backup(
    url: str, source: Path, *, replace: bool, keyring: KeyRing | None = None
) -> Manifest:
    """Restore `source` into the database at `url`, then upgrade it to this version's
    schema. A database that holds anything is only overwritten with `replace`. Stop the
    servers first: writes made during a restore are lost with the rest."""
    kind = _kind(url)
    with open_backup(source) as (manifest, data):
        _same_kind(manifest, kind)
        known = migrations.known_revisions()
        if manifest.schema_revision is not None and manifest.schema_revision not in known:
            raise BackupError(
                f"the backup's schema ({manifest.schema_revision}) is newer than this "
                "version of Vibes: restore it with the version that made it"
            )
        occupied = (
            await postgres.has_tables(url) if kind == "postgresql" else sqlite.has_tables(url)
        )
        if occupied and not replace:
            raise BackupError(
                "the database is not empty: pass --replace to overwrite everything in it"
            )
        if kind == "postgresql":
            restored = await postgres.restore(url, data, replace=replace)
        else:
            restored = await sqlite.restore(url, data)
    problems = compare(manifest.tables, restored)
    if problems:
        raise BackupError("the restored database differs from the backup: " + "; ".join(problems))
    await migrations.upgrade(url, keyring=keyring)
    return manifest


def _same_kind(manifest: Manifest, kind: str) -> None:
    if manifest.database != kind:
        raise BackupError(
            f"this is a {manifest.database} backup and the database is {kind}: "
            "move between databases with export and import"
        )
