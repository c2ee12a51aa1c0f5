"""The audit log: one helper that every staff and partner action calls in its own transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.audit.models import AuditEntry


def record(
    session: Session,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: object | None = None,
    *,
    partner_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction: it is stored if and only if the action is."""
    entry = AuditEntry(
        actor_user_id=actor.user_id if actor else None,
        actor_api_key_id=actor.api_key_id if actor else None,
        actor_role=str(actor.role) if actor else "system",
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        partner_id=partner_id if partner_id is not None else (actor.partner_id if actor else None),
        details=details or {},
        request_id=meta.request_id if meta else None,
        ip=meta.ip if meta else None,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def list_entries(
    session: Session,
    *,
    action: str | None = None,
    actor_user_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    query = select(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor_user_id:
        query = query.where(AuditEntry.actor_user_id == actor_user_id)
    if partner_id:
        query = query.where(AuditEntry.partner_id == partner_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return AuditPage(list(rows), total, page, per_page)
