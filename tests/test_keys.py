"""Signing keys: generated once into the data folder, private, reused, rotatable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vibes.config import Settings
from vibes.platform.keys import KEYS_FILE, load_keyring, rotate_signing_key


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **values)  # type: ignore[call-arg]


def test_first_start_generates_a_private_key_file_that_is_reused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = load_keyring(settings)
    path = settings.data_dir / KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_keyring(settings)
    assert first.current == second.current
    assert first.server_key == second.server_key
    assert len(first.current.secret) == 32


def test_two_data_folders_never_share_a_key(tmp_path: Path) -> None:
    one = load_keyring(_settings(tmp_path / "one"))
    two = load_keyring(_settings(tmp_path / "two"))
    assert one.current.secret != two.current.secret
    assert one.server_key != two.server_key


def test_rotation_signs_with_the_new_key_and_keeps_the_old(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    old = load_keyring(settings).current
    new = rotate_signing_key(settings)
    ring = load_keyring(settings)
    assert ring.current == new
    assert ring.get(old.kid) == old


def test_keys_from_settings_take_precedence(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, jwt_keys="old:" + "a" * 32 + ",new:" + "b" * 32, secret_key="s" * 40
    )
    ring = load_keyring(settings)
    assert ring.current.kid == "new"
    assert ring.get("old") is not None
    assert not (settings.data_dir / KEYS_FILE).exists()


def test_short_configured_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32"):
        load_keyring(_settings(tmp_path, jwt_keys="k:short", secret_key="s" * 40))


def test_derived_keys_differ_by_purpose(tmp_path: Path) -> None:
    ring = load_keyring(_settings(tmp_path))
    assert ring.derive("vault-lookup") != ring.derive("unlock-cache")
    assert ring.derive("vault-lookup") == ring.derive("vault-lookup")
