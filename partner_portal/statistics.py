"""The partner's statistics page: a month's redemptions of its own benefits, with the small-number rule applied
(familienkarte.statistics.partner_view), and the same month as the PDF of the monthly report
(familienkarte.statistics.partner_report). For the owner only: cashiers work the till and do not see statistics."""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.runtime import Runtime
from familienkarte.statistics import dashboard, partner_report, partner_view

STATISTICS_PATH: Final = "/partner/statistics"
REPORT_PDF_PATH: Final = f"{STATISTICS_PATH}/report.pdf"


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
        return _page(page)

    @get("/report.pdf")
    async def report_pdf(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
    ) -> Response[bytes] | Template:
        """The month's figures as the PDF of the monthly report (``?month=YYYY-MM``, the months the page offers);
        a bad month gets the page with its message."""
        city = load_city(runtime.settings.city)
        params = {key: str(value) for key, value in request.query_params.items()}
        today = city.today()
        result = await tx.read(lambda s: partner_report.report_pdf(s, principal, city, params, today=today))
        if isinstance(result, partner_view.StatisticsPage):
            return _page(result)
        return Response(
            result.content,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{result.filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )


def _page(page: partner_view.StatisticsPage) -> Template:
    return Template(
        "partner/statistics.html",
        context={
            "page": page,
            "number": dashboard.number,
            "month_label": dashboard.month_label,
            "marker": partner_view.marker,
            "report_pdf_path": REPORT_PDF_PATH,
        },
        status_code=422 if page.errors else 200,
    )


ROUTES: list[Any] = [PartnerStatisticsController]
