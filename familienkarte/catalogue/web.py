"""The public catalogue pages: the benefits with filters, one benefit, a partner's page and the benefit finder."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from familienkarte import i18n
from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.accounts.principal import Principal
from familienkarte.catalogue import services
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.runtime import Runtime


def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in request.query_params.items()}


class CataloguePages(Controller):
    opt = PUBLIC_OPT
    include_in_schema = False

    @get("/benefits")
    async def catalogue(
        self, request: Request[Any, Any, Any], tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> Template:
        city = load_city(runtime.settings.city)
        params, locale, today = _params(request), i18n.current_locale(), city.today()
        view = await tx.read(
            lambda s: services.catalogue_view(s, params, districts=city.districts, locale=locale, today=today)
        )
        return Template("catalogue/list.html", context={"view": view}, status_code=422 if view.errors else 200)

    @get("/benefits/{benefit_id:uuid}")
    async def benefit(
        self, benefit_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> Template:
        city = load_city(runtime.settings.city)
        locale, today = i18n.current_locale(), city.today()
        card = await tx.read(lambda s: services.benefit_detail(s, benefit_id, locale=locale, today=today))
        return Template("catalogue/benefit.html", context={"benefit": card})

    @get("/partners/{partner_id:uuid}")
    async def partner(
        self, partner_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]
    ) -> Template:
        city = load_city(runtime.settings.city)
        locale, today = i18n.current_locale(), city.today()
        page = await tx.read(lambda s: services.partner_page(s, partner_id, locale=locale, today=today))
        return Template("catalogue/partner.html", context={"partner": page})

    @get("/finder")
    async def finder(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        maybe_principal: NamedDependency[Principal | None],
    ) -> Template:
        city = load_city(runtime.settings.city)
        params, locale, today = _params(request), i18n.current_locale(), city.today()
        view = await tx.read(lambda s: services.finder_view(s, params, maybe_principal, locale=locale, today=today))
        return Template(
            "catalogue/finder.html",
            context={"view": view, "tier_name": city.tier.name(locale) if city.tier else None},
            status_code=422 if view.errors else 200,
        )


ROUTES: list[Any] = [CataloguePages]
