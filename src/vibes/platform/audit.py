"""The audit log: who did what security-relevant thing, when, from where.

Rows join the caller's transaction. `details` holds only small, non-secret facts (a
reason, a count, a session id); keys that name a secret are refused outright so a slip in
a caller fails in tests instead of writing a password or token to disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from vibes.platform.models import AuditLog

DetailValue = str | int | bool | None

_FORBIDDEN_WORDS = ("password", "token", "hash", "secret", "phrase", "key")


def record_audit(
    session: AsyncSession,
    *,
    action: str,
    user_id: uuid.UUID | None,
    ip_address: str | None,
    user_agent: str | None,
    details: Mapping[str, DetailValue] | None = None,
) -> AuditLog:
    details = dict(details or {})
    for name in details:
        if any(word in name.lower() for word in _FORBIDDEN_WORDS):
            raise ValueError(f"audit details must not carry secrets ({name!r})")
    row = AuditLog(
        user_id=user_id,
        action=action,
        ip_address=ip_address[:64] if ip_address else None,
        user_agent=user_agent[:512] if user_agent else None,
        details=details,
    )
    session.add(row)
    return row
