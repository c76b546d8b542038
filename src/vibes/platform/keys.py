"""Signing keys and the server key: from settings, or generated once into the data folder."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from vibes.config import Settings

KEYS_FILE = "keys.json"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes


@dataclass(frozen=True)
class KeyRing:
    """JWT keys (the last one signs, all verify) and the server key."""

    signing_keys: tuple[SigningKey, ...]
    server_key: bytes
    _by_kid: dict[str, SigningKey] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.signing_keys:
            raise ValueError("a key ring needs at least one signing key")
        self._by_kid.update({key.kid: key for key in self.signing_keys})

    @property
    def current(self) -> SigningKey:
        return self.signing_keys[-1]

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    def derive(self, purpose: str) -> bytes:
        """A 256-bit subkey of the server key for one purpose, so no key serves two."""
        return hashlib.blake2b(purpose.encode(), key=self.server_key, digest_size=32).digest()


def new_signing_key() -> SigningKey:
    secret = secrets.token_bytes(32)
    return SigningKey(kid=hashlib.sha256(secret).hexdigest()[:16], secret=secret)


def _write_private(path: Path, text: str) -> None:
    # Created 0600 from the start: the key never exists on disk readable by others.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _load_file(path: Path) -> tuple[list[SigningKey], bytes]:
    data = json.loads(path.read_text())
    keys = [SigningKey(kid=k["kid"], secret=_unb64(k["secret"])) for k in data["jwt_keys"]]
    return keys, _unb64(data["server_key"])


def _save_file(path: Path, keys: list[SigningKey], server_key: bytes) -> None:
    data = {
        "jwt_keys": [{"kid": k.kid, "secret": _b64(k.secret)} for k in keys],
        "server_key": _b64(server_key),
    }
    _write_private(path, json.dumps(data, indent=2) + "\n")


def load_keyring(settings: Settings) -> KeyRing:
    """Keys from settings when given; otherwise the data folder's, created on first use."""
    path = settings.data_dir / KEYS_FILE
    file_keys: list[SigningKey] = []
    file_server_key: bytes | None = None
    need_file = not settings.jwt_keys or not settings.secret_key
    if need_file:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists():
            file_keys, file_server_key = _load_file(path)
        else:
            file_keys, file_server_key = [new_signing_key()], secrets.token_bytes(32)
            _save_file(path, file_keys, file_server_key)
    if settings.jwt_keys:
        keys = []
        for item in settings.jwt_keys:
            kid, sep, secret = item.partition(":")
            if not sep or not kid or len(secret) < 32:
                raise ValueError("VIBES_JWT_KEYS takes kid:secret pairs, secrets of 32+ chars")
            keys.append(SigningKey(kid=kid, secret=secret.encode()))
    else:
        keys = file_keys
    if settings.secret_key:
        server_key = hashlib.sha256(settings.secret_key.encode()).digest()
    else:
        assert file_server_key is not None
        server_key = file_server_key
    return KeyRing(signing_keys=tuple(keys), server_key=server_key)


def rotate_signing_key(settings: Settings) -> SigningKey:
    """Add a new signing key to the data folder's ring; older keys keep verifying."""
    path = settings.data_dir / KEYS_FILE
    load_keyring(settings)  # creates the file on first use
    keys, server_key = _load_file(path)
    key = new_signing_key()
    _save_file(path, [*keys, key], server_key)
    return key
