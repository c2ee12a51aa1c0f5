"""The application factory: one Litestar app for the API, the family pages, the partner portal and staff area."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import CacheControlHeader
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from familienkarte.accounts import api as accounts_api
from familienkarte.accounts import web as accounts_web
from familienkarte.accounts.guards import PUBLIC_OPT, check_roles
from familienkarte.accounts.middleware import AuthMiddleware
from familienkarte.accounts.sessions import SessionMiddleware
from familienkarte.cards import api as cards_api
from familienkarte.cards import card_web, family_data_web, print_web, renewal_web
from familienkarte.cards import web as cards_web
from familienkarte.catalogue import api as catalogue_api
from familienkarte.catalogue import map_web as catalogue_map
from familienkarte.catalogue import web as catalogue_web
from familienkarte.credentials import api as credentials_api
from familienkarte.metrics import MetricsMiddleware
from familienkarte.partners import logo_web as partner_logos
from familienkarte.redemptions import api as redemptions_api
from familienkarte.redemptions import offline_api as redemptions_offline
from familienkarte.runtime import Runtime
from familienkarte.settings import Settings, load_settings
from familienkarte.staff import applications as staff_applications
from familienkarte.staff import cards as staff_cards
from familienkarte.staff import imports as staff_imports
from familienkarte.staff import partner_queue as staff_partner_queue
from familienkarte.staff import partners as staff_partners
from familienkarte.staff import statistics as staff_statistics
from familienkarte.staff import web as staff_web
from familienkarte.web import accessibility as accessibility_page
from familienkarte.web import pages
from familienkarte.web.context import RequestContextMiddleware, csp_with_tiles, csp_with_wasm
from familienkarte.web.csrf import csrf_protect
from familienkarte.web.deps import DEPENDENCIES
from familienkarte.web.maps import MAP_PAGES
from familienkarte.web.problems import EXCEPTION_HANDLERS
from familienkarte.web.templating import make_environment, template_config
from partner_portal import benefits_web as partner_benefits
from partner_portal import profile as partner_profile
from partner_portal import registration as partner_registration
from partner_portal import scanner as partner_scanner
from partner_portal import statistics as partner_statistics
from partner_portal import web as partner_web

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = ROOT / "node_modules"
# Files keep their names across releases, so browsers revalidate them (ETag) instead of keeping them blindly.
STATIC_CACHE = CacheControlHeader(no_cache=True)
VENDOR_MOUNTS = {
    "/static/vendor/swagger-ui": VENDOR_DIR / "swagger-ui-dist",
    "/static/vendor/qrcode-generator": VENDOR_DIR / "qrcode-generator" / "dist",
    "/static/vendor/leaflet": VENDOR_DIR / "leaflet" / "dist",
    "/static/vendor/leaflet.markercluster": VENDOR_DIR / "leaflet.markercluster" / "dist",
    "/static/vendor/barcode-detector": VENDOR_DIR / "barcode-detector" / "dist",
    "/static/vendor/zxing-wasm": VENDOR_DIR / "zxing-wasm" / "dist" / "reader",
}

API_DESCRIPTION = """\
The Familienkarte API. Errors are problem details (RFC 9457) with a stable `code`.

