"""CSRF: a form sent without the session's token, or with another one, is refused and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.mail.models import Email
from familienkarte.settings import Settings
from tests.conftest import PASSWORD, csrf_from
from tests.helpers import bearer, sign_in_as, sign_out
from tests.integration.test_login import Factory, count, is_signed_in, sign_in, user_row
from tests.integration.test_ownership import ATTEMPTS, UNSAFE, Call, World, build_world, callers, dump
from tests.integration.test_route_matrix import SAMPLE_VALUES, Endpoint, endpoints

Client = TestClient[Litestar]
# A token of the right shape that belongs to no session.
FORGED = "A" * 43


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def assert_refused(response: Any) -> None:
    """Refused with the page's explanation (a sign-in form is shown again, with a fresh token)."""
    assert response.status_code == 403, response.text
    assert "This form has expired." in response.text


@pytest.mark.parametrize("token", [None, "", FORGED])
def test_sign_in_without_the_right_token_is_refused(
    client: Client, db: Factory, make_user: Any, token: str | None
) -> None:
    user = make_user(Role.ADMIN)
    client.get("/login")
    data = {"email": user.email, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    assert_refused(client.post("/login", data=data))
    assert not is_signed_in(client)
    assert user_row(db, user).last_login_at is None
    assert count(db, AuditEntry) == 0


def test_token_of_another_session_is_refused(client: Client, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    theirs = csrf_from(client.get("/login").text)
    client.cookies.clear()
    client.get("/login")
    assert_refused(client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": theirs}))
    assert not is_signed_in(client)


@pytest.mark.parametrize("token", [None, FORGED])
def test_sign_out_without_the_right_token_is_refused(client: Client, make_user: Any, token: str | None) -> None:
    user = make_user(Role.CASEWORKER)
    sign_in(client, user.email)
    data = {} if token is None else {"csrf_token": token}
    assert_refused(client.post("/logout", data=data))
    assert is_signed_in(client)


@pytest.mark.parametrize("token", [None, FORGED])
def test_creating_a_staff_account_without_the_right_token_is_refused(
    client: Client, db: Factory, make_user: Any, token: str | None
) -> None:
    admin = make_user(Role.ADMIN)
    sign_in(client, admin.email)
    client.get("/staff/users/new")
    users, audit = count(db, User), count(db, AuditEntry)
    data = {"email": "new.colleague@example.org", "display_name": "New Colleague", "role": "analyst"}
    if token is not None:
        data["csrf_token"] = token
    assert_refused(client.post("/staff/users/new", data=data))
    assert count(db, User) == users
    assert count(db, AuditEntry) == audit
    assert count(db, Email) == 0


@pytest.mark.parametrize("path", ["/login", "/logout", "/staff/users/new"])
def test_the_refusal_carries_the_code_csrf_failed(client: Client, db: Factory, make_user: Any, path: str) -> None:
    admin = make_user(Role.ADMIN)
    sign_in(client, admin.email)
    users = count(db, User)
    data = {"email": "x@example.org", "password": PASSWORD, "display_name": "X", "role": "analyst"}
    response = client.post(path, data={**data, "csrf_token": FORGED}, headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert is_signed_in(client)
    assert count(db, User) == users


def test_the_error_page_names_the_code(client: Client, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    sign_in(client, user.email)
    response = client.post("/logout", data={"csrf_token": FORGED})
    assert_refused(response)
    assert "<code>csrf_failed</code>" in response.text


# --- every state-changing route, read from the app -------------------------------------------------------------

# Partner API keys are exempt by design. CSRF works because a browser attaches the session cookie to a request
# another site makes it send; it never attaches an ``Authorization: Bearer`` header by itself, and a page of
# another site cannot set that header on a cross-site request without the CORS consent this app never gives.
# A request carrying a key is judged by the key alone (its cookies are ignored), so the exemption cannot lend a
# session's rights to a request without the token.


def _caller(endpoint: Endpoint, world: World) -> User | None:
    """Someone the route lets in (A's people, or staff), or None for a public route."""
    for _name, caller in callers(endpoint, world):
        if isinstance(caller, User):
            return caller
        if caller is None:
            return None
    return world.staff[Role.ADMIN.value]


def _call(endpoint: Endpoint, world: World) -> Call:
    """A's own ids where the ownership table knows the route (a request that works with the token), else
    sample values for the path and a plausible body."""
    builds = ATTEMPTS.get((endpoint.method, endpoint.path_format))
    if builds:
        return builds[0](world.a, world.a)
    path = _sample_path(endpoint)
    if endpoint.path_format.startswith("/api/"):
        return Call(path, json={})
    return Call(path, form={"email": "x@example.org", "password": PASSWORD, "name": "X", "reason": "X"})


def _sample_path(endpoint: Endpoint) -> dict[str, str]:
    params = endpoint.route.path_parameters
    definitions = params.values() if isinstance(params, dict) else params
    return {p.name: SAMPLE_VALUES[p.type]() for p in definitions}


def _send(client: Client, endpoint: Endpoint, caller: User | None, call: Call, token: str | None) -> Any:
    sign_out(client)
    if caller is not None:
        sign_in_as(client, caller)
    else:
        client.get("/login")  # an anonymous visitor with a session of their own
    headers = {"Accept-Language": "en"}
    form = dict(call.form) if call.form is not None else None
    if token is not None:
        if call.json is not None and form is None:
            headers["X-CSRF-Token"] = token
        else:
            form = {**(form or {}), "csrf_token": token}
    url = endpoint.path_format.format(**{k: str(v) for k, v in call.path.items()})
    return client.request(
        endpoint.method, url, params=call.query, json=call.json, data=form, headers=headers, follow_redirects=False
    )


def test_every_state_changing_route_refuses_a_request_without_the_token(
    client: Client, app: Litestar, db: Factory, settings: Settings, make_user: Any
) -> None:
    world = build_world(client, db, settings, make_user)
    unsafe = [e for e in endpoints(app) if e.method in UNSAFE]
    assert len(unsafe) > 60
    failures: list[str] = []
    for endpoint in unsafe:
        caller = _caller(endpoint, world)
        call = _call(endpoint, world)
        for token in (None, FORGED):
            before = dump(db)
            response = _send(client, endpoint, caller, call, token)
            refused = response.status_code == 403 and (
                "csrf_failed" in response.text or "This form has expired." in response.text
            )
            if not refused:
                failures.append(f"{endpoint} with token {token!r}: {response.status_code} {response.text[:150]}")
            after = dump(db)
            changed = [t for t in before if before[t] != after[t]]
            if changed:
                failures.append(f"{endpoint} with token {token!r}: changed {changed}")
    print(f"\ncsrf: {len(unsafe)} state-changing routes")
    assert failures == [], "\n".join(failures)


def test_an_api_key_needs_no_token_and_a_bogus_key_lends_no_session(
    client: Client, db: Factory, settings: Settings, make_user: Any
) -> None:
    world = build_world(client, db, settings, make_user)
    body = {"card_number": world.a.till.number, "location_id": str(world.a.location_id)}
    sign_out(client)
    assert client.post("/api/v1/verifications", json=body, headers=bearer(world.a.till.token)).status_code == 200
    # A signed-in cashier's cookie together with a made-up key: the key alone is judged, and it is no key.
    sign_in_as(client, world.a.till.cashier)
    response = client.post("/api/v1/verifications", json=body, headers=bearer("fk_000000000000_forged"))
    assert response.status_code == 401
