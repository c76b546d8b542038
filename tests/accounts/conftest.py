"""Fixtures of the accounts tests: an HTTP helper that signs up and in, and a real SMTP server."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from vibes.db import Database
from vibes.platform.models import AuditLog

STRONG_PASSWORD = "violet kettle drums at noon"
OTHER_STRONG_PASSWORD = "another quiet harbour lamp"


@dataclass
class Account:
    email: str
    password: str
    user: dict[str, Any]
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> uuid.UUID:
        return uuid.UUID(self.user["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


async def sign_up(
    client: httpx.AsyncClient, *, password: str = STRONG_PASSWORD, **extra: Any
) -> Account:
    email = extra.pop("email", f"person-{uuid.uuid4().hex[:10]}@example.com")
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, **extra}
    )
    assert response.status_code == 201, response.text
    account = Account(email=email, password=password, user=response.json())
    account.tokens = await sign_in(client, email, password)
    return account


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str, device_name: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "password": password}
    if device_name:
        body["device_name"] = device_name
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    collector: _Collector

    @property
    def messages(self) -> list[Message]:
        return self.collector.messages


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free local port, keeping what it receives."""
    collector = _Collector()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, collector)
    finally:
        controller.stop()


async def audit_rows(database: Database, action: str | None = None) -> list[AuditLog]:
    async with database.session_scope() as s:
        query = select(AuditLog).order_by(AuditLog.created_at, AuditLog.id)
        if action is not None:
            query = query.where(AuditLog.action == action)
        return list(await s.scalars(query))


async def age_spent_refresh_tokens(database: Database, seconds: int = 3600) -> None:
    """Move every spent refresh token's `used_at` into the past, beyond the grace window in
    which presenting it again counts as a retry (tests do not wait for clocks)."""
    import datetime as dt

    from vibes.accounts.models import RefreshToken

    async with database.session_scope() as session:
        for token in await session.scalars(
            select(RefreshToken).where(RefreshToken.used_at.is_not(None))
        ):
            assert token.used_at is not None
            token.used_at -= dt.timedelta(seconds=seconds)
