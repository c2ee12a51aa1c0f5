"""Rules of the accounts services that need no web: new passwords, addresses, landing pages, staff accounts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts import services
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.errors import InvalidInput
from tests.conftest import PASSWORD

Factory = Callable[[], Session]


def fields_of(problems: list[Any]) -> list[str]:
    return [p.field for p in problems]


@pytest.mark.parametrize(
    ("password", "confirm", "fields"),
    [
        ("twelve chars", "twelve chars", []),
        ("eleven char", "eleven char", ["password"]),
        ("x" * 256, "x" * 256, []),
        ("x" * 257, "x" * 257, ["password"]),
        (" " * 20, " " * 20, ["password"]),
        ("Someone@Example.org", "Someone@Example.org", ["password"]),
        ("twelve chars", "twelve chars ", ["password_confirm"]),
        # One message at a time for the confirmation: first the password itself must be fine.
        ("short", "other", ["password"]),
    ],
)
def test_new_password_rules(password: str, confirm: str, fields: list[str]) -> None:
    assert fields_of(services.password_problems(password, confirm, "someone@example.org")) == fields


def test_password_rules_name_the_fields_given() -> None:
    problems = services.password_problems("short", "short", "a@b.c", field_name="new_password")
    assert fields_of(problems) == ["new_password"]


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (Role.ADMIN, "/staff/"),
        (Role.ANALYST, "/staff/"),
        (Role.CASHIER, "/partner/"),
        (Role.PARTNER_OWNER, "/partner/"),
        (Role.FAMILY, "/card"),
    ],
)
def test_landing_paths(role: Role, path: str) -> None:
    assert services.landing_path(role) == path


def test_normalised_addresses() -> None:
    assert services.normalise_email("  Anna.Muster@Example.ORG\n") == "anna.muster@example.org"


def test_pending_second_factor_survives_the_session_store_and_rejects_junk() -> None:
    import uuid

    pending = services.SecondFactorNeeded(uuid.uuid4(), 3, time.time())
    assert services.SecondFactorNeeded.from_session(pending.to_session()) == pending
    for junk in (None, "x", {}, {"user_id": "not-a-uuid", "epoch": 1, "started_at": 1}, {"user_id": str(uuid.uuid4())}):
        assert services.SecondFactorNeeded.from_session(junk) is None


def test_sign_in_refusals_carry_no_hint_which_part_was_wrong(db: Factory, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    messages = set()
    for email, password in ((user.email, "wrong password"), ("nobody@example.org", PASSWORD)):
        with db() as session, pytest.raises(services.SignInFailed) as caught:
            services.sign_in_with_password(session, email, password)
        messages.add(
            (caught.value.code, caught.value.message, tuple((e.field, e.message) for e in caught.value.errors))
        )
    assert len(messages) == 1


def test_create_staff_user_from_the_command_line_has_a_system_actor(db: Factory) -> None:
    with db() as session, session.begin():
        link = services.create_staff_user(
            session,
            None,
            email="First.Admin@example.org",
            display_name="First",
            role="admin",
            base_url="https://x.example",
        )
    assert link.startswith("https://x.example/password/set/")
    with db() as session:
        user = session.scalar(select(User))
        assert user is not None
        assert (user.email, user.role, user.password_hash) == ("first.admin@example.org", "admin", None)


def test_creating_collects_every_problem_at_once(db: Factory) -> None:
    with db() as session, pytest.raises(InvalidInput) as caught:
        services.create_staff_user(session, None, email="", display_name="", role="", base_url="https://x.example")
    assert fields_of(caught.value.errors) == ["email", "display_name", "role"]
    with db() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_last_admin_rule_counts_active_admins_only(db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    make_user(Role.ADMIN, is_active=False)
    actor = Principal(role=Role.ADMIN, user_id=admin.id)
    with db() as session, pytest.raises(services.LastAdmin):
        services.deactivate_staff_user(session, actor, admin.id)
    second = make_user(Role.ADMIN)
    with db() as session, session.begin():
        services.deactivate_staff_user(session, actor, second.id)
    with db() as session, pytest.raises(services.LastAdmin):
        services.change_staff_role(session, actor, admin.id, "caseworker")
