"""The audit log: written in the caller's transaction, listed newest first with filters."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.audit import services as audit
from familienkarte.audit.models import AuditEntry


def test_entry_is_stored_with_actor_object_and_origin(db: Callable[[], Session], make_user) -> None:
    admin = make_user(Role.ADMIN)
    actor = Principal(role=Role.ADMIN, user_id=admin.id)
    with db() as session, session.begin():
        audit.record(
            session,
            actor,
            "user.deactivate",
            "user",
            "42",
            details={"reason": "left"},
            meta=RequestMeta(request_id="r-1", ip="127.0.0.1"),
        )
    with db() as session:
        page = audit.list_entries(session)
    assert page.total == 1
    entry = page.entries[0]
    assert (entry.actor_user_id, entry.actor_role, entry.action, entry.object_id) == (
        admin.id,
        "admin",
        "user.deactivate",
        "42",
    )
    assert entry.details == {"reason": "left"}
    assert (entry.request_id, entry.ip) == ("r-1", "127.0.0.1")
    assert entry.at.tzinfo is not None


def _record_then_fail(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        audit.record(session, None, "something", "thing", 1)
        raise RuntimeError("the action failed")


def test_entry_is_not_stored_when_the_action_fails(db: Callable[[], Session]) -> None:
    with pytest.raises(RuntimeError):
        _record_then_fail(db)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_list_filters_and_pages(db: Callable[[], Session], make_partner) -> None:
    partner = make_partner()
    with db() as session, session.begin():
        for index in range(7):
            audit.record(session, None, "a.one" if index % 2 else "a.two", "thing", index, partner_id=partner.id)
        audit.record(session, None, "a.one", "thing", 99)
    with db() as session:
        first = audit.list_entries(session, per_page=3)
        assert (first.total, first.pages, len(first.entries)) == (8, 3, 3)
        assert first.entries[0].object_id == "99"  # newest first
        assert audit.list_entries(session, action="a.one").total == 4
        assert audit.list_entries(session, partner_id=partner.id).total == 7
        assert len(audit.list_entries(session, per_page=3, page=3).entries) == 2
