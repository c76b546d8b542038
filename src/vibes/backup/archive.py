"""The backup file: writing it atomically (owner-only) and reading it back checked."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = "vibes-backup"
FORMAT_VERSION = 1
DATA, MANIFEST, SUMS = "data", "manifest.json", "SHA256SUMS"
# After the tar archive, one line with the SHA-256 of every byte before it: a changed byte
# anywhere (tar's padding included, which no member checksum covers) is caught.
FOOTER_PREFIX = b"vibes-backup-sha256:"
_FOOTER_SIZE = len(FOOTER_PREFIX) + 64 + 1
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup that cannot be made, read or restored; the message says why."""


@dataclass(frozen=True)
class TableStats:
    rows: int
    content_hash: str


@dataclass
class Manifest:
    database: str  # "postgresql" or "sqlite"
    schema_revision: str | None
    created_at: str
    tables: dict[str, TableStats]
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    data_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        body = asdict(self)
        body["tables"] = {name: asdict(s) for name, s in sorted(self.tables.items())}
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
            if body.get("format") != FORMAT:
                raise BackupError("not a Vibes backup (its manifest names another format)")
            if body.get("format_version") != FORMAT_VERSION:
                raise BackupError(
                    f"backup format version {body.get('format_version')} is not "
                    f"{FORMAT_VERSION}: use the Vibes version that made it"
                )
            tables = {name: TableStats(**s) for name, s in body.pop("tables").items()}
            return cls(tables=tables, **body)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BackupError(f"the backup's manifest is unreadable: {exc}") from None


def sha256_file(path: Path, length: int | None = None) -> str:
    """The SHA-256 of the file, or of its first `length` bytes."""
    digest = hashlib.sha256()
    left = path.stat().st_size if length is None else length
    with path.open("rb") as f:
        while left > 0 and (chunk := f.read(min(_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _check_footer(path: Path) -> None:
    size = path.stat().st_size
    if size <= _FOOTER_SIZE:
        raise BackupError(f"{path} is not a Vibes backup (too short)")
    with path.open("rb") as f:
        f.seek(size - _FOOTER_SIZE)
        footer = f.read()
    if not footer.startswith(FOOTER_PREFIX) or not footer.endswith(b"\n"):
        raise BackupError(f"{path} is damaged or not a Vibes backup (no checksum at its end)")
    expected = footer[len(FOOTER_PREFIX) : -1].decode("ascii", errors="replace")
    if sha256_file(path, size - _FOOTER_SIZE) != expected:
        raise BackupError(f"{path} is corrupt: it does not match its checksum")


def write_backup(target: Path, manifest: Manifest, data: Path) -> None:
    """Write the archive next to `target` and rename it into place: a crash leaves the
    previous backup whole, never half a new one. Owner-only: it holds every journal."""
    manifest.data_bytes = data.stat().st_size
    manifest_bytes = manifest.to_json()
    sums = (
        f"{sha256_file(data)}  {DATA}\n{hashlib.sha256(manifest_bytes).hexdigest()}  {MANIFEST}\n"
    ).encode()
    target = target.resolve()
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            _add_bytes(tar, MANIFEST, manifest_bytes)
            tar.add(data, arcname=DATA, recursive=False, filter=_plain_member)
            _add_bytes(tar, SUMS, sums)
            tar.close()
            raw.flush()
        whole = sha256_file(Path(partial)).encode()
        with open(partial, "ab") as raw:
            raw.write(FOOTER_PREFIX + whole + b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def _plain_member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = _plain_member(tarfile.TarInfo(name))
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


@contextlib.contextmanager
def open_backup(path: Path) -> Iterator[tuple[Manifest, Path]]:
    """Check every checksum, then yield the manifest and the data extracted to a private
    temporary file (removed afterwards). A corrupt or foreign file raises `BackupError`
    before anything could be restored from it."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    _check_footer(path)
    with tempfile.TemporaryDirectory(prefix="vibes-restore-") as scratch:
        data = Path(scratch) / DATA
        try:
            with tarfile.open(path, mode="r:") as tar:
                members = {m.name: m for m in tar.getmembers()}
                if set(members) != {DATA, MANIFEST, SUMS} or not all(
                    m.isfile() for m in members.values()
                ):
                    raise BackupError(f"{path} is not a Vibes backup (unexpected members)")
                manifest_bytes = _read(tar, members[MANIFEST])
                sums_bytes = _read(tar, members[SUMS])
                source = tar.extractfile(members[DATA])
                assert source is not None
                with data.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{path} is damaged or not a Vibes backup: {exc}") from None
        expected = _parse_sums(sums_bytes)
        if hashlib.sha256(manifest_bytes).hexdigest() != expected.get(MANIFEST):
            raise BackupError(f"{path} is corrupt: its manifest does not match its checksum")
        if sha256_file(data) != expected.get(DATA):
            raise BackupError(f"{path} is corrupt: its data does not match its checksum")
        yield Manifest.from_json(manifest_bytes), data


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > 16 << 20:
        raise BackupError("the backup's manifest is implausibly large")
    f = tar.extractfile(member)
    assert f is not None
    return f.read()


def _parse_sums(raw: bytes) -> dict[str, str]:
    sums: dict[str, str] = {}
    try:
        for line in raw.decode().splitlines():
            digest, name = line.split("  ", 1)
            sums[name] = digest
    except (UnicodeDecodeError, ValueError):
        raise BackupError("the backup's checksum list is damaged") from None
    return sums
