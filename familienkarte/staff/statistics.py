"""The staff statistics dashboard: key figures, charts with their tables and fraud signals, for analysts and
administrators."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.runtime import Runtime
from familienkarte.staff import statistics_exports
from familienkarte.statistics import dashboard

STATISTICS_OPT = roles_opt(Role.ANALYST, Role.ADMIN)
# How the page names codes, months and benefits, in the reader's language.
LABELS: dict[str, Any] = {
    "category": dashboard.category_label,
    "district": dashboard.district_label,
    "reason": dashboard.reason_label,
    "benefit": dashboard.benefit_title,
    "month": dashboard.month_label,
}


class StaffStatisticsController(Controller):
    path = "/staff/statistics"
    opt = STATISTICS_OPT
    include_in_schema = False

    @get("/")
    async def statistics(
        self, request: Request[Any, Any, Any], tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> Template:
        city = load_city(runtime.settings.city)
        params = {key: str(value) for key, value in request.query_params.items()}
        today = city.today()
        view = await tx.read(lambda s: dashboard.statistics_view(s, city, params, today=today))
        return Template(
            "staff_statistics/page.html",
            context={
                "view": view,
                "number": dashboard.number,
                "percent": dashboard.percent,
                "labels": LABELS,
                "threshold": city.suppression_threshold,
            },
            status_code=422 if view.errors else 200,
        )


ROUTES: list[Any] = [StaffStatisticsController, *statistics_exports.ROUTES]
