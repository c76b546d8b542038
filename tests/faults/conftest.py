"""Fault injection: real processes killed with SIGKILL on loopback, each test bounded."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator

import pytest

from tests.faults.postgres import PrivatePostgres, find_postgres_bin
from tests.faults.redis import PrivateRedis


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started PostgreSQL of the test's own, stopped and removed afterwards."""
    if find_postgres_bin("initdb") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have PostgreSQL's initdb: the crash test would go untested")
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    if os.geteuid() == 0 and not _has_user("postgres"):
        pytest.skip("running as root, and no `postgres` account to run PostgreSQL as")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started Redis of the test's own, killed afterwards."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have redis-server: the outage test would go untested")
        pytest.skip("no redis-server on this machine")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()
