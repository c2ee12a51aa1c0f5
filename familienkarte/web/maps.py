"""What a page with a map needs: the tile server and attribution from the settings and the city's starting view.
The pages listed here get a Content-Security-Policy that lets them (and only them) load the tiles
(``RequestContextMiddleware``)."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request

from familienkarte.city import load_city

# The pages with a map: the public map, and where partners place a location (registration, location forms).
MAP_PAGES: Final = ("/map", "/partner/register", "/partner/locations/")


def map_config(request: Request[Any, Any, Any]) -> dict[str, object]:
    """What a map on a page needs (a template global): the tiles, their attribution, the city's starting view."""
    settings = request.app.state["fk"].settings
    city = load_city(settings.city)
    return {
        "tile_url": settings.map_tile_url,
        "attribution": settings.map_attribution,
        "attribution_url": settings.map_attribution_url,
        "center": f"{city.map_center[0]},{city.map_center[1]}",
        "zoom": city.map_zoom,
    }
