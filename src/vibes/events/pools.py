"""Kept-alive HTTP connections for webhooks, one pool per site on its vetted address.

A pool serves exactly one (scheme, vetted IP, port, Host/SNI name): a connection is reused
only for the site it was opened and verified for, and only on the address netguard vetted
for that site. Requests go to the vetted IP address itself (their Host header and TLS
server name carry the site's name), so aiohttp alone would key its connections by
(IP, port) and let one site's connection carry another's request: hence one aiohttp
session per site and address, whose connector never looks a name up. A name that later
resolves elsewhere gets a new pool (the key holds the address). Each pool holds a bounded
number of connections; the pools are bounded too (least recently used closed first) and
a pool left idle is closed whole.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult


@dataclass(frozen=True, slots=True)
class PoolKey:
    scheme: str
    address: str  # the vetted IP the connection goes to
    port: int
    host: str  # the site's name: its Host header and, for HTTPS, its SNI and certificate


class NoLookups(AbstractResolver):
    """The pools' resolver: requests go to the vetted IP address itself, so a name that
    reached the connector would be a bug, and must not be looked up behind netguard."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError("webhook pools connect to vetted addresses only, never to a name")

    async def close(self) -> None:
        return None


@dataclass(slots=True)
class _Pool:
    session: aiohttp.ClientSession
    used_at: float
    in_use: int = 0
    retired: bool = False


def default_tls() -> ssl.SSLContext:
    """One verifying context for every pool (building one per pool costs a CA load)."""
    return ssl.create_default_context(cafile=certifi.where())


class ConnectionPools:
    def __init__(
        self,
        *,
        per_host: int,
        max_pools: int,
        idle_seconds: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._per_host = per_host
        self._max_pools = max_pools
        self._idle_seconds = idle_seconds
        self._tls = tls
        self._pools: OrderedDict[PoolKey, _Pool] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pools)

    @contextlib.asynccontextmanager
    async def session(self, key: PoolKey) -> AsyncIterator[aiohttp.ClientSession]:
        """The session of `key`'s pool, held for one request (a pool evicted meanwhile
        is closed once its last request is done, never under it). Requests beyond the
        pool's connections wait in its connector's queue."""
        pool = self._pools.get(key)
        if pool is None:
            pool = self._open(key)
            self._pools[key] = pool
            await self._evict()
        else:
            self._pools.move_to_end(key)
        pool.in_use += 1
        try:
            yield pool.session
        finally:
            pool.in_use -= 1
            pool.used_at = time.monotonic()
            if pool.retired and pool.in_use == 0:
                await pool.session.close()

    def _open(self, key: PoolKey) -> _Pool:
        if self._tls is None:
            self._tls = default_tls()
        connector = aiohttp.TCPConnector(
            limit=self._per_host,
            resolver=NoLookups(),
            use_dns_cache=False,
            ssl=self._tls if key.scheme == "https" else False,
            keepalive_timeout=self._idle_seconds,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # The caller's asyncio.timeout bounds the whole attempt.
            timeout=aiohttp.ClientTimeout(),
            # A receiver's cookies are never sent back, its bodies never inflated.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,  # no proxies from the environment
        )
        return _Pool(session=session, used_at=time.monotonic())

    async def _evict(self) -> None:
        while len(self._pools) > self._max_pools:
            _, oldest = self._pools.popitem(last=False)
            await self._retire(oldest)

    async def _retire(self, pool: _Pool) -> None:
        pool.retired = True
        if pool.in_use == 0:
            await pool.session.close()

    async def close_idle(self) -> int:
        """Close the pools nobody used for `idle_seconds` (their connections with them);
        returns how many."""
        cutoff = time.monotonic() - self._idle_seconds
        idle = [k for k, p in self._pools.items() if p.in_use == 0 and p.used_at < cutoff]
        for key in idle:
            await self._retire(self._pools.pop(key))
        return len(idle)

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await self._retire(pool)
