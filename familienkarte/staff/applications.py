"""The staff queue of applications: read, approve (issues the card), reject with a reason, ask for information."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.cards import services
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

QUEUE_OPT = roles_opt(Role.CASEWORKER, Role.ADMIN)
DECIDE_FORM = {"form_template": "staff_applications/decide.html"}

STATUS_LABELS: dict[str, str] = {
    "open": N_("Open"),
    "submitted": N_("Submitted"),
    "info_requested": N_("Information requested"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "all": N_("All"),
}


def _back(web_session: SessionState, application_id: uuid.UUID, message: str) -> Redirect:
    return redirect_with_flash(web_session, f"/staff/applications/{application_id}", message)


class ApplicationQueueController(Controller):
    path = "/staff/applications"
    opt = QUEUE_OPT
    include_in_schema = False

    @get("/")
    async def queue(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
    ) -> Template:
        listing = await tx.run(
            lambda s: services.list_applications(s, status=status, page=page, viewer=principal, meta=meta)
        )
        return Template(
            "staff_applications/list.html",
            context={"listing": listing, "filters": services.STATUS_FILTERS, "labels": STATUS_LABELS},
        )

    @get("/{application_id:uuid}")
    async def application(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        application_id: FromPath[uuid.UUID],
    ) -> Template:
        city = load_city(runtime.settings.city)
        detail = await tx.run(
            lambda s: services.application_detail(s, city, application_id, viewer=principal, meta=meta)
        )
        return Template(
            "staff_applications/detail.html",
            context={"app": detail, "labels": STATUS_LABELS, "city": city, "form": {}, "errors": {}},
        )

    @post("/{application_id:uuid}/approve", opt=DECIDE_FORM)
    async def approve(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        application_id: FromPath[uuid.UUID],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        base_url = runtime.settings.base_url
        tier = form.get("tier")
        await tx.run(
            lambda s: services.approve_application(
                s, city, principal, application_id, base_url=base_url, meta=meta, tier=tier
            )
        )
        return _back(web_session, application_id, N_("The application has been approved and the card issued."))

    @post("/{application_id:uuid}/reject", opt=DECIDE_FORM)
    async def reject(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        application_id: FromPath[uuid.UUID],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        reason = form.get("reason", "")
        await tx.run(lambda s: services.reject_application(s, city, principal, application_id, reason, meta=meta))
        return _back(web_session, application_id, N_("The application has been rejected."))

    @post("/{application_id:uuid}/request-info", opt=DECIDE_FORM)
    async def request_info(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        application_id: FromPath[uuid.UUID],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        message = form.get("message", "")
        await tx.run(lambda s: services.request_information(s, city, principal, application_id, message, meta=meta))
        return _back(web_session, application_id, N_("The family has been asked for more information."))


ROUTES: list[Any] = [ApplicationQueueController]
