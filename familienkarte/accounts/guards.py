"""Role checks. Routers and controllers declare ``opt={"roles": ...}``; one check enforces it (``check_roles``, the
app's ``before_request`` hook).

The route matrix test reads the same ``roles`` option from every route, so a new route cannot skip the check
without the test noticing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope

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


def check_roles(scope: Scope) -> None:
    """Refuse the request unless its principal may use the route it was routed to (``scope["route_handler"]``).

    Run first by the app's ``before_request`` hook (before the request's body is read) rather than as a Litestar
    guard, which copies the route handler for every request: a measurable part of a verification at the till."""
    handler: BaseRouteHandler = scope["route_handler"]
    allowed = handler.opt.get("roles")
    if allowed == PUBLIC:
        return
    if allowed is None and scope.get("method") == "OPTIONS":
        # Litestar's automatic OPTIONS answer only lists the allowed methods; it reveals and changes nothing.
        return
    if allowed is None:
        # A route must say who may use it: fail closed.
        raise PermissionDenied()
    user = scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthenticated()
    if user.is_api_key and not handler.opt.get("api_key", False):
        raise PermissionDenied()
    if user.role.value not in allowed:
        raise PermissionDenied()
