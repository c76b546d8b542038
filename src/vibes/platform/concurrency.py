"""ETags from `version`, and the conditional requests built on them.

Every mutable row carries `version` (see `vibes.db.VersionMixin`); its strong ETag is
`"<version>"`. The rules, for every resource:

- `GET` with `If-None-Match` naming the current ETag (or `*`) → `304 Not Modified`, with
  the ETag and no body (`not_modified`).
- `PATCH`/`DELETE` with `If-Match` not naming the current ETag → `412` (`check_if_match`).
  A missing `If-Match` means "unconditional".
- Two writers that both pass `If-Match` with the same version cannot both win: the
  UPDATE/DELETE itself carries `WHERE version = <loaded>` (SQLAlchemy's version_id_col),
  so the second one updates no row, `StaleDataError` is raised and rendered as 412.
  On PostgreSQL the second UPDATE waits for the first's row lock, then re-checks the
  version; on SQLite writers are serialised (BEGIN IMMEDIATE), so the second reads the
  new version and fails the `If-Match` check.

Weak validators (`W/"3"`) compare equal for `If-None-Match` (RFC 9110 weak comparison) and
never match for `If-Match` (strong comparison).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from vibes.errors import PreconditionFailed

# Longest If-Match / If-None-Match value read (a list of ETags).
MAX_ETAG_HEADER = 1024
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=MAX_ETAG_HEADER,
        description='Only act when the resource\'s current ETag is one of these (e.g. `"3"`).',
    ),
]
IfNoneMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=MAX_ETAG_HEADER,
        description="Answer 304 when the resource's current ETag is one of these.",
    ),
]


def etag_for(version: int) -> str:
    """The strong ETag of a version: `"3"`."""
    return f'"{version}"'


def _parse_tags(header: str) -> list[tuple[bool, str]] | None:
    """`[(weak, opaque_tag)]`, or None for `*`. Malformed members are ignored."""
    value = header.strip()
    if value == "*":
        return None
    tags: list[tuple[bool, str]] = []
    for raw in value.split(","):
        member = raw.strip()
        weak = member.startswith("W/")
        if weak:
            member = member[2:]
        if len(member) >= 2 and member[0] == member[-1] == '"':
            tags.append((weak, member[1:-1]))
        elif member:
            # Tolerate clients that send the bare version (3) instead of "3".
            tags.append((weak, member))
    return tags


def if_none_match_hits(if_none_match: str | None, version: int) -> bool:
    """True when `If-None-Match` names `version` (weak comparison): answer 304."""
    if not if_none_match:
        return False
    tags = _parse_tags(if_none_match)
    if tags is None:
        return True
    current = str(version)
    return any(tag == current for _, tag in tags)


def if_match_holds(if_match: str | None, version: int) -> bool:
    """True when there is no `If-Match`, or it names `version` (strong comparison)."""
    if if_match is None:
        return True
    tags = _parse_tags(if_match)
    if tags is None:
        return True
    current = str(version)
    return any(not weak and tag == current for weak, tag in tags)


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise 412 when `If-Match` is given and does not name the current version."""
    if not if_match_holds(if_match, version):
        raise PreconditionFailed(
            "The resource has changed since you read it (ETag mismatch); reload and retry.",
            headers={"ETag": etag_for(version)},
        )


def not_modified(version: int) -> Response:
    """The 304 answer: no body, the current ETag."""
    return Response(status_code=304, headers={"ETag": etag_for(version)})
