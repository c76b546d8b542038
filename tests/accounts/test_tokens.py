"""Forged, expired, misdirected and revoked tokens are all refused with 401."""

from __future__ import annotations

import time
import warnings
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning

from tests.accounts.conftest import Account, sign_up
from vibes.platform.keys import KeyRing
from vibes.platform.runtime import app_runtime

ME = "/api/v1/users/me"


def _claims(account: Account) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        account.tokens["access_token"], options={"verify_signature": False}
    )
    return claims


def _sign(app: FastAPI, claims: dict[str, Any], **changes: Any) -> str:
    keyring: KeyRing = app_runtime(app).keyring
    key = keyring.current
    return jwt.encode(
        {**claims, **changes}, key.secret, algorithm="HS256", headers={"kid": key.kid}
    )


async def _status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code


async def test_a_well_made_token_is_accepted(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The control: re-signing the real claims works, so each refusal below is the forgery."""
    account = await sign_up(client)
    assert await _status(client, _sign(app, _claims(account))) == 200


def _alg_none(app: FastAPI, claims: dict[str, Any]) -> str:
    kid = app_runtime(app).keyring.current.kid
    return jwt.encode(claims, None, algorithm="none", headers={"kid": kid})


def _wrong_key(app: FastAPI, claims: dict[str, Any]) -> str:
    kid = app_runtime(app).keyring.current.kid
    return jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": kid})


def _other_hmac(app: FastAPI, claims: dict[str, Any]) -> str:
    key = app_runtime(app).keyring.current
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key.secret, algorithm="HS512", headers={"kid": key.kid})


def _unknown_kid(app: FastAPI, claims: dict[str, Any]) -> str:
    key = app_runtime(app).keyring.current
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": "nope"})


def _expired(app: FastAPI, claims: dict[str, Any]) -> str:
    now = int(time.time())
    return _sign(app, claims, iat=now - 3600, nbf=now - 3600, exp=now - 600)


def _wrong_aud(app: FastAPI, claims: dict[str, Any]) -> str:
    return _sign(app, claims, aud="someone-else")


def _wrong_iss(app: FastAPI, claims: dict[str, Any]) -> str:
    return _sign(app, claims, iss="https://evil.example")


def _refresh_typ(app: FastAPI, claims: dict[str, Any]) -> str:
    return _sign(app, claims, typ="refresh")


def _no_sid(app: FastAPI, claims: dict[str, Any]) -> str:
    return _sign(app, {k: v for k, v in claims.items() if k != "sid"})


def _tampered_payload(app: FastAPI, claims: dict[str, Any]) -> str:
    header, _payload, signature = _sign(app, claims).split(".")
    other = _sign(app, claims, sub="01900000-0000-7000-8000-000000000000").split(".")[1]
    return ".".join([header, other, signature])


@pytest.mark.parametrize(
    "forge",
    [
        _alg_none,
        _wrong_key,
        _other_hmac,
        _unknown_kid,
        _expired,
        _wrong_aud,
        _wrong_iss,
        _refresh_typ,
        _no_sid,
        _tampered_payload,
    ],
)
async def test_forged_token_is_401(app: FastAPI, client: httpx.AsyncClient, forge: Any) -> None:
    account = await sign_up(client)
    response = await client.get(
        ME, headers={"Authorization": f"Bearer {forge(app, _claims(account))}"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_refresh_token_used_as_access_token_is_401(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    assert await _status(client, account.tokens["refresh_token"]) == 401


async def test_garbage_and_missing_tokens_are_401(client: httpx.AsyncClient) -> None:
    assert await _status(client, "not.a.jwt") == 401
    assert await _status(client, "") == 401
    assert (await client.get(ME)).status_code == 401


async def test_token_of_revoked_session_is_401_at_once(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    # Seen alive first, so a cache (Redis, when configured) holds it as alive.
    assert await _status(client, account.tokens["access_token"]) == 200
    logout = await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": account.tokens["refresh_token"]},
        headers=account.headers,
    )
    assert logout.status_code == 204
    assert await _status(client, account.tokens["access_token"]) == 401


async def test_keys_rotate_old_tokens_still_verify(app: FastAPI, client: httpx.AsyncClient) -> None:
    """A new signing key signs; tokens signed by the previous one keep working."""
    account = await sign_up(client)
    old: KeyRing = app_runtime(app).keyring
    from vibes.platform.keys import new_signing_key

    app_runtime(app).keyring = KeyRing(
        signing_keys=(*old.signing_keys, new_signing_key()), server_key=old.server_key
    )
    try:
        assert await _status(client, account.tokens["access_token"]) == 200
        fresh = _sign(app, _claims(account))
        assert jwt.get_unverified_header(fresh)["kid"] != old.current.kid
        assert await _status(client, fresh) == 200
    finally:
        app_runtime(app).keyring = old
