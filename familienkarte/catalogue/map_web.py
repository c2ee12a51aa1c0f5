"""The public map of partner locations, with the same places as a list below it."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.catalogue import map_services
from familienkarte.catalogue.map_services import MAP_PATH
from familienkarte.db import Tx
from familienkarte.partners.vocabulary import CATEGORIES
from familienkarte.runtime import Runtime

GEOJSON_PATH = "/api/v1/partners.geojson"


@get(MAP_PATH, opt=PUBLIC_OPT, include_in_schema=False)
async def map_page(
    tx: NamedDependency[Tx],
    runtime: NamedDependency[Runtime],
    category: FromQuery[str | None] = None,
    page: FromQuery[str | None] = None,
) -> Template:
    settings = runtime.settings
    view = await tx.read(lambda s: map_services.map_view(s, category, page))
    return Template(
        "catalogue/map.html",
        status_code=422 if view.errors else 200,
        context={
            "page": view.page,
            "errors": view.errors,
            "category_labels": CATEGORIES,
            "geojson_url": GEOJSON_PATH,
            "tile_url": settings.map_tile_url,
            "attribution": settings.map_attribution,
            "attribution_url": settings.map_attribution_url,
        },
    )


ROUTES: list[Any] = [map_page]
