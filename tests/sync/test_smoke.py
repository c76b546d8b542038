from __future__ import annotations

import httpx

from tests.factories import AuthedUser
from tests.sync.conftest import API, Device, server_state


async def test_smoke(client: httpx.AsyncClient, alice: AuthedUser) -> None:
    r = await client.post(
        f"{API}/journals", json={"title": "a", "content": "b", "tags": ["x"]}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    device = Device(client, alice.headers)
    await device.sync()
    assert device.replica == await server_state(client, alice.headers)
    r = await client.delete(f"{API}/journals/{r.json()['id']}", headers=alice.headers)
    await device.sync()
    print(device.replica)
    assert device.replica == await server_state(client, alice.headers)
