"""The partner owner's pages: the organisation's profile, its logo, its locations and its cashiers."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.partners import logos, services
from familienkarte.partners.logo_web import logo_response
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash
from partner_portal.registration import VOCABULARY

PROFILE_TEMPLATE = "partner/profile.html"
LOGO_TEMPLATE = "partner/profile_logo.html"
LOCATION_TEMPLATE = "partner/locations_form.html"
CASHIERS_TEMPLATE = "partner/cashiers.html"
OWNER_OPT = roles_opt(Role.PARTNER_OWNER)
LOCATION_FORM = {"form_template": LOCATION_TEMPLATE, "form_context": {**VOCABULARY, "location": None}}


def _blank(**context: Any) -> dict[str, Any]:
    return {"form": {}, "errors": {}, "error_summary": None, **VOCABULARY, **context}


async def _upload(request: Request[Any, Any, Any]) -> bytes:
    """The uploaded file's bytes (the form was parsed once, by the CSRF check); at most one byte over the limit."""
    upload = (await request.form()).get("logo")
    if not isinstance(upload, UploadFile):
        return b""
    return await upload.read(logos.MAX_BYTES + 1)


class ProfileController(Controller):
    path = "/partner"
    opt = OWNER_OPT
    include_in_schema = False

    @get("/profile")
    async def profile(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        profile = await tx.read(lambda s: services.partner_profile(s, principal))
        return Template(PROFILE_TEMPLATE, context=_blank(profile=profile, form=profile.form))

    @post("/profile", opt={"form_template": PROFILE_TEMPLATE, "form_context": VOCABULARY})
    async def update(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        await tx.run(lambda s: services.update_profile(s, principal, form, meta=meta))
        return redirect_with_flash(web_session, "/partner/profile", N_("Your details have been saved."))

    @post("/profile/resubmit")
    async def resubmit(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: services.resubmit_partner(s, principal, meta=meta))
        return redirect_with_flash(
            web_session, "/partner/profile", N_("Your registration has been sent to the city again.")
        )

    @get("/logo")
    async def logo_page(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        profile = await tx.read(lambda s: services.partner_profile(s, principal))
        return Template(LOGO_TEMPLATE, context=_blank(profile=profile, max_megabytes=logos.MAX_BYTES // 2**20))

    @post("/logo", opt={"form_template": LOGO_TEMPLATE, "form_context": {"max_megabytes": logos.MAX_BYTES // 2**20}})
    async def upload_logo(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        raw = await _upload(request)
        await tx.run(lambda s: services.set_logo(s, principal, raw, meta=meta))
        return redirect_with_flash(web_session, "/partner/logo", N_("Your logo has been saved."))

    @post("/logo/remove")
    async def remove_logo(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: services.remove_logo(s, principal, meta=meta))
        return redirect_with_flash(web_session, "/partner/logo", N_("Your logo has been removed."))

    @get("/logo/image")
    async def own_logo(
        self, request: Request[Any, Any, Any], tx: NamedDependency[Tx], principal: NamedDependency[Principal]
    ) -> Response[bytes]:
        logo = await tx.read(lambda s: services.own_logo(s, principal))
        return logo_response(request, logo, public=False)


class LocationsController(Controller):
    path = "/partner/locations"
    opt = OWNER_OPT
    include_in_schema = False

    @get("/")
    async def locations(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        locations = await tx.read(lambda s: services.list_locations(s, principal))
        return Template("partner/locations.html", context={"locations": locations, **VOCABULARY})

    @get("/new")
    async def new_page(self) -> Template:
        return Template(LOCATION_TEMPLATE, context=_blank(location=None))

    @post("/new", opt=LOCATION_FORM)
    async def create(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        await tx.run(lambda s: services.add_location(s, principal, city, form, meta=meta))
        return redirect_with_flash(web_session, "/partner/locations", N_("The location has been added."))

    @get("/{location_id:uuid}")
    async def edit_page(
        self, location_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], principal: NamedDependency[Principal]
    ) -> Template:
        edit = await tx.read(lambda s: services.location_for_edit(s, principal, location_id))
        return Template(LOCATION_TEMPLATE, context=_blank(location=edit.location, form=edit.form))

    @post("/{location_id:uuid}", opt=LOCATION_FORM)
    async def update(
        self,
        location_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        await tx.run(lambda s: services.update_location(s, principal, city, location_id, form, meta=meta))
        return redirect_with_flash(web_session, "/partner/locations", N_("The location has been saved."))

    @post("/{location_id:uuid}/deactivate")
    async def deactivate(
        self,
        location_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: services.deactivate_location(s, principal, location_id, meta=meta))
        return redirect_with_flash(
            web_session, "/partner/locations", N_("The location has been closed. It is no longer shown to families.")
        )


class CashiersController(Controller):
    path = "/partner/cashiers"
    opt = OWNER_OPT
    include_in_schema = False

    @get("/")
    async def cashiers(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        cashiers = await tx.read(lambda s: services.list_cashiers(s, principal))
        return Template(CASHIERS_TEMPLATE, context=_blank(cashiers=cashiers))

    @post("/", opt={"form_template": CASHIERS_TEMPLATE})
    async def invite(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        # A refused form is shown again by web.problems with the list read here.
        request.state.cashiers = await tx.read(lambda s: services.list_cashiers(s, principal))
        base_url = runtime.settings.base_url
        await tx.run(lambda s: services.invite_cashier(s, principal, form, base_url=base_url, meta=meta))
        return redirect_with_flash(
            web_session,
            "/partner/cashiers",
            N_("The invitation has been sent. The cashier chooses a password with the link in it."),
        )

    @post("/{user_id:uuid}/deactivate")
    async def deactivate(
        self,
        user_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: services.deactivate_cashier(s, principal, user_id, meta=meta))
        return redirect_with_flash(
            web_session, "/partner/cashiers", N_("The cashier account has been deactivated and signed out everywhere.")
        )

    @post("/{user_id:uuid}/resend")
    async def resend(
        self,
        user_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        base_url = runtime.settings.base_url
        await tx.run(lambda s: services.resend_cashier_invitation(s, principal, user_id, base_url=base_url, meta=meta))
        return redirect_with_flash(web_session, "/partner/cashiers", N_("A new link has been sent to the cashier."))


ROUTES: list[Any] = [ProfileController, LocationsController, CashiersController]
