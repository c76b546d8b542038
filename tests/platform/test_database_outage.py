"""A database that cannot be reached answers 503 + Retry-After (clients and balancers
retry those), never a 500 that reads like a bug."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.conftest import PG_URL, _asyncpg_dsn, asgi_client
from vibes.app import create_app
from vibes.config import Settings
from vibes.errors import is_unavailable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


async def test_requests_while_postgresql_is_down_get_503_with_retry_after(
    tmp_path: Path,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/vibes",
        run_dispatcher=False,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        asgi_client(app, raise_app_exceptions=False) as client,
    ):
        login = await client.post(
            "/api/v1/auth/login", json={"email": "a@example.com", "password": "x" * 12}
        )
        ready = await client.get("/readyz")
    assert login.status_code == 503
    assert login.headers["content-type"] == "application/problem+json"
    assert int(login.headers["retry-after"]) >= 1
    assert login.json()["type"].endswith("/unavailable")
    assert "127.0.0.1" not in login.text
    assert ready.status_code == 503


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True), True),
        (OperationalError("SELECT 1", None, ConnectionResetError()), True),
        (OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."), True),
        (RuntimeError("a bug"), False),
        (PermissionError(13, "the data folder is not writable"), False),
        (OperationalError("SELECT 1", None, Exception("no such table: x")), False),
    ],
)
def test_only_connection_failures_count_as_unavailable(exc: Exception, expected: bool) -> None:
    assert is_unavailable(exc) is expected


@pytest.mark.skipif(PG_URL is None, reason="needs PostgreSQL (CI always sets it)")
async def test_a_closed_driver_connection_counts_as_unavailable() -> None:
    """The COPY helpers use asyncpg's own connection, whose errors SQLAlchemy never wraps:
    a connection the server cut answers `InterfaceError("connection is closed")`, which is
    an outage; asyncpg's other interface errors are bugs of ours."""
    assert PG_URL is not None
    connection = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    await connection.close()
    with pytest.raises(asyncpg.InterfaceError) as closed:
        await connection.fetchval("SELECT 1")
    assert is_unavailable(closed.value)

    connection = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        first = asyncio.ensure_future(connection.fetchval("SELECT pg_sleep(0.2)"))
        await asyncio.sleep(0.05)
        with pytest.raises(asyncpg.InterfaceError) as busy:
            await connection.fetchval("SELECT 1")
        await first
    finally:
        await connection.close()
    assert not is_unavailable(busy.value)
