"""HTTP routes of the vault domain: parse, call the service, choose the status code."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from vibes.accounts.dependencies import CurrentPrincipal, ReadOnlyPrincipal
from vibes.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from vibes.platform.runtime import DbSession, runtime_of
from vibes.vault import crypto, service
from vibes.vault.access import (
    VaultAccess,
    check_phrase_attempt,
    phrase_failed,
    resolve_vault_keys,
    unlock_tokens,
)
from vibes.vault.runtime import vault_runtime
from vibes.vault.schemas import (
    DestroyRequest,
    PhraseChange,
    SecretTagBrief,
    SecretTagCreate,
    SecretTagList,
    SecretTagRead,
    SecretTagUpdate,
    UnlockRequest,
    UnlockResponse,
    VaultIdentity,
    VaultIdentityList,
    VaultListRequest,
)

router = APIRouter(prefix="/secret-tags", tags=["secret tags"])

# The account password decides (destroy, forgotten): a wrong one is a 403, not a 401 (the
# access token is fine). Both share the phrase attempts' rate limit.
_PASSWORD_CHECK_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"description": "The password is not correct"},
    429: {"description": "Too many attempts (see Retry-After)"},
}


def _read(opened: service.OpenTag) -> SecretTagRead:
    tag = opened.tag
    return SecretTagRead(
        id=tag.id,
        name=opened.name,
        color=tag.color,
        version=tag.version,
        created_at=tag.created_at,
        updated_at=tag.updated_at,
    )


def _etag(version: int) -> str:
    return f'"{version}"'


def _check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None:
        return
    wanted = {part.strip().removeprefix("W/") for part in if_match.split(",")}
    if "*" not in wanted and _etag(version) not in wanted:
        raise PreconditionFailed("The secret tag was changed; reload and retry.")


async def _check_new_phrase(request: Request, user_id: uuid.UUID, phrase: str, field: str) -> None:
    """The rules for a phrase being chosen (create, change), before it is tried against the
    user's tags (a phrase attempt, 409 when another tag has it): hard to guess (422), and
    not the account password (422). That comparison answers whether a guess is the
    password, so it runs only after the phrase budgets' check (which counts it in the
    burst budget), and a match counts as a failed attempt."""
    settings = runtime_of(request).settings
    async with runtime_of(request).database.read_sessionmaker() as read_db:
        await service.check_new_phrase(
            settings, read_db, user_id=user_id, phrase=phrase, field=field
        )
        password_hash = await service.password_hash_of(read_db, user_id)
    await check_phrase_attempt(request, "phrase", user_id)
    if await service.check_password(settings, password_hash, phrase):
        await phrase_failed(request, user_id)
        raise service.login_password_refused(field)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SecretTagRead)
async def create_secret_tag(
    body: SecretTagCreate,
    request: Request,
    response: Response,
    claims: ReadOnlyPrincipal,
    db: DbSession,
) -> SecretTagRead:
    await _check_new_phrase(request, claims.user_id, body.phrase, "phrase")
    runtime = vault_runtime(request)
    try:
        opened, _ = await service.create_tag(
            db,
            runtime.derive,
            lookup_key=runtime.lookup_key,
            user_salt=runtime.user_salt(claims.user_id),
            user_id=claims.user_id,
            name=body.name,
            phrase=body.phrase,
            color=body.color,
        )
    except Conflict:
        # The phrase opens another tag: a right guess of it, counted like a wrong one.
        await phrase_failed(request, claims.user_id)
        raise
    response.headers["ETag"] = _etag(opened.tag.version)
    return _read(opened)


@router.get("", response_model=SecretTagList)
async def list_secret_tags(
    principal: CurrentPrincipal, vault: VaultAccess, db: DbSession
) -> SecretTagList:
    opened = await service.list_unlocked(db, user_id=principal.user_id, keys=vault)
    return SecretTagList(items=[_read(item) for item in opened])


@router.post("/unlock", response_model=UnlockResponse)
async def unlock_secret_tag(
    body: UnlockRequest, request: Request, claims: ReadOnlyPrincipal
) -> UnlockResponse:
    await check_phrase_attempt(request, "phrase", claims.user_id)
    runtime = vault_runtime(request)
    # Nothing is written: a read-only connection, so no write lock is held during the KDF.
    async with runtime_of(request).database.read_sessionmaker() as db:
        try:
            opened, data_key = await service.unlock(
                db,
                runtime.derive,
                lookup_key=runtime.lookup_key,
                user_salt=runtime.user_salt(claims.user_id),
                user_id=claims.user_id,
                phrase=body.phrase,
            )
        except service.WrongPhrase:
            await phrase_failed(request, claims.user_id)  # only failures spend the budget
            raise
    token, lifetime = await runtime.store.grant(
        user_id=claims.user_id,
        session_id=claims.session_id,
        tag_id=opened.tag.id,
        data_key=data_key,
        generation=crypto.phrase_generation(opened.tag.kdf_salt),
    )
    brief = SecretTagBrief(id=opened.tag.id, name=opened.name, color=opened.tag.color)
    return UnlockResponse(unlock_token=token, expires_in=lifetime, tags=[brief])


@router.post("/lock", status_code=status.HTTP_204_NO_CONTENT)
async def lock_secret_tags(request: Request, principal: CurrentPrincipal) -> None:
    """End the unlocks named in `X-Vibes-Unlock` (only this session's own)."""
    await vault_runtime(request).store.revoke(
        unlock_tokens(request), user_id=principal.user_id, session_id=principal.session_id
    )


@router.patch("/{tag_id}", response_model=SecretTagRead)
async def update_secret_tag(
    tag_id: uuid.UUID,
    body: SecretTagUpdate,
    response: Response,
    principal: CurrentPrincipal,
    vault: VaultAccess,
    db: DbSession,
    if_match: Annotated[str | None, Header()] = None,
) -> SecretTagRead:
    opened = await service.get_unlocked(db, user_id=principal.user_id, tag_id=tag_id, keys=vault)
    _check_if_match(if_match, opened.tag.version)
    changes = body.model_dump(exclude_unset=True)
    opened = await service.update_tag(
        db,
        opened,
        vault[tag_id],
        name=changes.get("name"),
        color=changes.get("color"),
        set_color="color" in changes,
    )
    response.headers["ETag"] = _etag(opened.tag.version)
    return _read(opened)


@router.post("/{tag_id}/phrase", status_code=status.HTTP_204_NO_CONTENT)
async def change_secret_phrase(
    tag_id: uuid.UUID,
    body: PhraseChange,
    request: Request,
    claims: ReadOnlyPrincipal,
    db: DbSession,
) -> None:
    """API.md: `{new_phrase}` with the tag unlocked; the old phrase is not asked again (the
    unlock token is the proof of it, bound to this session and a few minutes long). Every
    unlock made under the old phrase, this one included, ends: unlock with the new one."""
    vault = await resolve_vault_keys(request, claims)
    data_key = vault.get(tag_id)
    if data_key is None:
        raise NotFound()
    await _check_new_phrase(request, claims.user_id, body.new_phrase, "new_phrase")
    runtime = vault_runtime(request)
    await service.change_phrase(
        db,
        runtime.derive,
        lookup_key=runtime.lookup_key,
        user_salt=runtime.user_salt(claims.user_id),
        user_id=claims.user_id,
        tag_id=tag_id,
        data_key=data_key,
        new_phrase=body.new_phrase,
    )


@router.post("/forgotten", response_model=VaultIdentityList, responses=_PASSWORD_CHECK_ERRORS)
async def list_vaults_by_password(
    body: VaultListRequest, request: Request, claims: ReadOnlyPrincipal
) -> VaultIdentityList:
    """Every secret tag's id and creation date (never its name), for the account password:
    someone who forgot a phrase needs the id to destroy that vault (`DELETE
    /secret-tags/{id}`), and a locked tag's id is shown nowhere else. Checked and counted
    like the destroy route's password (the same budget)."""
    await check_phrase_attempt(request, "password", claims.user_id)
    async with runtime_of(request).database.read_sessionmaker() as read_db:
        password_hash = await service.password_hash_of(read_db, claims.user_id)
        if not await service.check_password(
            runtime_of(request).settings, password_hash, body.password
        ):
            raise Forbidden("The password is not correct.")
        tags = await service.list_identities(read_db, user_id=claims.user_id)
    return VaultIdentityList(
        items=[VaultIdentity(id=tag_id, created_at=created) for tag_id, created in tags]
    )


@router.delete(
    "/{tag_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_PASSWORD_CHECK_ERRORS
)
async def destroy_secret_tag(
    tag_id: uuid.UUID,
    body: DestroyRequest,
    request: Request,
    claims: ReadOnlyPrincipal,
    db: DbSession,
) -> None:
    """Works while locked (the phrase may be forgotten): the account password decides.

    The password is checked before the tag is looked up, so without it an id tells nothing.
    """
    await check_phrase_attempt(request, "password", claims.user_id)
    async with runtime_of(request).database.read_sessionmaker() as read_db:
        password_hash = await service.password_hash_of(read_db, claims.user_id)
    if not await service.check_password(runtime_of(request).settings, password_hash, body.password):
        raise Forbidden("The password is not correct.")
    await service.destroy_tag(db, user_id=claims.user_id, tag_id=tag_id)
