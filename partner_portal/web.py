"""The partner portal's pages: the start page and the partner owner's API keys."""

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
from familienkarte.accounts.roles import PARTNER_ROLES, Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.db import Tx
from familienkarte.errors import N_, PermissionDenied
from familienkarte.web.flash import redirect_with_flash

KEYS_PATH = "/partner/keys"
KEYS_TEMPLATE = "partner/keys.html"


def own_partner(principal: Principal) -> uuid.UUID:
    """The partner of the signed-in partner user (guarded routes: only partner roles get here)."""
    if principal.partner_id is None:
        raise PermissionDenied()
    return principal.partner_id


class PortalController(Controller):
    path = "/partner"
    opt = roles_opt(PARTNER_ROLES)
    include_in_schema = False

    @get("/")
    async def start(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        start = await tx.run(lambda s: api_keys.portal_start(s, principal))
        return Template("partner/start.html", context={"start": start})


class PortalKeysController(Controller):
    path = KEYS_PATH
    opt = roles_opt(Role.PARTNER_OWNER)
    include_in_schema = False

    @get("/")
    async def keys(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        partner_id = own_partner(principal)
        page = await tx.run(lambda s: api_keys.partner_keys(s, principal, partner_id))
        return Template(KEYS_TEMPLATE, context={"page": page, "form": {}, "errors": {}, "error_summary": None})

    @post("/", opt={"form_template": KEYS_TEMPLATE})
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[ApiKeyForm],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> Template:
        partner_id = own_partner(principal)
        # A refused form is shown again by web.problems with the list and locations read here.
        request.state.key_page = await tx.run(lambda s: api_keys.partner_keys(s, principal, partner_id))
        created = await tx.run(
            lambda s: api_keys.create_key(s, principal, partner_id, data.name, data.location_id, meta=meta)
        )
        return Template("partner/key_created.html", context={"created": created, "back": KEYS_PATH})

    @post("/{key_id:uuid}/revoke")
    async def revoke(
        self,
        key_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        partner_id = own_partner(principal)
        await tx.run(lambda s: api_keys.revoke_key(s, principal, partner_id, key_id, meta=meta))
        return redirect_with_flash(web_session, KEYS_PATH, N_("The key has been revoked. It no longer works."))


ROUTES: list[Any] = [PortalController, PortalKeysController]
