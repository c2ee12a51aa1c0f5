"""Role guards. Routers and controllers declare ``opt={"roles": ...}``; one guard enforces it.

The route matrix test reads the same ``roles`` option from every route, so a new route cannot skip the check
without the test noticing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role
from familienkarte.errors import NotAuthenticated, PermissionDenied

PUBLIC = "public"


def roles_opt(*roles: Role | Iterable[Role], api_key: bool = False) -> dict[str, Any]:
    """The opt for a layer that only these roles may use; ``api_key`` lets partner API keys in as well."""
    flat: set[str] = set()
    for role in roles:
        if isinstance(role, Role):
            flat.add(role.value)
        else:
            flat.update(r.value for r in role)
    return {"roles": frozenset(flat), "api_key": api_key}


PUBLIC_OPT: dict[str, Any] = {"roles": PUBLIC}
STAFF_OPT = roles_opt(STAFF_ROLES)
PARTNER_OPT = roles_opt(PARTNER_ROLES)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


async def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    # Asynchronous, though it awaits nothing: Litestar runs a synchronous guard in a worker thread.
    allowed = handler.opt.get("roles")
    if allowed == PUBLIC:
        return
    if allowed is None and connection.scope.get("method") == "OPTIONS":
        # Litestar's automatic OPTIONS answer only lists the allowed methods; it reveals and changes nothing.
        return
    if allowed is None:
        # A route must say who may use it: fail closed.
        raise PermissionDenied()
    principal = principal_of(connection)
    if principal is None:
        raise NotAuthenticated()
    if principal.is_api_key and not handler.opt.get("api_key", False):
        raise PermissionDenied()
    if principal.role.value not in allowed:
        raise PermissionDenied()
