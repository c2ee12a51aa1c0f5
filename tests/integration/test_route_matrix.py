"""Every route of the app against every role: who is let in, who is refused, and how.

The routes are read from the app itself, so a route added later is checked without touching this file. A route
must declare ``roles`` in its opt (``roles_opt(...)`` or ``PUBLIC_OPT``). For each guarded route and each kind of
caller: a role that is not allowed gets 403; an anonymous caller is sent to the sign-in page (pages) or gets 401
(the API); an allowed role is let through (anything but 401, 403, a sign-in redirect or a server error, since the
filled-in ids are random and the bodies empty). A partner API key counts as a cashier and only where the route
admits API keys.
"""

from __future__ import annotations

import datetime as dt
import decimal
import pathlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from familienkarte.accounts import api_keys, identity
from familienkarte.accounts.guards import PUBLIC
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from tests.helpers import bearer, sign_in_as, sign_out

ANONYMOUS = "anonymous"
API_KEY = "api_key"
CALLERS = (ANONYMOUS, *(r.value for r in Role), API_KEY)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Paths answered as problem details (see web.problems.wants_json): no sign-in redirect there.
JSON_PREFIXES = ("/api/", "/health", "/schema", "/.well-known/")
# Routes this file is known to cover; if the walk over the app finds fewer, it is broken.
KNOWN = {
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/partners/{partner_id}/api-keys"),
    ("GET", "/partner"),
    ("POST", "/partner/keys/{key_id}/revoke"),
    ("GET", "/staff/partners"),
    ("GET", "/partner/benefits"),
    ("POST", "/partner/benefits/{benefit_id}/submit"),
    ("GET", "/card"),
    ("POST", "/staff/cards/{card_id}/status/{change_name}"),
    ("GET", "/staff/statistics"),
    ("GET", "/partner/statistics"),
}

