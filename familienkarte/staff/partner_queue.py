"""Staff queues for partners and benefits: list, read one, decide (approve, reject, ask for changes; partners
also suspend and reactivate)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from familienkarte import i18n
from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.benefits import moderation as benefit_moderation
from familienkarte.benefits.views import KIND_LABELS
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.partners import moderation
from familienkarte.partners.vocabulary import CATEGORIES, LEGAL_FORMS
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

QUEUE_OPT = roles_opt(Role.PARTNER_MANAGER, Role.ADMIN)
# A refused decision shows its form again on a page of its own, with the message at the field.
PARTNER_DECIDE_FORM = {
    "form_template": "staff_partner_queue/decide.html",
    "form_context": {"reason_max": moderation.REASON_MAX},
}
BENEFIT_DECIDE_FORM = {
    "form_template": "staff_benefit_queue/decide.html",
    "form_context": {"reason_max": moderation.REASON_MAX},
}

PARTNER_DONE: dict[str, str] = {
    "approve": N_("The partner has been approved. The owner has been informed by e-mail."),
    "request-changes": N_("The partner has been asked for changes by e-mail."),
    "reject": N_("The partner has been rejected. The owner has been informed by e-mail."),
    "suspend": N_(
        "The partner has been suspended: its benefits are hidden and its API keys no longer work. The owner has "
        "been informed by e-mail."
    ),
    "reactivate": N_("The partner is active again. The owner has been informed by e-mail."),
}
BENEFIT_DONE: dict[str, str] = {
    "benefit.published": N_("The benefit has been published. The partner has been informed by e-mail."),
    "benefit.change_approved": N_("The change has been published. The partner has been informed by e-mail."),
    "benefit.rejected": N_("The benefit has been rejected. The partner has been informed by e-mail."),
    "benefit.change_rejected": N_(
        "The change has been rejected; the benefit stays as it was. The partner has been informed by e-mail."
    ),
    "benefit.changes_requested": N_("The partner has been asked by e-mail to revise the benefit."),
}
AUDIT_LABELS: dict[str, str] = {
    "partner.approved": N_("Partner approved"),
    "partner.rejected": N_("Partner rejected"),
    "partner.changes_requested": N_("Changes requested"),
    "partner.suspended": N_("Partner suspended"),
    "partner.reactivated": N_("Partner reactivated"),
    "benefit.published": N_("Benefit published"),
    "benefit.change_approved": N_("Change to a benefit published"),
    "benefit.rejected": N_("Benefit rejected"),
    "benefit.change_rejected": N_("Change to a benefit rejected"),
    "benefit.changes_requested": N_("Benefit sent back for changes"),
}
LABELS: dict[str, Any] = {
    "partner_status": moderation.PARTNER_STATUS_LABELS,
    "benefit_status": moderation.BENEFIT_STATUS_LABELS,
    "role": moderation.ROLE_LABELS,
    "category": CATEGORIES,
    "legal_form": LEGAL_FORMS,
    "kind": KIND_LABELS,
    "action": AUDIT_LABELS,
}


class PartnerQueueController(Controller):
    path = "/staff/partner-queue"
    opt = QUEUE_OPT
    include_in_schema = False

    @get("/")
    async def queue(
        self,
        tx: NamedDependency[Tx],
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
    ) -> Template:
        listing = await tx.read(lambda s: moderation.partner_queue(s, status, page))
        return Template(
            "staff_partner_queue/list.html",
            context={"listing": listing, "filters": moderation.QUEUE_FILTERS, "labels": LABELS},
        )

    @get("/{partner_id:uuid}")
    async def partner(self, tx: NamedDependency[Tx], partner_id: FromPath[uuid.UUID]) -> Template:
        locale = i18n.current_locale()
        detail = await tx.read(lambda s: moderation.partner_detail(s, partner_id, locale=locale))
        return Template(
            "staff_partner_queue/detail.html",
            context={"detail": detail, "labels": LABELS, "reason_max": moderation.REASON_MAX},
        )

    @get("/{partner_id:uuid}/logo")
    async def logo(self, tx: NamedDependency[Tx], partner_id: FromPath[uuid.UUID]) -> Response[bytes]:
        content, media_type = await tx.read(lambda s: moderation.partner_logo(s, partner_id))
        return Response(content, media_type=media_type, headers={"Cache-Control": "private, no-cache"})

    @post("/{partner_id:uuid}/{decision:str}", opt=PARTNER_DECIDE_FORM)
    async def decide(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        partner_id: FromPath[uuid.UUID],
        decision: FromPath[str],
    ) -> Redirect:
        """Approve, reject, ask for changes, suspend or reactivate (a key of ``PARTNER_DECISIONS``)."""
        city = load_city(runtime.settings.city)
        base_url = runtime.settings.base_url
        await tx.run(
            lambda s: moderation.decide_partner(
                s, city, principal, partner_id, decision, form, base_url=base_url, meta=meta
            )
        )
        return redirect_with_flash(web_session, f"/staff/partner-queue/{partner_id}", PARTNER_DONE[decision])


class BenefitQueueController(Controller):
    path = "/staff/benefit-queue"
    opt = QUEUE_OPT
    include_in_schema = False

    @get("/")
    async def queue(
        self, tx: NamedDependency[Tx], page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1
    ) -> Template:
        locale = i18n.current_locale()
        listing = await tx.read(lambda s: benefit_moderation.benefit_queue(s, page, locale=locale))
        return Template("staff_benefit_queue/list.html", context={"listing": listing, "labels": LABELS})

    @get("/{benefit_id:uuid}")
    async def benefit(self, tx: NamedDependency[Tx], benefit_id: FromPath[uuid.UUID]) -> Template:
        locale = i18n.current_locale()
        review = await tx.read(lambda s: benefit_moderation.benefit_review(s, benefit_id, locale))
        return Template(
            "staff_benefit_queue/detail.html",
            context={"review": review, "labels": LABELS, "reason_max": moderation.REASON_MAX},
        )

    @post("/{benefit_id:uuid}/{decision:str}", opt=BENEFIT_DECIDE_FORM)
    async def decide(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        benefit_id: FromPath[uuid.UUID],
        decision: FromPath[str],
    ) -> Redirect:
        """Approve, reject or ask for changes (a key of ``BENEFIT_DECISIONS``)."""
        city = load_city(runtime.settings.city)
        base_url = runtime.settings.base_url
        action = await tx.run(
            lambda s: benefit_moderation.decide_benefit(
                s, city, principal, benefit_id, decision, form, base_url=base_url, meta=meta
            )
        )
        return redirect_with_flash(web_session, f"/staff/benefit-queue/{benefit_id}", BENEFIT_DONE[action])


ROUTES: list[Any] = [PartnerQueueController, BenefitQueueController]
