"""`VaultAccess`: the data keys a request's `X-Vibes-Unlock` tokens open, for any endpoint.

A token counts only when it is live, was granted to the request's user AND to the session
the bearer token belongs to; anything else in the header is ignored, silently, so a
stranger's or an expired token changes nothing in any answer.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select
from starlette.types import Scope as HttpScope

from vibes.accounts.dependencies import CurrentPrincipal, bearer_token, verify_bearer
from vibes.accounts.pats import is_personal_token
from vibes.accounts.tokens import AccessClaims
from vibes.platform.hotroutes import pick_headers
from vibes.platform.runtime import runtime_of, scope_runtime
from vibes.vault import crypto, service
from vibes.vault.entries import UnlockedTag
from vibes.vault.models import SecretTag
from vibes.vault.ratelimit import Scope
from vibes.vault.runtime import vault_runtime

UNLOCK_HEADER = "x-vibes-unlock"
# Declared for the API docs; the value is read (every line, comma-split) by unlock_tokens.
UnlockHeader = Annotated[
    str | None,
    Header(
        alias="X-Vibes-Unlock",
        description="Unlock tokens from POST /secret-tags/unlock, comma-separated.",
    ),
]
MAX_TOKENS = 32
_MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class VaultKeys(Mapping[uuid.UUID, bytes]):
    """{secret tag id: data key} for the tags this request has unlocked (often empty)."""

    _keys: Mapping[uuid.UUID, bytes] = field(default_factory=dict)
    tokens: tuple[str, ...] = ()

    def __getitem__(self, tag_id: uuid.UUID) -> bytes:
        return self._keys[tag_id]

    def __iter__(self) -> Iterator[uuid.UUID]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def tag_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self._keys)

    def __repr__(self) -> str:  # never print key material
        return f"VaultKeys(tags={sorted(str(t) for t in self._keys)})"


def unlock_tokens(request: Request) -> tuple[str, ...]:
    """Tokens from every `X-Vibes-Unlock` header line, comma-separated, junk dropped."""
    tokens: list[str] = []
    for line in request.headers.getlist(UNLOCK_HEADER):
        for part in line.split(","):
            token = part.strip()
            if token and len(token) <= _MAX_TOKEN_LENGTH and token.isascii():
                tokens.append(token)
    return tuple(dict.fromkeys(tokens))[:MAX_TOKENS]


async def resolve_vault_keys(request: Request, claims: AccessClaims) -> VaultKeys:
    tokens = unlock_tokens(request)
    if not tokens:
        return VaultKeys()
    grants = [
        grant
        for grant in await vault_runtime(request).store.lookup(tokens)
        if grant.user_id == claims.user_id and grant.session_id == claims.session_id
    ]
    if not grants:
        return VaultKeys({}, tokens)
    # Only grants made under the tag's current phrase count: a phrase change ends every
    # earlier unlock, whatever store or process holds it. One indexed read per request
    # that carries tokens; it also drops tags destroyed since.
    async with runtime_of(request).database.read_sessionmaker() as db:
        current = {
            row.id: crypto.phrase_generation(row.kdf_salt)
            for row in await db.execute(
                select(SecretTag.id, SecretTag.kdf_salt).where(
                    SecretTag.user_id == claims.user_id,
                    SecretTag.id.in_(sorted({grant.tag_id for grant in grants})),
                )
            )
        }
    keys = {
        grant.tag_id: grant.data_key
        for grant in grants
        if hmac.compare_digest(current.get(grant.tag_id, b""), grant.generation)
    }
    return VaultKeys(keys, tokens)


async def unlocked_tags(request: Request, claims: AccessClaims) -> dict[uuid.UUID, UnlockedTag]:
    """The request's unlocked secret tags, names decrypted: `{}` (and no query) without
    tokens; otherwise one read of the tags, which also drops tags destroyed meanwhile."""
    keys = await resolve_vault_keys(request, claims)
    if not keys:
        return {}
    async with runtime_of(request).database.read_sessionmaker() as db:
        opened = await service.list_unlocked(db, user_id=claims.user_id, keys=keys)
    return {
        item.tag.id: UnlockedTag(id=item.tag.id, name=item.name, data_key=keys[item.tag.id])
        for item in opened
    }


async def get_vault_access(
    request: Request, principal: CurrentPrincipal, _header: UnlockHeader = None
) -> VaultKeys:
    return await resolve_vault_keys(request, principal)


VaultAccess = Annotated[VaultKeys, Depends(get_vault_access)]


async def check_phrase_attempt(request: Request, scope: Scope, user_id: uuid.UUID) -> None:
    """Before a phrase (or destroy-password) attempt; 429 past the account/address budget.
    A phrase attempt is counted against it only if it fails (`phrase_failed`); a password
    attempt always is."""
    address = request.client.host if request.client else None
    limiter = vault_runtime(request).limiter
    if scope == "phrase":
        await limiter.check_phrase(user_id=user_id, address=address)
    else:
        await limiter.hit(scope, user_id=user_id, address=address)


async def phrase_failed(request: Request, user_id: uuid.UUID) -> None:
    """Count a failed phrase attempt against the account and address budgets."""
    address = request.client.host if request.client else None
    await vault_runtime(request).limiter.hit("phrase", user_id=user_id, address=address)


_AUTHORIZATION = b"authorization"
_UNLOCK = UNLOCK_HEADER.encode()


def plain_bearer(
    scope: HttpScope, names: Collection[bytes] = ()
) -> tuple[AccessClaims, dict[bytes, bytes]] | None:
    """For fast paths: the verified claims of a request that sends a bearer token and no
    unlock tokens (so its viewer sees no secret entry), with its headers among `names`;
    None for any other request, or one with a header of these sent twice. The token is
    read and verified as the routes' `AccessToken` does: one that fails raises its 401."""
    headers = pick_headers(scope, {_AUTHORIZATION, _UNLOCK, *names})
    if headers is None or _UNLOCK in headers:
        return None
    raw = headers.get(_AUTHORIZATION)
    token = bearer_token(None if raw is None else raw.decode("latin-1"))
    if token is None or is_personal_token(token):
        # The documented route answers a missing token, and resolves a personal one.
        return None
    return verify_bearer(scope_runtime(scope), token), headers
