"""Email of reminder.due to the account's address, through a real SMTP server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Backend, make_settings
from tests.events.conftest import Mailbox
from tests.events.helpers import dispatcher_for, due_reminder
from tests.factories import make_authed_user
from vibes.config import Settings


@pytest.fixture
def settings(backend: Backend, tmp_path: Path, smtp_server: Mailbox) -> Settings:
    return make_settings(
        backend,
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        smtp_from="Vibes <vibes@example.test>",
    )


async def test_a_due_reminder_is_mailed_to_the_account_address(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: Mailbox
) -> None:
    user = await make_authed_user(app, timezone="Europe/Berlin")
    reminder_id = await due_reminder(client, user, title="Water the plants")
    await due_reminder(client, user, title="Later", seconds=3600)  # not due: no mail
    dispatcher = dispatcher_for(app)
    async with asyncio.timeout(10):
        while not smtp_server.messages:
            await dispatcher.run_once()
            await asyncio.sleep(0.05)
    for _ in range(3):
        await dispatcher.run_once()
    [message] = smtp_server.messages
    assert message["to"] == [user.email]
    assert "Subject: Reminder: Water the plants" in message["data"]
    assert "Europe/Berlin" in message["data"]

    async with app.state.database.read_sessionmaker() as s:
        from sqlalchemy import select

        from vibes.events.models import Delivery, OutboxEvent

        rows = (
            await s.execute(
                select(Delivery.channel, Delivery.status, OutboxEvent.data).join(
                    OutboxEvent, OutboxEvent.id == Delivery.event_id
                )
            )
        ).all()
    assert [(c, st) for c, st, _ in rows] == [("email", "succeeded")]
    assert rows[0][2]["reminder_id"] == reminder_id
