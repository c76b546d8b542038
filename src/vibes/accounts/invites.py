"""Who may register (VIBES_REGISTRATION) and the single-use invite codes of `invite` mode.

`open` lets anyone register, and so anyone can learn whether an address has an account
(the 409). `invite` and `closed` check the right to register before anything about the
address is looked at, so without an invite nobody learns that.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from vibes.accounts.common import digest
from vibes.accounts.models import Invite
from vibes.config import Settings
from vibes.db import utcnow
from vibes.errors import Forbidden

CODE_PREFIX = "vibes_inv_"
MAX_CODE_LENGTH = 100
INVITE_NEEDED = "Registration needs a valid invite code; ask this server's operator for one."
REGISTRATION_CLOSED = "Registration is closed on this server; ask its operator for an account."


class RegistrationRefused(Forbidden):
    type_suffix = "registration-refused"


def new_code() -> str:
    return CODE_PREFIX + secrets.token_urlsafe(24)


async def create_invites(
    session: AsyncSession, *, count: int, valid_for: dt.timedelta, note: str | None = None
) -> list[str]:
    """`count` new codes, shown once: only their hashes are stored."""
    codes = [new_code() for _ in range(count)]
    expires_at = utcnow() + valid_for
    for code in codes:
        session.add(Invite(token_hash=digest(code), expires_at=expires_at, note=note))
    await session.flush()
    return codes


async def check_may_register(
    session: AsyncSession, settings: Settings, invite_code: str | None
) -> None:
    """Refuse a registration the mode does not allow (403), before the address is read."""
    if settings.registration == "open":
        return
    if settings.registration == "closed":
        raise RegistrationRefused(REGISTRATION_CLOSED)
    if not invite_code:
        raise RegistrationRefused(INVITE_NEEDED)
    found = await session.scalar(
        select(Invite.id).where(
            Invite.token_hash == digest(invite_code),
            Invite.used_at.is_(None),
            Invite.expires_at > utcnow(),
        )
    )
    if found is None:
        raise RegistrationRefused(INVITE_NEEDED)


async def spend_invite(
    session: AsyncSession, settings: Settings, invite_code: str | None, user_id: uuid.UUID
) -> None:
    """Mark the invite used by `user_id`, in the registration's transaction. One
    conditional UPDATE: of two registrations racing on one code exactly one wins."""
    if settings.registration != "invite" or not invite_code:
        return
    now = utcnow()
    result = await session.execute(
        update(Invite)
        .where(
            Invite.token_hash == digest(invite_code),
            Invite.used_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now, user_id=user_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        raise RegistrationRefused(INVITE_NEEDED)
