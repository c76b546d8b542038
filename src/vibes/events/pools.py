"""Kept-alive HTTP connections for webhooks, one pool per site on its vetted address.

Webhooks are sent to the address netguard vetted, not to the URL's name, so httpx alone
would pool by (scheme, IP, port) and let one site's connection carry another site's
request (an HTTPS one opened and verified for the first site's name). Here a pool serves
exactly one (scheme, vetted IP, port, Host/SNI name): a connection is reused only for the
site it was opened and verified for, and only on the address vetted for that site. Each
pool holds a bounded number of connections; the pools are bounded too (least recently
used closed first) and a pool left idle is closed whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import certifi
import httpx


@dataclass(frozen=True, slots=True)
class PoolKey:
    scheme: str
    address: str  # the vetted IP the connection goes to
    port: int
    host: str  # the site's name: its Host header and, for HTTPS, its SNI and certificate


@dataclass(slots=True)
class _Pool:
    client: httpx.AsyncClient
    # Requests wait here, not in httpcore's queue: its pool rescans every connection for
    # each queued request, which with a batch queued on a few connections costs more
    # than the requests themselves.
    slots: asyncio.Semaphore
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
        timeout: float,
        per_host: int,
        max_pools: int,
        idle_seconds: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout
        self._per_host = per_host
        self._limits = httpx.Limits(
            max_connections=per_host,
            max_keepalive_connections=per_host,
            keepalive_expiry=idle_seconds,
        )
        self._max_pools = max_pools
        self._idle_seconds = idle_seconds
        self._tls = tls
        self._pools: OrderedDict[PoolKey, _Pool] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pools)

    @contextlib.asynccontextmanager
    async def client(self, key: PoolKey) -> AsyncIterator[httpx.AsyncClient]:
        """The client of `key`'s pool, held for one request (a pool evicted meanwhile
        is closed once its last request is done, never under it)."""
        pool = self._pools.get(key)
        if pool is None:
            pool = self._open()
            self._pools[key] = pool
            await self._evict()
        else:
            self._pools.move_to_end(key)
        pool.in_use += 1
        try:
            async with pool.slots:
                yield pool.client
        finally:
            pool.in_use -= 1
            pool.used_at = time.monotonic()
            if pool.retired and pool.in_use == 0:
                await pool.client.aclose()

    def _open(self) -> _Pool:
        if self._tls is None:
            self._tls = default_tls()
        client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxies from the environment
            timeout=self._timeout,
            limits=self._limits,
            verify=self._tls,
        )
        return _Pool(
            client=client, slots=asyncio.Semaphore(self._per_host), used_at=time.monotonic()
        )

    async def _evict(self) -> None:
        while len(self._pools) > self._max_pools:
            _, oldest = self._pools.popitem(last=False)
            await self._retire(oldest)

    async def _retire(self, pool: _Pool) -> None:
        pool.retired = True
        if pool.in_use == 0:
            await pool.client.aclose()

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
