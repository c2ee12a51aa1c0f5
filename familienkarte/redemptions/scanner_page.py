"""What the scanner page needs before the first scan: the partner's active locations and the void window.

Reading only. The page is refused, like the point-of-sale API, to a partner that is not approved
(``partner_suspended``), so that a cashier learns it before the queue does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal
from familienkarte.city import City
from familienkarte.errors import PermissionDenied
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.redemptions.services import PartnerSuspended


@dataclass(frozen=True)
class LocationChoice:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class ScannerPage:
    partner_id: uuid.UUID
    partner_name: str
    # The active locations the cashier may choose from; only the bound one for a principal bound to a location.
    locations: list[LocationChoice]
    void_window_minutes: int


def scanner_page(session: Session, principal: Principal, city: City) -> ScannerPage:
    """The signed-in partner user's scanner page data (only partner roles get here)."""
    if not principal.is_partner or principal.partner_id is None:
        raise PermissionDenied()
    partner = session.get(Partner, principal.partner_id)
    if partner is None or partner.status != PartnerStatus.APPROVED.value:
        raise PartnerSuspended()
    query = select(Location.id, Location.name).where(Location.partner_id == partner.id, Location.is_active.is_(True))
    if principal.location_id is not None:
        query = query.where(Location.id == principal.location_id)
    rows = session.execute(query.order_by(Location.name, Location.id)).all()
    return ScannerPage(
        partner_id=partner.id,
        partner_name=partner.name,
        locations=[LocationChoice(row.id, row.name) for row in rows],
        void_window_minutes=int(city.void_window.total_seconds() // 60),
    )
