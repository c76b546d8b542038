"""`make_*` factories with keyword overrides, for tests of every domain."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from vibes.accounts.models import AuthSession, User
from vibes.accounts.tokens import issue_access_token
from vibes.db import Database, new_id, utcnow
from vibes.journals.schemas import JournalRead
from vibes.platform.runtime import app_runtime

# An Argon2id hash of DEFAULT_PASSWORD, computed once so factories do not pay for hashing.
DEFAULT_PASSWORD = "correct horse battery staple"
_DEFAULT_HASH: str | None = None


def default_password_hash() -> str:
    global _DEFAULT_HASH
    if _DEFAULT_HASH is None:
        from argon2 import PasswordHasher

        _DEFAULT_HASH = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1).hash(
            DEFAULT_PASSWORD
        )
    return _DEFAULT_HASH


@dataclass
class AuthedUser:
    """A user with a live session and an access token, plus headers to use it."""

    id: uuid.UUID
    email: str
    session_id: uuid.UUID
    access_token: str
    password: str = DEFAULT_PASSWORD
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def make_user(database: Database, **overrides: Any) -> User:
    suffix = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "email": f"user-{suffix}@example.com",
        "password_hash": default_password_hash(),
        "display_name": f"User {suffix}",
        "timezone": "UTC",
    }
    values.update(overrides)
    values.setdefault("email_key", values["email"].casefold())
    user = User(**values)
    async with database.session_scope() as session:
        session.add(user)
    return user


async def make_session(database: Database, user_id: uuid.UUID, **overrides: Any) -> AuthSession:
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        "user_id": user_id,
        "device_name": "test device",
        "last_used_at": now,
        "expires_at": now + dt.timedelta(days=30),
    }
    values.update(overrides)
    auth_session = AuthSession(**values)
    async with database.session_scope() as session:
        session.add(auth_session)
    return auth_session


async def make_authed_user(app: FastAPI, **overrides: Any) -> AuthedUser:
    """A user signed in on one device, made directly (no HTTP, no password hashing)."""
    database: Database = app_runtime(app).database
    user = await make_user(database, **overrides)
    auth_session = await make_session(database, user.id)
    token, _ = issue_access_token(
        app_runtime(app).keyring,
        app_runtime(app).settings,
        user_id=user.id,
        session_id=auth_session.id,
    )
    return AuthedUser(id=user.id, email=user.email, session_id=auth_session.id, access_token=token)


def journal_read(data: Any) -> dict[str, Any]:
    """A journal entry as the API answers it, checked against `JournalRead`: every field
    there with its type, and no field the schema does not declare. Every helper that
    creates or reads an entry passes its answer through here, so a drift of the answer's
    shape fails everywhere at once."""
    JournalRead.model_validate(data)
    assert isinstance(data, dict)
    assert set(data) == set(JournalRead.model_fields), sorted(
        set(data) ^ set(JournalRead.model_fields)
    )
    return data
