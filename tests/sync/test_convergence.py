"""Devices converge: a Hypothesis state machine runs random writes from several devices of
one user (creates, edits, deletes, tag renames and merges, tag deletes, moves into and
out of the vault, reminders), takes devices offline for stretches, pulls small pages,
and at the end every device's replica must equal what the server shows it.

Edits go with `If-Match` from the device's copy: a stale one gets 412, and the device
re-reads and retries, so nothing is silently overwritten. Examples and steps per example
come from VIBES_SYNC_EXAMPLES and VIBES_SYNC_STEPS (CI defaults keep a run short);
shrinking is off (a failing run prints its steps, which is enough to replay it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import MakeApp, asgi_client
from tests.factories import make_authed_user
from tests.sync.conftest import API, Device, server_state
from tests.vault.conftest import make_vault

T = TypeVar("T")
EXAMPLES = int(os.environ.get("VIBES_SYNC_EXAMPLES", "5"))
STEPS = int(os.environ.get("VIBES_SYNC_STEPS", "100"))

# Printable letters only: control characters are refused (422) by design.
words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
# Few tag names, so renames collide (merges) and tags are shared between entries.
tag_names = st.sampled_from(["red", "green", "blue", "Red", "amber"])
devices = st.integers(min_value=0, max_value=2)
picks = st.integers(min_value=0, max_value=10_000)


class Devices(RuleBasedStateMachine):
    """Three devices of one user: 0 and 1 locked, 2 with the vault unlocked."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    app: FastAPI

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]

    @initialize()
    def start(self) -> None:
        self.run(self._start())

    async def _start(self) -> None:
        user = await make_authed_user(self.app)
        self.vault = await make_vault(self.client, self.app, user=user)
        self.devices = [
            Device(self.client, user.headers),
            Device(self.client, user.headers),
            Device(self.client, self.vault.headers),
        ]
        self.online = [True, True, True]
        self.operations = 0

    def _pick(self, device: Device, kind: str, pick: int) -> dict[str, Any] | None:
        objects = [data for (k, _), data in sorted(device.replica.items()) if k == kind]
        return objects[pick % len(objects)] if objects else None

    async def _write(
        self, device: Device, method: str, path: str, kind: str, obj: dict[str, Any], body: Any
    ) -> None:
        """A conditional write from the device's copy; on 412 it re-reads and retries."""
        version = obj["version"]
        for _ in range(5):
            response = await self.client.request(
                method,
                f"{API}/{path}/{obj['id']}",
                json=body,
                headers={**device.headers, "If-Match": f'"{version}"'},
            )
            self.operations += 1
            if response.status_code in (200, 204, 404):
                return
            assert response.status_code == 412, response.text
            fresh = await self.client.get(f"{API}/{path}/{obj['id']}", headers=device.headers)
            if fresh.status_code == 404:
                return
            assert fresh.json()["version"] > version  # the server kept the other write
            version = fresh.json()["version"]
        raise AssertionError("a write kept losing its race")

    async def _create(self, device: int, title: str, tags: list[str], secret: bool) -> None:
        body: dict[str, Any] = {"title": title, "content": f"{title} {title}", "tags": tags}
        if secret and device == 2:
            body["secret_tag_id"] = self.vault.tag_id
        headers = self.devices[device].headers
        response = await self.client.post(f"{API}/journals", json=body, headers=headers)
        assert response.status_code == 201, response.text
        self.operations += 1

    def _entry_or_create(self, device: int, pick: int) -> dict[str, Any] | None:
        """An entry of the device's copy; with none yet, the step writes one instead."""
        entry = self._pick(self.devices[device], "journal", pick)
        if entry is None:
            self.run(self._create(device, f"t{pick}", ["red"], pick % 2 == 0))
        return entry

    @rule(
        device=devices,
        title=words,
        tags=st.lists(tag_names, min_size=1, max_size=3),
        secret=st.booleans(),
        count=st.integers(min_value=1, max_value=3),
    )
    def create(self, device: int, title: str, tags: list[str], secret: bool, count: int) -> None:
        for _ in range(count):
            self.run(self._create(device, title, tags, secret))

    @rule(device=devices, pick=picks, title=words, tags=st.none() | st.lists(tag_names, max_size=3))
    def edit(self, device: int, pick: int, title: str, tags: list[str] | None) -> None:
        entry = self._entry_or_create(device, pick)
        if entry is None:
            return
        body: dict[str, Any] = {"title": title}
        if tags is not None:
            body["tags"] = tags
        self.run(self._write(self.devices[device], "PATCH", "journals", "journal", entry, body))

    @rule(device=devices, pick=picks)
    def delete(self, device: int, pick: int) -> None:
        entry = self._entry_or_create(device, pick)
        if entry is not None:
            self.run(
                self._write(self.devices[device], "DELETE", "journals", "journal", entry, None)
            )

    @rule(pick=picks, into=st.booleans())
    def move(self, pick: int, into: bool) -> None:
        """Into the vault or out of it (only the unlocked device can)."""
        entry = self._entry_or_create(2, pick)
        if entry is None:
            return
        body = {"secret_tag_id": self.vault.tag_id if into else None}
        self.run(self._write(self.devices[2], "PATCH", "journals", "journal", entry, body))

    @rule(device=devices, pick=picks, name=tag_names)
    def rename_tag(self, device: int, pick: int, name: str) -> None:
        """Onto another tag's name, it merges that tag into this one."""
        tag = self._pick(self.devices[device], "tag", pick)
        if tag is not None:
            self.run(self._write(self.devices[device], "PATCH", "tags", "tag", tag, {"name": name}))

    @rule(device=devices, pick=picks)
    def delete_tag(self, device: int, pick: int) -> None:
        tag = self._pick(self.devices[device], "tag", pick)
        if tag is not None:
            self.run(self._write(self.devices[device], "DELETE", "tags", "tag", tag, None))

    @rule(device=devices, pick=picks, title=words)
    def remind(self, device: int, pick: int, title: str) -> None:
        """A reminder about one of the entries the device has."""
        entry = self._pick(self.devices[device], "journal", pick)
        body: dict[str, Any] = {"title": title, "remind_at": "2031-05-01T08:00:00Z"}
        if entry is not None:
            body["journal_id"] = entry["id"]
        headers = self.devices[device].headers
        response = self.run(self.client.post(f"{API}/reminders", json=body, headers=headers))
        # The entry may be gone (or in the vault) since the device last pulled.
        assert response.status_code in (201, 422), response.text
        self.operations += 1

    @rule(device=devices, pick=picks)
    def complete(self, device: int, pick: int) -> None:
        reminder = self._pick(self.devices[device], "reminder", pick)
        if reminder is not None:
            self.run(
                self._write(
                    self.devices[device],
                    "PATCH",
                    "reminders",
                    "reminder",
                    reminder,
                    {"priority": 5},
                )
            )

    @rule(device=devices)
    def toggle_online(self, device: int) -> None:
        self.online[device] = not self.online[device]

    @precondition(lambda self: any(self.online))
    @rule(device=devices, limit=st.integers(min_value=1, max_value=7), pages=st.integers(1, 4))
    def pull(self, device: int, limit: int, pages: int) -> None:
        """A few small pages (not always to the end of the feed)."""
        if self.online[device]:
            for _ in range(pages):
                if not self.run(self.devices[device].pull_page(limit))["has_more"]:
                    return

    @rule(device=devices, limit=st.integers(min_value=1, max_value=7))
    def catch_up(self, device: int, limit: int) -> None:
        """Back online and pulled to the end: the copy is the server's state right now."""
        self.online[device] = True
        self.run(self._converge(device, limit))

    async def _converge(self, device: int, limit: int) -> None:
        replica = self.devices[device]
        await replica.sync(limit)
        assert replica.replica == await server_state(self.client, replica.headers)

    @invariant()
    def cursors_are_opaque(self) -> None:
        for device in getattr(self, "devices", []):
            assert device.cursor is None or device.cursor.startswith("v1.")

    def teardown(self) -> None:
        if not hasattr(self, "devices"):
            return
        for device in range(len(self.devices)):
            self.run(self._converge(device, 5))


@pytest.mark.long
def test_every_device_converges_on_the_servers_state(make_app: MakeApp) -> None:
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        app = loop.run_until_complete(
            stack.enter_async_context(make_app(rate_limits_enabled=False))
        )
        client = loop.run_until_complete(stack.enter_async_context(asgi_client(app)))
        Devices.loop, Devices.app, Devices.client = loop, app, client
        run_state_machine_as_test(
            Devices,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
