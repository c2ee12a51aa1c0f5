"""Schemathesis over every operation of the OpenAPI schema, as every kind of caller.

The schema is read from the running app (``/schema/openapi.json``), so an operation added later is fuzzed without
touching this file. For each caller (anonymous, a family, a cashier with a session, a partner API key, a partner
owner and each staff role) Hypothesis generates requests for every operation, both ones that fit the schema and
ones that break it, and sends them through the app. Every response must be what the schema promises: no server
error, a documented status code, the documented content type, a body that fits the documented schema, and a
request that breaks the schema refused with a 4xx. Path ids are sometimes real ones (the caller's partner, key,
card credential, a published benefit), so the handlers behind the 404 are reached too.

Generation is deterministic (derandomized, no example database), so a CI run repeats exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import ApiKey
from familienkarte.accounts.roles import STAFF_ROLES, Role
from familienkarte.settings import Settings
from tests.conftest import BASE_URL
from tests.helpers import bearer, make_test_settings, sign_in_as
from tests.integration.test_card_credentials import SECRET, Phone, activate
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import Till, make_till

Case = schemathesis.Case[Any]

ANONYMOUS = "anonymous"
API_KEY = "api_key"
CALLERS = (
    ANONYMOUS,
    Role.FAMILY.value,
    Role.CASHIER.value,
    API_KEY,
    Role.PARTNER_OWNER.value,
    *sorted(r.value for r in STAFF_ROLES),
)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Examples per operation and generation mode; with both modes an operation gets up to twice as many requests.
MAX_EXAMPLES = 20
# The caller's own credentials go with every request; generated ones would only stand in for them.
CONFIG = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def settings(migrated_db: str, tmp_path: Path) -> Settings:
    # The deployment secret the card fixtures sign with, so the app can use the issuer key they made.
    return make_test_settings(tmp_path / "var", migrated_db, FK_BASE_URL=BASE_URL, FK_SECRET_KEY=SECRET)


@dataclass
class Tally:
    """Requests sent per caller, for the summary at the end of the module."""

    requests: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and counts.requests:
        per_caller = ", ".join(f"{caller} {n}" for caller, n in counts.requests.items())
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nschemathesis: {sum(counts.requests.values())} requests ({per_caller})")


def credentials_for(client: TestClient[Litestar], caller: str, till: Till, make_user: Any) -> dict[str, str]:
    """Sign the client in as ``caller``; the headers every request of that caller carries."""
    if caller == ANONYMOUS:
        return {}
    if caller == API_KEY:
        return bearer(till.token)
    user = {
        Role.FAMILY.value: till.family.users[0],
        Role.CASHIER.value: till.cashier,
        Role.PARTNER_OWNER.value: till.owner,
    }.get(caller) or make_user(Role(caller))
    return {"X-CSRF-Token": sign_in_as(client, user)}


def send(client: TestClient[Litestar], case: Case, headers: dict[str, str]) -> Any:
    """The case's request through the app's test client (the requests-style arguments, as httpx takes them)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    kwargs.pop("auth", None)
    data = kwargs.pop("data", None)
    if isinstance(data, str | bytes):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    cookies = kwargs.pop("cookies", None)
    if cookies:
        kwargs["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return client.request(**kwargs)


def strategy(operation: Any, mode: GenerationMode, ids: dict[str, str]) -> st.SearchStrategy[Case]:
    """Generated cases, some of them with the real ids this operation's path takes (where there are any)."""
    generated = operation.as_strategy(generation_mode=mode)
    known = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
    if not known:
        return generated  # type: ignore[no-any-return]
    return st.one_of(generated, operation.as_strategy(generation_mode=mode, path_parameters=known))


def has_input(operation: Any) -> bool:
    """Whether the operation takes anything a request could break (parameters or a body)."""
    parts = (operation.path_parameters, operation.query, operation.headers, operation.cookies, operation.body)
    return any(len(part) for part in parts)


def fuzz(
    client: TestClient[Litestar], operation: Any, mode: GenerationMode, headers: dict[str, str], ids: dict[str, str]
) -> tuple[int, str | None]:
    """Run one operation in one generation mode; the number of requests sent and the failure found, if any."""
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    sent = 0

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # A failure is reported as found: shrinking would replay requests against a changed database.
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy(operation, mode, ids))
    def run(case: Case) -> None:
        nonlocal sent
        response = send(client, case, headers)
        sent += 1
        case.validate_response(response, checks=checks, headers=headers)

    try:
        run()
    except (Exception, BaseExceptionGroup) as error:  # each failure is reported with its operation
        return sent, f"{operation.label} [{mode.value}]: {error}"
    return sent, None


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_as_the_schema_says(
    caller: str,
    client: TestClient[Litestar],
    db: Callable[[], Session],
    make_user: Any,
    tally: Tally,
    record_property: Callable[[str, object], None],
) -> None:
    till = make_till(db, make_user)
    issued = activate(db, till.family.principal(), Phone.new())
    with db() as s:
        key_id = s.scalars(select(ApiKey.id).where(ApiKey.partner_id == till.partner_id)).one()
    ids = {
        "partner_id": str(till.partner_id),
        "key_id": str(key_id),
        "benefit_id": str(benefit(db, till)),
        "credential_id": str(issued.credential_id),
        "list_id": "1",
    }
    headers = credentials_for(client, caller, till, make_user)
    raw = client.get("/schema/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw, config=CONFIG)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) == sum(len(item.keys() & HTTP_METHODS) for item in raw["paths"].values())

    sent = 0
    failures: list[str] = []
    for operation in operations:
        # An operation without parameters or a body has nothing a request could break.
        modes = (
            [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_input(operation) else [GenerationMode.POSITIVE]
        )
        for mode in modes:
            count, failure = fuzz(client, operation, mode, headers, ids)
            sent += count
            failures += [failure] if failure else []
    tally.requests[caller] = sent
    record_property("schemathesis_requests", sent)
    print(f"schemathesis: {caller}: {sent} requests over {len(operations)} operations")

    assert not failures, "\n\n".join(failures)
