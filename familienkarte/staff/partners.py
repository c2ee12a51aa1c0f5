"""Staff pages for partners: the list with each partner's status, and every partner's API keys."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from familienkarte.accounts import api_keys
from familienkarte.accounts.api_key_schemas import ApiKeyForm
from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.web.flash import redirect_with_flash

KEYS_TEMPLATE = "staff_partners/keys.html"


def keys_path(partner_id: uuid.UUID) -> str:
    return f"/staff/partners/{partner_id}/keys"


class StaffPartnersController(Controller):
    path = "/staff/partners"
    opt = roles_opt(Role.ADMIN, Role.PARTNER_MANAGER)
    include_in_schema = False

    @get("/")
    async def partners(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        partners = await tx.run(lambda s: api_keys.partners_overview(s, principal))
        return Template("staff_partners/list.html", context={"partners": partners})

    @get("/{partner_id:uuid}/keys")
    async def keys(
        self, partner_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], principal: NamedDependency[Principal]
    ) -> Template:
        page = await tx.run(lambda s: api_keys.partner_keys(s, principal, partner_id))
        return Template(KEYS_TEMPLATE, context={"page": page, "form": {}, "errors": {}, "error_summary": None})

    @post("/{partner_id:uuid}/keys", opt={"form_template": KEYS_TEMPLATE})
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        partner_id: FromPath[uuid.UUID],
        data: URLEncodedBody[ApiKeyForm],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> Template:
        # A refused form is shown again by web.problems with the list and locations read here.
        request.state.key_page = await tx.run(lambda s: api_keys.partner_keys(s, principal, partner_id))
        created = await tx.run(
            lambda s: api_keys.create_key(s, principal, partner_id, data.name, data.location_id, meta=meta)
        )
        return Template(
            "staff_partners/key_created.html",
            context={
                "created": created,
                "partner_name": request.state.key_page.partner_name,
                "back": keys_path(partner_id),
            },
        )

    @post("/{partner_id:uuid}/keys/{key_id:uuid}/revoke")
    async def revoke_key(
        self,
        partner_id: FromPath[uuid.UUID],
        key_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: api_keys.revoke_key(s, principal, partner_id, key_id, meta=meta))
        return redirect_with_flash(
            web_session, keys_path(partner_id), N_("The key has been revoked. It no longer works.")
        )


ROUTES: list[Any] = [StaffPartnersController]
