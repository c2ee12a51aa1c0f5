"""The staff dashboard's links from a partner's name to the same page for that partner."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qsl, urlsplit

from familienkarte.statistics import dashboard


def view(**filters: object) -> dashboard.StatisticsView:
    chosen = dashboard.Filters(start=dt.date(2026, 10, 2), end=dt.date(2026, 10, 31), **filters)  # type: ignore[arg-type]
    params = dashboard.filter_params(chosen)
    return dashboard.StatisticsView(params, {}, dashboard.choices(["Innenstadt"]), None, params)


def test_a_partner_link_keeps_the_other_filters_and_names_the_partner() -> None:
    partner = uuid.uuid4()
    url = view(category="culture", district="Mülheim").partner_url(partner)
    parts = urlsplit(url)
    assert parts.path == dashboard.PAGE_PATH
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        ("from", "2026-10-02"),
        ("to", "2026-10-31"),
        ("category", "culture"),
        ("district", "Mülheim"),
        ("partner", str(partner)),
    ]


def test_a_partner_link_from_a_page_for_another_partner_names_the_new_one() -> None:
    shown, other = uuid.uuid4(), uuid.uuid4()
    links = view(partner_id=shown)
    assert dict(parse_qsl(urlsplit(links.partner_url(other)).query))["partner"] == str(other)
    assert links.partner_url(other).count("partner=") == 1
