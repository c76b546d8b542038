"""Email of reminder.due to the account's address, through a real SMTP server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Backend, make_settings
from tests.events.conftest import Mailbox
from tests.events.helpers import dispatcher_for, due_reminder, run_until
from tests.factories import make_authed_user
from vibes.config import Settings
from vibes.platform.runtime import app_runtime


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
    await run_until(dispatcher, lambda: bool(smtp_server.messages))
    for _ in range(3):
        await dispatcher.run_once()
    [message] = smtp_server.messages
    assert message["to"] == [user.email]
    assert "Subject: Reminder: Water the plants" in message["data"]
    assert "Europe/Berlin" in message["data"]

    async with app_runtime(app).database.read_sessionmaker() as s:
        from sqlalchemy import select

        from vibes.events.models import Delivery
        from vibes.recording.models import OutboxEvent

        rows = (
            await s.execute(
                select(Delivery.channel, Delivery.status, OutboxEvent.data).join(
                    OutboxEvent, OutboxEvent.id == Delivery.event_id
                )
            )
        ).all()
    assert [(c, st) for c, st, _ in rows] == [("email", "succeeded")]
    assert rows[0][2]["reminder_id"] == reminder_id


async def _due_row(app: FastAPI, user_id: object, title: str) -> None:
    """A due reminder stored as is (the API refuses control characters in titles now)."""
    import datetime as dt

    from vibes.reminders.models import Reminder

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with app_runtime(app).database.session_scope() as session:
        session.add(
            Reminder(
                user_id=user_id,
                title=title,
                priority=2,
                remind_at=past,
                timezone="UTC",
                occurrence_at=past,
                next_fire_at=past,
                is_completed=False,
            )
        )


async def _email_statuses(app: FastAPI) -> list[tuple[str, int]]:
    from sqlalchemy import select

    from vibes.events.models import Delivery

    async with app_runtime(app).database.read_sessionmaker() as s:
        rows = (await s.execute(select(Delivery.status, Delivery.attempt_count))).all()
    return [(status, count) for status, count in rows]


async def test_a_line_break_in_a_stored_title_still_mails_one_subject_line(
    app: FastAPI, smtp_server: Mailbox
) -> None:
    user = await make_authed_user(app)
    await _due_row(app, user.id, "Pay rent\r\nBcc: victim@example.com")
    dispatcher = dispatcher_for(app)
    await run_until(dispatcher, lambda: bool(smtp_server.messages))
    [message] = smtp_server.messages
    assert message["to"] == [user.email]
    assert "Subject: Reminder: Pay rent Bcc: victim@example.com" in message["data"]
    headers = message["data"].split("\r\n\r\n", 1)[0]
    assert "\nBcc:" not in headers
    await dispatcher.run_once()
    assert await _email_statuses(app) == [("succeeded", 1)]


async def test_a_message_that_cannot_be_built_fails_at_once_not_pending_forever(
    app: FastAPI, smtp_server: Mailbox
) -> None:
    # An address with a line break cannot go in a To header: no retry can fix that.
    user = await make_authed_user(app, email="broken\r\n@example.com")
    await _due_row(app, user.id, "Stretch")
    dispatcher = dispatcher_for(app)

    async def settled() -> bool:
        statuses = await _email_statuses(app)
        return bool(statuses) and statuses[0][0] != "pending"

    await run_until(dispatcher, settled)
    assert await _email_statuses(app) == [("failed", 1)]
    assert smtp_server.messages == []


def test_subjects_are_one_line() -> None:
    from vibes.platform.mail import clean_subject

    assert clean_subject("a\r\n b\tc\x00d\u2028e  ") == "a b c d e"