Partner systems authenticate with `Authorization: Bearer <API key>`; a key belongs to one partner (and
optionally one location). Browsers use the session cookie and send the `X-CSRF-Token` header on changes.
"""


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Familienkarte API",
        version="1",
        description=API_DESCRIPTION,
        path="/schema",
        render_plugins=[pages.SchemaPage()],
        openapi_router=Router("/schema", route_handlers=[], opt=PUBLIC_OPT, include_in_schema=False),
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(type="http", scheme="bearer", description="A partner API key."),
                "session": SecurityScheme(type="apiKey", security_scheme_in="cookie", name="fk_session"),
            }
        ),
        security=[{"apiKey": []}, {"session": []}],
    )


def _static_routers() -> list[Router]:
    routers = [
        create_static_files_router(
            "/static",
            directories=[STATIC_DIR],
            opt=PUBLIC_OPT,
            include_in_schema=False,
            name="static",
            cache_control=STATIC_CACHE,
        )
    ]
    # Front-end libraries installed by npm (package-lock.json), each served from its own folder only.
    for url, folder in VENDOR_MOUNTS.items():
        if folder.is_dir():
            routers.append(
                create_static_files_router(
                    url,
                    directories=[folder],
                    opt=PUBLIC_OPT,
                    include_in_schema=False,
                    name=f"vendor:{url}",
                    cache_control=STATIC_CACHE,
                )
            )
    return routers


async def admit(request: Request[Any, Any, Any]) -> None:
    """Before every handler, before its body is read: who may use the route, then CSRF for a session's changes.

    The one ``before_request`` hook: a router or handler declaring its own would replace it, which the route
    matrix test would notice."""
    check_roles(request.scope)
    await csrf_protect(request)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    runtime = Runtime.create(settings)

    async def close_runtime() -> None:
        await runtime.close()

    route_handlers: list[Any] = [
        pages.home,
        pages.lost_phone_help,
        pages.live,
        pages.ready,
        pages.card_service_worker,
        *accessibility_page.ROUTES,
        *accounts_web.ROUTES,
        *accounts_api.ROUTES,
        *credentials_api.ROUTES,
        *staff_web.ROUTES,
        *staff_partners.ROUTES,
        *cards_web.ROUTES,
        *card_web.ROUTES,
        *cards_api.ROUTES,
        *staff_applications.ROUTES,
        *staff_cards.ROUTES,
        *print_web.ROUTES,
        *family_data_web.ROUTES,
        *renewal_web.ROUTES,
        *partner_web.ROUTES,
        *partner_registration.ROUTES,
        *partner_profile.ROUTES,
        *partner_benefits.ROUTES,
        *staff_partner_queue.ROUTES,
        *staff_imports.ROUTES,
        *staff_statistics.ROUTES,
        *catalogue_web.ROUTES,
        *catalogue_api.ROUTES,
        *catalogue_map.ROUTES,
        *partner_logos.ROUTES,
        *redemptions_api.ROUTES,
        *redemptions_offline.ROUTES,
        *partner_scanner.ROUTES,
        *partner_statistics.ROUTES,
        *_static_routers(),
    ]
    app = Litestar(
        route_handlers=route_handlers,
        state=_state(runtime),
        dependencies=DEPENDENCIES,
        # The route's roles, then CSRF: for every request, before its body is read.
        before_request=admit,
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=template_config(make_environment(reload=settings.is_demo)),
        openapi_config=_openapi(),
        middleware=[
            DefineMiddleware(SessionMiddleware, settings=settings, kv_getter=lambda scope: runtime.kv),
            DefineMiddleware(AuthMiddleware, tx_getter=lambda scope: runtime.tx),
        ],
        response_cache_config=ResponseCacheConfig(),
        on_shutdown=[close_runtime],
        debug=False,
        # Logging is configured once by familienkarte.logs (JSON lines with the request id); Litestar keeps out.
        logging_config=None,
        request_max_body_size=10 * 1024 * 1024,
    )
    # Outside Litestar's router, so that every response (404 and 405 too) gets the request id, the reader's
    # language and the security headers.
    app.asgi_handler = RequestContextMiddleware(
        # Times every request by its route's template; serves /metrics to FK_METRICS_TOKEN alone.
        MetricsMiddleware(app.asgi_handler, token=settings.metrics_token, runtime=runtime),
        default_locale=settings.default_locale,
        # HSTS when the site is served over HTTPS (its public address), never on a plain-HTTP demo.
        hsts=settings.base_url.startswith("https://"),
        locale_cookie_secure=settings.effective_cookie_secure,
        # Only pages with a map may load images from the tile server; every other page keeps the site's own policy.
        map_pages=MAP_PAGES,
        map_csp=csp_with_tiles(settings.map_tile_url),
        # The scanner page compiles the QR reader's WebAssembly; no other page may.
        wasm_pages=(partner_scanner.SCANNER_PATH,),
        wasm_csp=csp_with_wasm(),
        # The scanner page is the only one that may use the camera.
        camera_pages=(partner_scanner.SCANNER_PATH,),
    )
    return app


def _state(runtime: Runtime) -> Any:
    from litestar.datastructures import State

    return State({"fk": runtime})


def app_from_environment() -> Litestar:
    """Entry point for ASGI servers (``uvicorn --factory familienkarte.app:app_from_environment``)."""
    from familienkarte.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    settle_memory()
    return app


def settle_memory() -> None:
    """Exempt what the server process holds once it is built (its modules, classes, the app) from the cyclic
    garbage collector: its full collections otherwise walk all of it, a pause of 50 to 70 ms of a request's time
    now and then (measured on the statistics pages). Garbage left by the start is collected first."""
    gc.collect()
    gc.freeze()
