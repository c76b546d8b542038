"""THE rule for which entries a request may see: the vault's visibility rule.

Every query over entries — get, list, search, tag counts, reminders' links, and later
sync, export and analytics — takes its condition from `visible_journals`. Extending
visibility means changing only this module (and how `Viewer` is built from a request,
`journals.dependencies.get_viewer`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Uuid, bindparam

from vibes.db import Bound
from vibes.errors import Unprocessable
from vibes.journals.models import Journal
from vibes.vault.entries import UnlockedTag

_USER_ID = "viewer_user_id"
_UNLOCKED_IDS = "viewer_unlocked_ids"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: the user, and the secret tags their request has unlocked.

    `secret_tags` holds each unlocked tag's data key and name, which is all it takes to
    read and write that tag's entries (in memory only).
    """

    user_id: uuid.UUID
    unlocked_secret_tag_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    secret_tags: Mapping[uuid.UUID, UnlockedTag] = field(
        default_factory=dict, compare=False, hash=False
    )

    @classmethod
    def unlocking(cls, user_id: uuid.UUID, unlocked: Mapping[uuid.UUID, UnlockedTag]) -> Viewer:
        return cls(
            user_id=user_id, unlocked_secret_tag_ids=frozenset(unlocked), secret_tags=unlocked
        )

    def sees(self, secret_tag_id: uuid.UUID | None) -> bool:
        """The rule of `visible_journals` for one of this user's entries, in memory: public
        (None), or in a secret tag the request has unlocked."""
        return secret_tag_id is None or secret_tag_id in self.unlocked_secret_tag_ids


@functools.cache
def _visible_clause(unlocked: bool) -> ColumnElement[bool]:
    owned = Journal.user_id == bindparam(_USER_ID, type_=Uuid())
    if unlocked:
        ids = bindparam(_UNLOCKED_IDS, type_=Uuid(), expanding=True)
        return owned & (Journal.secret_tag_id.is_(None) | Journal.secret_tag_id.in_(ids))
    return owned & Journal.secret_tag_id.is_(None)


def visible_journals(viewer: Viewer) -> Bound:
    """The condition on `Journal` and its parameters.

    An entry is visible when it belongs to the viewer's user and is either public
    (`secret_tag_id IS NULL`) or in one of the secret tags the request has unlocked.
    Locked secret entries are therefore absent from every answer and a GET of one is a
    404, exactly like a missing entry.
    """
    params: dict[str, Any] = {_USER_ID: viewer.user_id}
    if viewer.unlocked_secret_tag_ids:
        params[_UNLOCKED_IDS] = sorted(viewer.unlocked_secret_tag_ids)
    return Bound(_visible_clause(bool(viewer.unlocked_secret_tag_ids)), params)


def visibility_template(*, unlocked: bool) -> ColumnElement[bool]:
    """The clause alone, for statements built once per shape and cached (their
    parameters come from `visible_journals(viewer).params` at each execution)."""
    return _visible_clause(unlocked)


def check_secret_tag(
    viewer: Viewer, secret_tag_id: uuid.UUID | None, loc: Sequence[str | int]
) -> UnlockedTag | None:
    """The unlocked tag to write into (None for a public entry); 422 for a `secret_tag_id`
    the request has not unlocked, the same answer for a locked, unknown or foreign one.
    Storing an entry in a secret tag needs its data key, which only an unlock gives."""
    if secret_tag_id is None:
        return None
    unlocked = viewer.secret_tags.get(secret_tag_id)
    if unlocked is not None:
        return unlocked
    raise Unprocessable(
        "Unknown or locked secret tag.",
        errors=[
            {
                "loc": ["body", *loc, "secret_tag_id"],
                "msg": "unknown or locked secret tag",
                "type": "value_error",
            }
        ],
    )
