"""The public map of partner locations, with the same places as a list below it."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.catalogue import map_services
from familienkarte.db import Tx
from familienkarte.partners.vocabulary import CATEGORIES
from familienkarte.runtime import Runtime

MAP_PATH = "/map"
GEOJSON_PATH = "/api/v1/partners.geojson"


@get(MAP_PATH, opt=PUBLIC_OPT, include_in_schema=False)
async def map_page(
    tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], category: FromQuery[str | None] = None
) -> Template:
    settings = runtime.settings
    page = await tx.read(lambda s: map_services.map_page(s, category))
    return Template(
        "catalogue/map.html",
        context={
            "page": page,
            "category_labels": CATEGORIES,
            "geojson_url": GEOJSON_PATH,
            "tile_url": settings.map_tile_url,
            "attribution": settings.map_attribution,
            "attribution_url": settings.map_attribution_url,
        },
    )


ROUTES: list[Any] = [map_page]
