"""X-Forwarded-For is believed from VIBES_TRUSTED_PROXIES only (default: loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.conftest import Backend, make_settings
from vibes.app import create_app
from vibes.config import Settings


async def _budgets_of(
    backend: Backend, tmp_path: Path, peer: str, forwarded: list[str], **overrides: Any
) -> list[int]:
    """The statuses of one request per forwarded address, from `peer`, under a general
    limit of 2 a minute per client address."""
    settings = make_settings(backend, tmp_path / "data", rate_limit_default="2/minute", **overrides)
    app = create_app(settings)
    statuses = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for address in forwarded:
                r = await c.get("/healthz", headers={"X-Forwarded-For": address})
                statuses.append(r.status_code)
    return statuses


CLIENTS = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]


async def test_a_peer_not_listed_cannot_choose_its_address(
    backend: Backend, tmp_path: Path
) -> None:
    # One client spoofing a new X-Forwarded-For each time still has one budget.
    statuses = await _budgets_of(backend, tmp_path, "203.0.113.50", CLIENTS)
    assert statuses == [200, 200, 429, 429]


async def test_loopback_is_trusted_by_default(backend: Backend, tmp_path: Path) -> None:
    statuses = await _budgets_of(backend, tmp_path, "127.0.0.1", CLIENTS)
    assert statuses == [200, 200, 200, 200]


async def test_a_listed_proxy_network_passes_its_clients_addresses(
    backend: Backend, tmp_path: Path
) -> None:
    statuses = await _budgets_of(
        backend, tmp_path, "10.1.2.3", CLIENTS, trusted_proxies=["10.0.0.0/8"]
    )
    assert statuses == [200, 200, 200, 200]
    # ...and then loopback is no longer trusted: the setting replaces the default.
    statuses = await _budgets_of(
        backend, tmp_path, "127.0.0.1", CLIENTS, trusted_proxies=["10.0.0.0/8"]
    )
    assert statuses == [200, 200, 429, 429]


def test_the_setting_reads_a_comma_separated_list_and_refuses_typos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIBES_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,::1")
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.0/8", "192.0.2.7", "::1"]  # type: ignore[call-arg]
    monkeypatch.setenv("VIBES_TRUSTED_PROXIES", "10.0.0.300")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
