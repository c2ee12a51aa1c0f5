"""The roles of the one users model."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CASEWORKER = "caseworker"
    PARTNER_MANAGER = "partner_manager"
    ANALYST = "analyst"
    PARTNER_OWNER = "partner_owner"
    CASHIER = "cashier"
    FAMILY = "family"


STAFF_ROLES = frozenset({Role.ADMIN, Role.CASEWORKER, Role.PARTNER_MANAGER, Role.ANALYST})
PARTNER_ROLES = frozenset({Role.PARTNER_OWNER, Role.CASHIER})
PASSWORD_ROLES = STAFF_ROLES | PARTNER_ROLES
ALL_ROLES = frozenset(Role)