SAMPLE_VALUES: dict[type, Callable[[], str]] = {
    uuid.UUID: lambda: str(uuid.uuid4()),
    str: lambda: "x",
    pathlib.Path: lambda: "x",
    int: lambda: "1",
    float: lambda: "1.5",
    decimal.Decimal: lambda: "1.5",
    dt.date: lambda: "2026-01-01",
    dt.datetime: lambda: "2026-01-01T12:00:00Z",
    dt.time: lambda: "12:00:00",
    dt.timedelta: lambda: "60",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path_format: str
    route: HTTPRoute
    handler: HTTPRouteHandler

    @property
    def roles(self) -> Any:
        return self.handler.opt.get("roles")

    def url(self) -> str:
        params = self.route.path_parameters
        definitions = params.values() if isinstance(params, dict) else params
        values = {p.name: SAMPLE_VALUES[p.type]() for p in definitions}
        return self.path_format.format(**values)

    def __str__(self) -> str:
        return f"{self.method} {self.path_format} ({self.handler.handler_name})"


def _from_litestar(handler: Any) -> bool:
    """Handlers the framework makes: static files, the OpenAPI documents, automatic OPTIONS answers."""
    return str(getattr(handler.fn, "__module__", "")).startswith("litestar.")


def endpoints(app: Litestar) -> Iterator[Endpoint]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if _from_litestar(handler):
                continue
            for method in sorted(handler.http_methods):
                yield Endpoint(method, route.path_format, route, handler)


def _handlers(route: Any) -> list[Any]:
    handlers = getattr(route, "route_handlers", None)
    return list(handlers) if handlers is not None else [route.route_handler]


def test_every_route_declares_who_may_use_it(app: Litestar) -> None:
    known_roles = {r.value for r in Role}
    missing = [
        f"{route.path} ({handler.handler_name})"
        for route in app.routes
        for handler in _handlers(route)
        if not _from_litestar(handler) and handler.opt.get("roles") is None
    ]
    assert missing == [], f"routes without roles in opt: {missing}"
    # The matrix below calls HTTP routes; a websocket or mounted app of ours would need a way to be called.
    uncalled = [
        route.path
        for route in app.routes
        if not isinstance(route, HTTPRoute) and not all(_from_litestar(h) for h in _handlers(route))
    ]
    assert uncalled == [], f"routes the matrix cannot call yet: {uncalled}"
    unknown = [(str(e), sorted(set(e.roles) - known_roles)) for e in endpoints(app) if e.roles != PUBLIC and e.roles]
    assert [u for u in unknown if u[1]] == [], "routes naming roles that do not exist"
    empty = [str(e) for e in endpoints(app) if e.roles != PUBLIC and not e.roles]
    assert empty == [], f"routes no one may use: {empty}"


def test_every_route_checks_roles_before_its_handler(app: Litestar) -> None:
    """The roles are checked by the app's one ``before_request`` hook; a layer declaring its own would replace it
    and let everyone in."""
    from familienkarte.app import admit

    replaced = [
        f"{route.path} ({handler.handler_name})"
        for route in app.routes
        for handler in _handlers(route)
        if isinstance(route, HTTPRoute) and handler.resolve_before_request() is not admit
    ]
    assert replaced == [], f"routes whose before_request is not the app's: {replaced}"


def test_the_framework_routes_are_public(app: Litestar) -> None:
    """The static files and the API documentation are the only routes the matrix skips; they are public."""
    skipped = [
        (route.path, handler.opt.get("roles"))
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if _from_litestar(handler) and handler.http_methods != {"OPTIONS"}
    ]
    assert skipped
    assert all(path.startswith(("/static", "/schema")) for path, _roles in skipped), skipped
    assert all(roles == PUBLIC for _path, roles in skipped), skipped


@pytest.fixture
def callers(db: Callable[[], Session], make_user: Any, make_partner: Any) -> dict[str, Any]:
    """One signed-in user per role (partner roles of one partner) and one API key of that partner."""
    partner = make_partner("Matrix Partner")
    users: dict[str, Any] = {}
    for role in Role:
        users[role.value] = make_user(role, partner=partner if role in (Role.PARTNER_OWNER, Role.CASHIER) else None)
    owner = identity.principal_for_user(users[Role.PARTNER_OWNER.value])
    with db() as s, s.begin():
        users[API_KEY] = api_keys.create_key(s, owner, partner.id, "Matrix till").token
    return users


def _call(
    client: TestClient[Litestar], db: Callable[[], Session], endpoint: Endpoint, caller: str, users: dict[str, Any]
) -> Any:
    sign_out(client)
    headers: dict[str, str] = {}
    if caller == API_KEY:
        headers.update(bearer(users[API_KEY]))
    elif caller != ANONYMOUS:
        # A fresh session each time: a route may have ended the previous one (sign out everywhere).
        with db() as s:
            user = s.get(User, users[caller].id)
        assert user is not None
        csrf = sign_in_as(client, user)
        if endpoint.method in UNSAFE:
            headers["X-CSRF-Token"] = csrf
    return client.request(endpoint.method, endpoint.url(), headers=headers, follow_redirects=False)


def _allowed(endpoint: Endpoint, caller: str) -> bool:
    if caller == ANONYMOUS:
        return False
    if caller == API_KEY:
        return bool(endpoint.handler.opt.get("api_key")) and Role.CASHIER.value in endpoint.roles
    return caller in endpoint.roles


def _problem(endpoint: Endpoint, caller: str, response: Any) -> str | None:
    """What is wrong with this answer, or None."""
    status = response.status_code
    location = response.headers.get("location", "")
    login = endpoint.handler.opt.get("login_path", "/login")
    # The guard's redirect names the page to come back to; a route's own redirect to the sign-in page after
    # success (signing out everywhere) does not.
    to_login = status in (302, 303, 307) and location.startswith(f"{login}?next=")
    if _allowed(endpoint, caller):
        if status in (401, 403) or to_login or status >= 500:
            return f"allowed but got {status} {location}".strip()
        return None
    if caller == ANONYMOUS:
        if endpoint.path_format.startswith(JSON_PREFIXES):
            return None if status == 401 else f"anonymous should get 401, got {status}"
        return None if status == 303 and to_login else f"anonymous should be sent to {login}, got {status} {location}"
    return None if status == 403 else f"should be refused with 403, got {status} {location}".strip()


def test_role_matrix(
    client: TestClient[Litestar], app: Litestar, db: Callable[[], Session], callers: dict[str, Any]
) -> None:
    guarded = [e for e in endpoints(app) if e.roles not in (PUBLIC, None)]
    assert {(e.method, e.path_format) for e in guarded} >= KNOWN
    failures: list[str] = []
    checked = 0
    for endpoint in guarded:
        for caller in CALLERS:
            response = _call(client, db, endpoint, caller, callers)
            checked += 1
            wrong = _problem(endpoint, caller, response)
            if wrong:
                failures.append(f"{endpoint} as {caller}: {wrong}")
    print(f"\nroute matrix: {checked} (route, caller) pairs over {len(guarded)} guarded routes")
    assert checked == len(guarded) * len(CALLERS)
    assert failures == [], "\n".join(failures)
