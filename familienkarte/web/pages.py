"""Pages and endpoints that belong to no domain: the home page, health checks, the API documentation page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.response import File, Template

from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.city import load_city
from familienkarte.health import check_readiness
from familienkarte.runtime import Runtime
from familienkarte.web.problems import problem

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@get("/", opt=PUBLIC_OPT, include_in_schema=False)
async def home(runtime: NamedDependency[Runtime]) -> Template:
    return Template("home.html", context={"city": load_city(runtime.settings.city)})


@get("/help/lost-phone", opt=PUBLIC_OPT, include_in_schema=False)
async def lost_phone_help(runtime: NamedDependency[Runtime]) -> Template:
    """What a family does when a phone with the card is lost: remove it, activate the card on the new one."""
    return Template("help/lost_phone.html", context={"city": load_city(runtime.settings.city)})


@get("/card-sw.js", opt=PUBLIC_OPT, include_in_schema=False, media_type="text/javascript")
async def card_service_worker() -> File:
    """The card page's service worker, served from the root so that its scope can be /card."""
    return File(
        STATIC_DIR / "js" / "card-sw.js", content_disposition_type="inline", headers={"Cache-Control": "no-cache"}
    )


@get("/health/live", opt=PUBLIC_OPT, tags=["health"], summary="The process is running")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/ready",
    opt=PUBLIC_OPT,
    tags=["health"],
    summary="The database and the broker can be reached",
    description="200 with every check `ok`, or 503 as problem details naming the failing part in `checks`.",
)
async def ready(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]) -> Response[Any]:
    settings = runtime.settings
    result = await check_readiness(
        runtime.engine, settings.effective_broker_url, runtime.kv, uses_redis=bool(settings.redis_url)
    )
    if result.ready:
        return Response({"status": "ok", "checks": result.checks})
    failing = ", ".join(result.failing)
    response = problem(request, 503, "not_ready", f"Not ready: {failing} unavailable.")
    body = dict(response.content)
    body["checks"] = result.checks
    return Response(body, status_code=503, media_type=response.media_type)


class SchemaPage(OpenAPIRenderPlugin):
    """The interactive API page at /schema, served from our own files so the strict CSP holds."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return (
            b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            b'<meta name="viewport" content="width=device-width, initial-scale=1">'
            b"<title>Familienkarte API</title>"
            b'<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>'
            b'<body><main id="swagger-ui" data-spec="/schema/openapi.json"></main>'
            b'<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>'
            b'<script src="/static/js/schema.js"></script></body></html>'
        )
