"""Request and response bodies of the accounts domain."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from vibes.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from vibes.platform.fields import RequiredLine, Unicode, not_nullable
from vibes.platform.textsearch import ISO_639_1, is_language

# A new password: the length rule is checked here (422 before anything runs), strength in
# the service. Any Unicode; surrounding spaces are part of the password.
NewPassword = Annotated[Unicode, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
# A password being checked: any length up to a cap, so nobody makes us hash megabytes.
GivenPassword = Annotated[Unicode, Field(min_length=1, max_length=1024)]
# Trimmed; blank is a 422 (null, where allowed, is how a value is left out or cleared).
DisplayName = Annotated[RequiredLine, Field(max_length=100)]
DeviceName = Annotated[RequiredLine, Field(max_length=100)]
OpaqueToken = Annotated[Unicode, Field(min_length=1, max_length=512)]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _valid_zone(value: str | None) -> str | None:
    if value is not None and value not in _zones():
        raise ValueError("unknown time zone; use an IANA name such as Europe/Paris")
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(_Input):
    email: EmailStr = Field(max_length=320)
    password: NewPassword
    display_name: DisplayName | None = None
    timezone: Unicode | None = Field(default=None, max_length=64)
    # Needed when the server's VIBES_REGISTRATION is `invite`; ignored otherwise.
    invite_code: str | None = Field(default=None, max_length=100)

    _zone = field_validator("timezone")(_valid_zone)


class LoginIn(_Input):
    # Not EmailStr: a malformed address simply matches no account (401, like any other).
    email: Unicode = Field(min_length=1, max_length=320)
    password: GivenPassword
    device_name: DeviceName | None = None


class TokenForm(BaseModel):
    """The OAuth2 password form of `POST /auth/token` (the docs' Authorize button), with
    the limits of `LoginIn`: NUL or an empty field is a 422 before any query runs."""

    username: Unicode = Field(min_length=1, max_length=320)
    password: GivenPassword
    # A form has no null: left out is the only "none".
    grant_type: Annotated[str, StringConstraints(pattern="^password$")] | None = Field(
        default=None, json_schema_extra=not_nullable
    )
    scope: str = ""
    client_id: str | None = Field(default=None, json_schema_extra=not_nullable)
    client_secret: str | None = Field(default=None, json_schema_extra=not_nullable)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class RefreshIn(_Input):
    refresh_token: OpaqueToken


class LogoutIn(_Input):
    refresh_token: OpaqueToken


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    device_name: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    current: bool


class PasswordChangeIn(_Input):
    current_password: GivenPassword
    new_password: NewPassword


class PasswordResetIn(_Input):
    email: Unicode = Field(min_length=1, max_length=320)


class PasswordResetConfirmIn(_Input):
    token: OpaqueToken
    new_password: NewPassword


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str | None
    timezone: str
    language: str = Field(description="ISO 639-1 code: search stems words in this language.")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


def _language_schema(schema: dict[str, Any]) -> None:
    # The schema lists the codes the validator takes, so a client (or a fuzzer) can tell.
    not_nullable(schema)
    schema["enum"] = sorted(ISO_639_1)


class UserUpdate(_Input):
    display_name: DisplayName | None = None
    # Optional but not nullable: null is refused (below), so the schema does not offer it.
    timezone: Unicode | None = Field(
        default=None, min_length=1, max_length=64, json_schema_extra=not_nullable
    )

    @field_validator("timezone")
    @classmethod
    def _zone_required(cls, value: str | None) -> str | None:
        # Left out means "unchanged"; an explicit null has no meaning for a time zone.
        if value is None:
            raise ValueError("timezone cannot be null")
        return _valid_zone(value)

    language: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="ISO 639-1 code (`en`, `de`, `fr`…): search stems words in it.",
        json_schema_extra=_language_schema,
    )

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("language cannot be null")
        if not is_language(value):
            raise ValueError("unknown language; use an ISO 639-1 code such as en, de or fr")
        return value


class AccountDeleteIn(_Input):
    password: GivenPassword


# --- personal access tokens and two-factor sign-in ----------------------------------------

TokenName = Annotated[RequiredLine, Field(max_length=100)]
Scope = Literal["read", "write"]


def _all_scopes() -> list[Scope]:
    return ["read", "write"]


# Six digits from an authenticator app (spaces around are forgiven).
TotpCode = Annotated[Unicode, Field(min_length=1, max_length=16)]


class AccessTokenCreate(_Input):
    name: TokenName
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Left out or null: the token never expires."
    )
    scopes: list[Scope] = Field(
        default_factory=_all_scopes,
        min_length=1,
        max_length=2,
        description="`read` alone: every write answers 403. `write` implies `read`.",
    )


class AccessTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None = Field(
        description="Updated at most every few minutes (VIBES_PAT_LAST_USED_MINUTES)."
    )


class AccessTokenCreated(AccessTokenRead):
    token: str = Field(description="The token, shown this once: only its hash is kept.")


class TotpSetupRead(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code (an SVG document).")


class TotpCodeIn(_Input):
    code: TotpCode


class RecoveryCodesRead(BaseModel):
    recovery_codes: list[str] = Field(description="Ten single-use codes, shown this once.")


class TotpDisableIn(_Input):
    password: GivenPassword
    code: TotpCode = Field(description="A code from the app, or a recovery code.")


class MfaVerifyIn(_Input):
    # Exactly one factor, said in the schema too (a client or fuzzer built from it knows).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["code"]}, {"required": ["recovery_code"]}]},
    )

    mfa_token: OpaqueToken
    code: TotpCode | None = Field(default=None, json_schema_extra=not_nullable)
    recovery_code: TotpCode | None = Field(default=None, json_schema_extra=not_nullable)

    @model_validator(mode="after")
    def _one_factor(self) -> MfaVerifyIn:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code and recovery_code")
        return self


class TwoFactorStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int
