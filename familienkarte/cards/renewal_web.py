"""The family's renewal page: the household's facts, the card's end, and the form that renews it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect, Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.cards import expiry
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

# The page's facts, kept on the request so that the form shown again with errors still lists them.
VIEW_KEY = "renewal_view"


def renewal_of(request: Request[Any, Any, Any]) -> expiry.RenewalView | None:
    view: expiry.RenewalView | None = request.state.get(VIEW_KEY)
    return view


async def provide_renewal(
    request: Request[Any, Any, Any],
    tx: NamedDependency[Tx],
    runtime: NamedDependency[Runtime],
    principal: NamedDependency[Principal],
) -> expiry.RenewalView:
    city = load_city(runtime.settings.city)
    view = await tx.read(lambda s: expiry.renewal_view(s, principal, city, utcnow()))
    request.state[VIEW_KEY] = view
    return view


FORM_CONTEXT: dict[str, Any] = {"renewal_of": renewal_of}
RENEW_FORM = {"form_template": "cards/renew.html", "form_context": FORM_CONTEXT}


class RenewalController(Controller):
    path = expiry.RENEW_PATH
    opt = roles_opt(Role.FAMILY)
    include_in_schema = False
    dependencies = {"renewal": Provide(provide_renewal)}

    @get("/")
    async def renewal_page(self, renewal: NamedDependency[expiry.RenewalView]) -> Template:
        context = {"form": {}, "errors": {}, "error_summary": None, **FORM_CONTEXT}
        return Template("cards/renew.html", context=context)

    @post("/", opt=RENEW_FORM)
    async def renew(
        self,
        renewal: NamedDependency[expiry.RenewalView],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        base_url = runtime.settings.base_url
        await tx.run(lambda s: expiry.renew_card(s, principal, city, form, utcnow(), meta, base_url=base_url))
        return redirect_with_flash(web_session, expiry.CARD_PATH, N_("Thank you. Your family card has been renewed."))


ROUTES: list[Any] = [RenewalController]
