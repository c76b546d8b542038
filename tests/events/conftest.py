"""Fixtures of the events tests: a real webhook receiver and a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import Backend, make_settings
from tests.events.helpers import close_open_dispatchers
from tests.events.servers import Receiver, free_port, serving
from vibes.config import Settings


@pytest.fixture(autouse=True)
async def close_dispatchers() -> AsyncIterator[None]:
    yield
    await close_open_dispatchers()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # Receivers listen on loopback here, so private destinations are allowed; the SSRF
    # tests build their own settings without this.
    return make_settings(
        backend,
        tmp_path / "data",
        webhooks_allow_private=True,
        delivery_retry_base_seconds=0.05,
        delivery_retry_max_seconds=0.2,
        webhook_timeout_seconds=2.0,
        dispatcher_poll_seconds=0.1,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    async with serving(hook) as port:
        hook.port = port
        yield hook


@dataclass
class Mailbox:
    """What the SMTP server received."""

    port: int
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf8", errors="replace"),
            }
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
