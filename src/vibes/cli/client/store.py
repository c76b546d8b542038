"""Where the terminal client keeps its profiles: one JSON file in the XDG config folder.

`$XDG_CONFIG_HOME/vibes/credentials.json` (default `~/.config/vibes/`), mode 0600 from
the moment it exists: every write goes to a temporary file opened with that mode in the
same folder and is renamed over the old one, so no reader ever sees half a file and the
tokens are never world-readable, not even briefly. The folder itself is made 0700.
A lock file serialises read-modify-write cycles (a refresh in two shells at once).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROFILE = "default"
PROFILE_ENV = "VIBES_PROFILE"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "vibes"


def state_dir() -> Path:
    """For files the client keeps for the user (edits a conflict did not let through)."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "vibes"


@dataclass
class Unlock:
    """A live unlock of secret tags: the token is sent while it lives, then dropped."""

    token: str
    expires_at: str  # RFC 3339, UTC
    tags: list[dict[str, Any]] = field(default_factory=list)

    def alive(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return dt.datetime.fromisoformat(self.expires_at) > now


@dataclass
class Profile:
    url: str = ""
    email: str | None = None
    # "session": access + refresh token from a sign-in; "token": a personal access token.
    kind: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: str | None = None
    timezone: str | None = None
    unlocks: list[Unlock] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return bool(self.url and self.access_token)

    def live_unlocks(self) -> list[Unlock]:
        now = dt.datetime.now(dt.UTC)
        return [unlock for unlock in self.unlocks if unlock.alive(now)]

    def sign_out(self) -> None:
        self.kind = self.access_token = self.refresh_token = self.access_expires_at = None
        self.unlocks = []

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["unlocks"] = [Unlock(**u) for u in data.get("unlocks") or []]
        return cls(**known)


def profile_name(option: str | None) -> str:
    return option or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE


class Store:
    """The credentials file. `load()` reads it; `edit()` holds the lock around a change."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or config_dir()
        self.path = self.folder / "credentials.json"

    def load(self) -> dict[str, Profile]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None
        profiles = raw.get("profiles") if isinstance(raw, dict) else None
        if not isinstance(profiles, dict):
            return {}
        return {name: Profile.from_json(data) for name, data in profiles.items()}

    def profile(self, name: str) -> Profile:
        return self.load().get(name) or Profile()

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Profile]]:
        """Lock, load, let the caller change the profiles, write them back."""
        self._ensure_folder()
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            profiles = self.load()
            yield profiles
            self._write(profiles)
        finally:
            os.close(fd)  # closing releases the lock

    def prune(self, name: str) -> None:
        """Drop expired unlock tokens from the file: kept for their lifetime only."""
        profile = self.load().get(name)
        if profile is None or len(profile.live_unlocks()) == len(profile.unlocks):
            return
        with self.edit() as profiles:
            if name in profiles:
                profiles[name].unlocks = profiles[name].live_unlocks()

    def save_profile(self, name: str, profile: Profile) -> None:
        with self.edit() as profiles:
            profiles[name] = profile

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _write(self, profiles: dict[str, Profile]) -> None:
        document = {
            "version": 1,
            "profiles": {name: asdict(profile) for name, profile in sorted(profiles.items())},
        }
        data = json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"
        temporary = self.folder / f".credentials.{os.getpid()}.tmp"
        # O_EXCL with 0600: the file is born private (the umask can only remove bits).
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise


class StoreError(Exception):
    """The credentials file exists but cannot be read."""
