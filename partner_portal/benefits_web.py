"""The partner's benefit pages: the list, the form for a new or changed benefit, the preview as families will see
it, and the buttons that submit, withdraw, pause, resume and archive."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from familienkarte import i18n
from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.benefits import services
from familienkarte.benefits.models import BenefitStatus
from familienkarte.benefits.views import KIND_LABELS, PERIOD_LABELS
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.partners.vocabulary import CATEGORIES, WEEKDAYS
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

BENEFITS_PATH = "/partner/benefits"
FORM_TEMPLATE = "partner/benefits_form.html"
# The vocabularies the form offers; web.problems adds them when it shows a refused form again.
FORM_CONTEXT: dict[str, Any] = {
    "categories": CATEGORIES,
    "kinds": KIND_LABELS,
    "periods": PERIOD_LABELS,
    "weekdays": WEEKDAYS,
}
FORM_OPT = {"form_template": FORM_TEMPLATE, "form_context": FORM_CONTEXT}
# web.problems shows the form again with what the handler read before the refused change.
PAGE_KEY = "benefit_page"
BENEFIT_KEY = "benefit_row"


def _to_preview(web_session: SessionState, benefit_id: uuid.UUID, message: str) -> Redirect:
    return redirect_with_flash(web_session, f"{BENEFITS_PATH}/{benefit_id}/preview", message)


def _to_list(web_session: SessionState, message: str) -> Redirect:
    return redirect_with_flash(web_session, BENEFITS_PATH, message)


class BenefitReadController(Controller):
    """What owners and cashiers may see."""

    path = BENEFITS_PATH
    opt = roles_opt(Role.PARTNER_OWNER, Role.CASHIER)
    include_in_schema = False

    @get("/")
    async def benefits(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> Template:
        city = load_city(runtime.settings.city)
        listing = await tx.read(lambda s: services.list_benefits(s, principal, city))
        return Template("partner/benefits.html", context={"listing": listing})

    @get("/{benefit_id:uuid}/preview")
    async def preview(
        self,
        benefit_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
    ) -> Template:
        city = load_city(runtime.settings.city)
        locale = i18n.current_locale()
        shown = await tx.read(lambda s: services.preview(s, principal, benefit_id, locale, city))
        return Template("partner/benefits_preview.html", context={"preview": shown})


class BenefitChangeController(Controller):
    """What only the owner may do."""

    path = BENEFITS_PATH
    opt = roles_opt(Role.PARTNER_OWNER)
    include_in_schema = False

    @get("/new")
    async def new(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> Template:
        city = load_city(runtime.settings.city)
        page = await tx.read(lambda s: services.benefit_page(s, principal, city))
        form = services.new_form(page.locations, page.partner_category)
        return Template(
            FORM_TEMPLATE, context={**FORM_CONTEXT, "page": page, "form": form, "errors": {}, "error_summary": None}
        )

    @post("/new", opt=FORM_OPT)
    async def create(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        request.state[PAGE_KEY] = await tx.read(lambda s: services.benefit_page(s, principal, city))
        created = await tx.run(lambda s: services.create_benefit(s, principal, form, city=city, meta=meta).id)
        return _to_preview(
            web_session, created, N_("Saved as a draft. This is how families will see it once it is published.")
        )

    @get("/{benefit_id:uuid}")
    async def edit(
        self,
        benefit_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
    ) -> Template:
        city = load_city(runtime.settings.city)
        edit = await tx.read(lambda s: services.edit_benefit_page(s, principal, benefit_id, city))
        return Template(
            FORM_TEMPLATE,
            context={
                **FORM_CONTEXT,
                "page": edit.page,
                "benefit": edit.benefit,
                "form": edit.form,
                "errors": {},
                "error_summary": None,
            },
        )

    @post("/{benefit_id:uuid}", opt=FORM_OPT)
    async def update(
        self,
        request: Request[Any, Any, Any],
        benefit_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        edit = await tx.read(lambda s: services.edit_benefit_page(s, principal, benefit_id, city))
        request.state[PAGE_KEY], request.state[BENEFIT_KEY] = edit.page, edit.benefit
        saved = await tx.run(lambda s: services.update_benefit(s, principal, benefit_id, form, city=city, meta=meta))
        if saved.pending is not None:
            message = N_(
                "Your change has been sent to the city for review. Families see the published version until then."
            )
        elif saved.status in (BenefitStatus.PUBLISHED, BenefitStatus.PAUSED):
            message = N_("Saved. Families see the changed benefit now.")
        else:
            message = N_("Saved. This is how families will see it once it is published.")
        return _to_preview(web_session, benefit_id, message)

    @post("/{benefit_id:uuid}/submit")
    async def submit(
        self,
        benefit_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        done = await tx.run(lambda s: services.submit_benefit(s, principal, benefit_id, city=city, meta=meta))
        if done.status == BenefitStatus.SUBMITTED:
            message = N_("Submitted. The city reviews the benefit before families see it.")
        else:
            message = N_("Published. Families can see the benefit now.")
        return _to_list(web_session, message)

    @post("/{benefit_id:uuid}/withdraw")
    async def withdraw(
        self,
        benefit_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: services.withdraw_benefit(s, principal, benefit_id, meta=meta))
        return _to_list(web_session, N_("Withdrawn from review. You can change it and submit it again."))

    @post("/{benefit_id:uuid}/{switch_name:str}")
    async def switch(
        self,
        benefit_id: FromPath[uuid.UUID],
        switch_name: FromPath[str],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        """Pause, resume or archive at once (``switch_name``: a key of ``services.SWITCHES``)."""
        done = await tx.run(lambda s: services.switch_benefit(s, principal, benefit_id, switch_name, meta=meta))
        return _to_list(web_session, done.done)


ROUTES: list[Any] = [BenefitReadController, BenefitChangeController]
