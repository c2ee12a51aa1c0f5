"""Staff pages for issued cards: search, read one card, suspend, reactivate or revoke it, revoke one credential."""

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
from familienkarte.cards import card_status
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

CARDS_OPT = roles_opt(Role.CASEWORKER, Role.ADMIN)
ACTION_FORM = {"form_template": "staff_cards/action.html"}

CARD_STATUS_LABELS: dict[str, str] = {
    "active": N_("Active"),
    "suspended": N_("Suspended"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
}
CREDENTIAL_KIND_LABELS: dict[str, str] = {"phone": N_("Phone"), "printed": N_("Printed card")}
ACTION_LABELS: dict[str, str] = {
    "card.suspended": N_("Card suspended"),
    "card.reactivated": N_("Card reactivated"),
    "card.revoked": N_("Card revoked"),
    "credential.activate": N_("Put on a phone"),
    "credential.revoke": N_("Phone or printed card revoked"),
}
CHANGE_DONE: dict[str, str] = {
    "suspend": N_("The card has been suspended. Its phones and printed cards no longer work."),
    "reactivate": N_("The card is active again. Its phones and printed cards work again."),
    "revoke": N_("The card has been revoked for good."),
}
LABELS = {"status": CARD_STATUS_LABELS, "kind": CREDENTIAL_KIND_LABELS, "action": ACTION_LABELS}
# A refused search shows the form again with the message at the field, and no results.
SEARCH_FORM = {"form_template": "staff_cards/search.html", "form_context": {"results": None, "labels": LABELS}}


def _back(web_session: SessionState, card_id: uuid.UUID, message: str) -> Redirect:
    return redirect_with_flash(web_session, f"/staff/cards/{card_id}", message)


class StaffCardsController(Controller):
    path = "/staff/cards"
    opt = CARDS_OPT
    include_in_schema = False

    @get("/", opt=SEARCH_FORM)
    async def search(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        q: Annotated[str | None, QueryParameter(max_length=1000)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
    ) -> Template:
        today = load_city(runtime.settings.city).today()
        results = await tx.run(lambda s: card_status.search_cards(s, q, page, today=today, actor=principal, meta=meta))
        return Template(
            "staff_cards/search.html",
            context={
                "results": results,
                "form": {"q": results.query},
                "errors": {},
                "error_summary": None,
                "labels": LABELS,
            },
        )

    @get("/{card_id:uuid}")
    async def card(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        card_id: FromPath[uuid.UUID],
    ) -> Template:
        city = load_city(runtime.settings.city)
        detail = await tx.run(lambda s: card_status.staff_card_detail(s, city, card_id, viewer=principal, meta=meta))
        return Template(
            "staff_cards/detail.html",
            context={
                "detail": detail,
                "labels": LABELS,
                "reason_max": card_status.REASON_MAX,
                # The printed-card part of the page.
                "card_id": detail.card.id,
                "prints": detail.prints,
            },
        )

    @post("/{card_id:uuid}/status/{change_name:str}", opt=ACTION_FORM)
    async def change(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        card_id: FromPath[uuid.UUID],
        change_name: FromPath[str],
    ) -> Redirect:
        """Suspend, reactivate or revoke the whole card (``change_name``: a key of ``card_status.CARD_CHANGES``)."""
        city = load_city(runtime.settings.city)
        reason = form.get("reason", "")
        await tx.run(lambda s: card_status.change_card(s, city, principal, card_id, change_name, reason, meta=meta))
        return _back(web_session, card_id, CHANGE_DONE[change_name])

    @post("/{card_id:uuid}/credentials/{credential_id:uuid}/revoke", opt=ACTION_FORM)
    async def revoke_credential(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        card_id: FromPath[uuid.UUID],
        credential_id: FromPath[uuid.UUID],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        reason = form.get("reason", "")
        await tx.run(
            lambda s: card_status.revoke_credential_by_staff(
                s, city, principal, card_id, credential_id, reason, meta=meta
            )
        )
        return _back(
            web_session, card_id, N_("The phone or printed card has been revoked. The card's other ones keep working.")
        )


ROUTES: list[Any] = [StaffCardsController]
