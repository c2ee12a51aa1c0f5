"""A benefit's content as one JSON-ready dict: what a partner edits, what moderation approves, what a draft
preview shows.

The dict has every key of :data:`CONTENT_KEYS`; dates are ISO strings and locations a sorted list of ids as
strings, so the same content compares equal whether it came from the columns or from ``Benefit.pending``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from familienkarte.benefits.models import Benefit, benefit_locations

COLUMN_KEYS: Final = (
    "category",
    "kind",
    "value",
    "title",
    "description",
    "conditions",
    "valid_from",
    "valid_until",
    "weekdays",
    "min_children",
    "child_age_min",
    "child_age_max",
    "requires_entitlement",
    "limit_count",
    "limit_period",
    "total_quota",
    "max_quantity",
)
DATE_KEYS: Final = ("valid_from", "valid_until")
CONTENT_KEYS: Final = (*COLUMN_KEYS, "location_ids")


def location_ids(session: Session, benefit_id: uuid.UUID) -> list[str]:
    rows = session.scalars(
        select(benefit_locations.c.location_id).where(benefit_locations.c.benefit_id == benefit_id)
    ).all()
    return sorted(str(row) for row in rows)


def content_of(session: Session, benefit: Benefit) -> dict[str, Any]:
    """The published (or draft) content of ``benefit`` from its columns and its locations."""
    content: dict[str, Any] = {}
    for key in COLUMN_KEYS:
        value = getattr(benefit, key)
        content[key] = value.isoformat() if isinstance(value, dt.date) else value
    content["location_ids"] = location_ids(session, benefit.id)
    return content


def column_values(content: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of a content dict, dates as dates."""
    values = {key: content[key] for key in COLUMN_KEYS}
    for key in DATE_KEYS:
        if values[key] is not None and not isinstance(values[key], dt.date):
            values[key] = dt.date.fromisoformat(str(values[key]))
    return values


def apply_content(session: Session, benefit: Benefit, content: Mapping[str, Any]) -> None:
    """Write a content dict into the benefit's columns and its locations (the benefit must have its id)."""
    missing = [key for key in CONTENT_KEYS if key not in content]
    if missing:
        raise ValueError(f"benefit content without {', '.join(missing)}")
    for key, value in column_values(content).items():
        setattr(benefit, key, value)
    session.flush()
    session.execute(delete(benefit_locations).where(benefit_locations.c.benefit_id == benefit.id))
    ids = sorted({uuid.UUID(str(value)) for value in content["location_ids"]})
    if ids:
        session.execute(insert(benefit_locations), [{"benefit_id": benefit.id, "location_id": i} for i in ids])
