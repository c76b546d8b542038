"""Fault injection: real processes killed with SIGKILL on loopback, each test bounded."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.postgres import PrivatePostgres, find_postgres_bin


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started PostgreSQL of the test's own, stopped and removed afterwards."""
    if find_postgres_bin("initdb") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have PostgreSQL's initdb: the crash test would go untested")
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()
