"""Request and response bodies of the secret-tag routes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from vibes.platform.fields import SPACE_CHARS, Color, Documented, Unicode, check_line, line_pattern

# A phrase guards data even against someone holding the password: long enough to resist
# guessing at the unlock rate limit, short enough to keep Argon2id input sane.
PHRASE_MIN = 8
PHRASE_MAX = 1024
# A single line with something other than spaces in it.
SECRET_TAG_NAME_PATTERN = line_pattern(needs_one_not=SPACE_CHARS)
SecretTagName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"\S"),
    AfterValidator(check_line),
    Documented.of(pattern=SECRET_TAG_NAME_PATTERN),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretTagCreate(_Input):
    name: SecretTagName
    phrase: Unicode = Field(min_length=PHRASE_MIN, max_length=PHRASE_MAX)
    color: Color | None = None


class SecretTagUpdate(_Input):
    """`name` null leaves it unchanged; `color` null clears it."""

    name: SecretTagName | None = None
    color: Color | None = None


class UnlockRequest(_Input):
    phrase: Unicode = Field(min_length=1, max_length=PHRASE_MAX)


class PhraseChange(_Input):
    new_phrase: Unicode = Field(min_length=PHRASE_MIN, max_length=PHRASE_MAX)


class DestroyRequest(_Input):
    password: Unicode = Field(min_length=1, max_length=1024)


class SecretTagRead(BaseModel):
    id: uuid.UUID
    name: str
    color: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class SecretTagBrief(BaseModel):
    id: uuid.UUID
    name: str
    color: str | None


class UnlockResponse(BaseModel):
    unlock_token: str
    expires_in: int
    tags: list[SecretTagBrief]


class SecretTagList(BaseModel):
    items: list[SecretTagRead]
    next_cursor: str | None = None


class VaultListRequest(_Input):
    password: Unicode = Field(min_length=1, max_length=1024)


class VaultIdentity(BaseModel):
    """A secret tag as it may be shown while locked: never its name."""

    id: uuid.UUID
    created_at: dt.datetime


class VaultIdentityList(BaseModel):
    items: list[VaultIdentity]
