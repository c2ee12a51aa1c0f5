"""Who is making a request: a signed-in user or a partner API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from familienkarte.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role


@dataclass(frozen=True)
class Principal:
    role: Role
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    email: str | None = None
    display_name: str = ""
    totp_enabled: bool = False

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_partner(self) -> bool:
        return self.role in PARTNER_ROLES

    @property
    def is_api_key(self) -> bool:
        return self.api_key_id is not None


@dataclass(frozen=True)
class RequestMeta:
    """Where an action came from, for the audit log."""

    request_id: str | None = None
    ip: str | None = None
