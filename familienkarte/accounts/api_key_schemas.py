"""API schemas for partner API keys and for "who am I"."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from familienkarte.accounts.api_keys import NAME_MAX_LENGTH, ApiKeyView, CreatedApiKey
from familienkarte.accounts.principal import Principal


class MeRead(msgspec.Struct, kw_only=True):
    """Who is making the request."""

    auth: Annotated[
        Literal["session", "api_key"],
        msgspec.Meta(description="`api_key` for a partner API key, `session` for a signed-in person."),
    ]
    role: Annotated[str, msgspec.Meta(description="The role: an API key always acts as a `cashier`.")]
    display_name: str
    user_id: uuid.UUID | None = None
    email: str | None = None
    partner_id: Annotated[uuid.UUID | None, msgspec.Meta(description="The partner organisation, if any.")] = None
    location_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="The one location an API key is bound to, if any.")
    ] = None
    api_key_id: uuid.UUID | None = None

    @classmethod
    def from_principal(cls, principal: Principal) -> MeRead:
        return cls(
            auth="api_key" if principal.is_api_key else "session",
            role=principal.role.value,
            display_name=principal.display_name,
            user_id=principal.user_id,
            email=principal.email,
            partner_id=principal.partner_id,
            location_id=principal.location_id,
            api_key_id=principal.api_key_id,
        )


class ApiKeyCreate(msgspec.Struct, kw_only=True):
    """A new API key for a partner's till or point-of-sale system."""

    name: Annotated[
        str,
        msgspec.Meta(
            description=f"Required: what the key is for, e.g. the till; 1 to {NAME_MAX_LENGTH} characters.",
            examples=["Till 1, main entrance"],
        ),
    ] = ""  # checked by the service, so that a missing name is reported at the field like any other
    location_id: Annotated[
        uuid.UUID | None,
        msgspec.Meta(description="Bind the key to one of the partner's locations; without it, it serves all."),
    ] = None


class ApiKeyRead(msgspec.Struct, kw_only=True):
    """An API key as listed: never its secret."""

    id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    prefix: Annotated[str, msgspec.Meta(description="The public part of the token (`fk_<prefix>_...`).")]
    location_id: uuid.UUID | None
    location_name: str | None
    created_at: dt.datetime
    last_used_at: Annotated[dt.datetime | None, msgspec.Meta(description="Last successful use, to the minute.")]
    revoked_at: dt.datetime | None
    active: bool

    @classmethod
    def from_view(cls, view: ApiKeyView) -> ApiKeyRead:
        return cls(
            id=view.id,
            partner_id=view.partner_id,
            name=view.name,
            prefix=view.prefix,
            location_id=view.location_id,
            location_name=view.location_name,
            created_at=view.created_at,
            last_used_at=view.last_used_at,
            revoked_at=view.revoked_at,
            active=view.active,
        )


class ApiKeyCreated(msgspec.Struct, kw_only=True):
    """A new key with its token. The token is shown only in this response: store it now."""

    key: ApiKeyRead
    token: Annotated[
        str,
        msgspec.Meta(
            description="Send as `Authorization: Bearer <token>`. It is not stored and cannot be shown again."
        ),
    ]

    @classmethod
    def from_created(cls, created: CreatedApiKey) -> ApiKeyCreated:
        return cls(key=ApiKeyRead.from_view(created.key), token=created.token)


@dataclass
class ApiKeyForm:
    """The key form on the partner portal and staff pages; the service checks the values."""

    name: str = ""
    location_id: str = ""


class ProblemFieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """An error as problem details (RFC 9457), as written by ``web.problems``."""

    type: str
    title: str
    status: int
    code: Annotated[str, msgspec.Meta(description="Stable and machine-readable, e.g. `not_found`.")]
    detail: str
    instance: str
    request_id: str | None = None
    errors: Annotated[
        list[ProblemFieldError] | None, msgspec.Meta(description="Per field, when the input was refused.")
    ] = None
