"""Family pages: the application form and its confirmation."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from familienkarte import i18n
from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.accounts.principal import RequestMeta
from familienkarte.accounts.sessions import SessionState
from familienkarte.cards import services
from familienkarte.cards.models import ApplicationStatus
from familienkarte.city import City, load_city
from familienkarte.db import Tx
from familienkarte.runtime import Runtime

OUTCOME_KEY = "application_outcome"


def city_of(request: Request[Any, Any, Any]) -> City:
    """The deployment's city, for templates (loaded and checked once at start-up)."""
    runtime: Runtime = request.app.state["fk"]
    return load_city(runtime.settings.city)


FORM_CONTEXT: dict[str, Any] = {"city_of": city_of, "child_rows": services.CHILD_ROWS_OFFERED}
APPLY_FORM = {"form_template": "cards/apply.html", "form_context": FORM_CONTEXT}


class ApplicationController(Controller):
    path = "/apply"
    opt = PUBLIC_OPT
    include_in_schema = False

    @get("/")
    async def application_form(self) -> Template:
        context = {"form": {"locale": i18n.current_locale()}, "errors": {}, "error_summary": None, **FORM_CONTEXT}
        return Template("cards/apply.html", context=context)

    @post("/", opt=APPLY_FORM)
    async def apply(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        base_url = runtime.settings.base_url
        received = await tx.run(lambda s: services.submit_application(s, city, form, base_url=base_url, meta=meta))
        web_session[OUTCOME_KEY] = received.status
        return Redirect("/apply/received", status_code=303)

    @get("/received")
    async def received(self, web_session: NamedDependency[SessionState]) -> Template:
        approved = web_session.get(OUTCOME_KEY) == ApplicationStatus.APPROVED.value
        return Template("cards/received.html", context={"approved": approved})


ROUTES: list[Any] = [ApplicationController]
