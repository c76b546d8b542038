"""HTTP client CPU per webhook request, measured alone against a loopback receiver.

The receiver runs in another process (uvicorn with httptools, the dispatcher bench's
receiver), so only the client's CPU is counted: `time.process_time()` of this process
around N signed POSTs, `--concurrency` at a time on `--connections` kept-alive connections
to one site, as the dispatcher sends them. Candidates alternate in one run:

    python bench/webhook_client.py --requests 3000 --rounds 3
    python bench/webhook_client.py --senders vibes --loop uvloop   # the dispatcher's path only

`vibes` is the dispatcher's own path (netguard, signing, the pools); `h11` and `aiohttp`
are bare candidates. Run with another checkout's interpreter to measure its `vibes`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from vibes.config import Settings
from vibes.events.channels import new_webhook_secret, sign_headers
from vibes.events.pools import ConnectionPools
from vibes.events.webhook_http import send_webhook

BODY = '{"created_at":"2026-12-03T10:00:00Z","data":{"reminder_id":"x"},"id":"y","type":"z"}'

Send = Callable[[str], Awaitable[int]]


async def vibes_sender(url: str, connections: int) -> tuple[Send, Callable[[], Awaitable[Any]]]:
    """The dispatcher's own path: netguard, signing, the pools, the client."""
    settings = Settings(_env_file=None, webhooks_allow_private=True)  # type: ignore[call-arg]
    options: dict[str, Any] = {"per_host": connections, "max_pools": 16, "idle_seconds": 30}
    if "timeout" in inspect.signature(ConnectionPools).parameters:
        options["timeout"] = 10  # the httpx pools (before issue 17's aiohttp), to compare
    pools = ConnectionPools(**options)
    secret = new_webhook_secret()

    async def send(msg_id: str) -> int:
        outcome = await send_webhook(
            pools, settings, url=url, secret=secret, msg_id=msg_id, body=BODY
        )
        assert outcome.ok, outcome
        return outcome.status_code or 0

    return send, pools.aclose


async def h11_sender(url: str, connections: int) -> tuple[Send, Callable[[], Awaitable[Any]]]:
    """h11 over kept-alive asyncio streams (a candidate, not used by the dispatcher)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection]] = []
    slots = asyncio.Semaphore(connections)
    secret = new_webhook_secret()

    async def send(msg_id: str) -> int:
        async with slots:
            if idle:
                reader, writer, conn = idle.pop()
            else:
                reader, writer = await asyncio.open_connection(host, int(port))
                conn = h11.Connection(h11.CLIENT)
            body = BODY.encode()
            headers = [
                ("host", f"{host}:{port}"),
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
                *sign_headers(secret, msg_id=msg_id, body=BODY, at=dt.datetime.now(dt.UTC)).items(),
            ]
            writer.write(
                conn.send(h11.Request(method="POST", target="/hook", headers=headers))
                + conn.send(h11.Data(data=body))
                + conn.send(h11.EndOfMessage())
            )
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                if isinstance(event, h11.EndOfMessage):
                    break
            conn.start_next_cycle()
            idle.append((reader, writer, conn))
            return status

    async def close() -> None:
        for _, writer, _ in idle:
            writer.close()

    return send, close


async def aiohttp_sender(url: str, connections: int) -> tuple[Send, Callable[[], Awaitable[Any]]]:
    """aiohttp with a connector of `connections` to one site (a candidate)."""
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, use_dns_cache=False),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )
    secret = new_webhook_secret()
    data = BODY.encode()

    async def send(msg_id: str) -> int:
        headers = {
            "content-type": "application/json",
            **sign_headers(secret, msg_id=msg_id, body=BODY, at=dt.datetime.now(dt.UTC)),
        }
        async with session.post(url, data=data, headers=headers, allow_redirects=False) as r:
            await r.content.read(65536)
            return r.status

    return send, session.close


SENDERS = {"vibes": vibes_sender, "h11": h11_sender, "aiohttp": aiohttp_sender}


async def measure(name: str, url: str, requests: int, concurrency: int, connections: int) -> None:
    send, close = await SENDERS[name](url, connections)
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            assert 200 <= await send(f"msg_{n}") < 300

    await asyncio.gather(*(one(n) for n in range(50)))  # warm: connections open
    cpu_0, wall_0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(requests)))
    cpu, wall = time.process_time() - cpu_0, time.perf_counter() - wall_0
    await close()
    load = os.getloadavg()[0]
    print(
        f"{name:8s} {cpu * 1000 / requests:6.3f} ms CPU/request  {requests / wall:7.0f} req/s"
        f"  (load {load:.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--senders", default=",".join(SENDERS))
    args = parser.parse_args()
    port = 18000 + os.getpid() % 1000
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(port)], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(1.5)
        url = f"http://127.0.0.1:{port}/hook"

        async def run() -> None:
            for _ in range(args.rounds):
                for name in args.senders.split(","):
                    await measure(name, url, args.requests, args.concurrency, args.connections)

        if args.loop == "uvloop":
            import uvloop

            uvloop.run(run())
        else:
            asyncio.run(run())
    finally:
        receiver.terminate()
        receiver.wait()


RECEIVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), lifespan="off", log_level="error")
"""

if __name__ == "__main__":
    main()
