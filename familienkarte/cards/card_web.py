"""The family's card page: the card with its code, and the list of phones and printed cards to revoke."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.cards import credentials, printing
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

CARD_PATH = "/card"


class CardPageController(Controller):
    path = CARD_PATH
    opt = roles_opt(Role.FAMILY)
    include_in_schema = False

    @get("/")
    async def card_page(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        web_session: NamedDependency[SessionState],
    ) -> Template:
        city = load_city(runtime.settings.city)
        page = await tx.read(lambda s: printing.family_card_page(s, principal, city, utcnow()))
        # The session's token for the page's JSON requests (X-CSRF-Token). Litestar's own template callable named
        # csrf_token shadows the project's global of that name, so the token is handed over here.
        return Template("cards/card.html", context={"card": page.card, "page": page, "csrf": web_session.csrf_token()})

    @post("/credentials/{credential_id:uuid}/revoke")
    async def revoke(
        self,
        credential_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: credentials.revoke_credential(s, principal, credential_id, utcnow(), meta=meta))
        return redirect_with_flash(web_session, CARD_PATH, N_("Removed. The code on that device no longer works."))


ROUTES: list[Any] = [CardPageController]
