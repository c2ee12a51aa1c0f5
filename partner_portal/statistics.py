"""The partner's statistics page: a month's redemptions of its own benefits, with the small-number rule applied
(familienkarte.statistics.partner_view). For the owner only: cashiers work the till and do not see statistics."""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.runtime import Runtime
from familienkarte.statistics import dashboard, partner_view

STATISTICS_PATH: Final = "/partner/statistics"


class PartnerStatisticsController(Controller):
    path = STATISTICS_PATH
    opt = roles_opt(Role.PARTNER_OWNER)
    include_in_schema = False

    @get("/")
    async def statistics(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
    ) -> Template:
        city = load_city(runtime.settings.city)
        params = {key: str(value) for key, value in request.query_params.items()}
        today = city.today()
        page = await tx.read(lambda s: partner_view.statistics_page(s, principal, city, params, today=today))
        return Template(
            "partner/statistics.html",
            context={
                "page": page,
                "number": dashboard.number,
                "month_label": dashboard.month_label,
                "marker": partner_view.marker,
            },
            status_code=422 if page.errors else 200,
        )


ROUTES: list[Any] = [PartnerStatisticsController]
