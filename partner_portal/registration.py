"""Public pages: a partner registers without help from the city and confirms the owner's e-mail address."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.accounts.principal import RequestMeta
from familienkarte.accounts.sessions import SessionState
from familienkarte.city import City, load_city
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.partners import services
from familienkarte.partners.vocabulary import ACCESSIBILITY_FEATURES, CATEGORIES, LEGAL_FORMS, WEEKDAYS
from familienkarte.ratelimit import Limiter
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

REGISTER_PATH = "/partner/register"
REGISTER_TEMPLATE = "partner/register.html"
CONFIRM_TEMPLATE = "partner/register_confirm.html"


def city_of(request: Request[Any, Any, Any]) -> City:
    runtime: Runtime = request.app.state["fk"]
    return load_city(runtime.settings.city)


# What the partner forms offer; also handed to a form shown again by web.problems.
VOCABULARY: dict[str, Any] = {
    "city_of": city_of,
    "legal_forms": LEGAL_FORMS,
    "categories": CATEGORIES,
    "accessibility_features": ACCESSIBILITY_FEATURES,
    "weekdays": WEEKDAYS,
    "description_max": services.DESCRIPTION_MAX,
    "note_max": services.NOTE_MAX,
    "terms_version": services.TERMS_VERSION,
}


SENT_TEMPLATE = "partner/register_sent.html"
SENT_CONTEXT: dict[str, Any] = {"email": None, "hours": services.CONFIRM_LINK_HOURS}


def registration_limiter(runtime: Runtime) -> Limiter:
    return Limiter(runtime.kv, "partner-register", services.REGISTRATIONS_PER_IP, services.REGISTRATION_WINDOW_SECONDS)


class RegistrationController(Controller):
    path = REGISTER_PATH
    opt = PUBLIC_OPT
    include_in_schema = False

    @get("/")
    async def form_page(self) -> Template:
        context = {"form": {}, "errors": {}, "error_summary": None, **VOCABULARY}
        return Template(REGISTER_TEMPLATE, context=context)

    @post("/", opt={"form_template": REGISTER_TEMPLATE, "form_context": VOCABULARY})
    async def register(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        # Every attempt counts: each one hashes a password and may send an e-mail.
        await registration_limiter(runtime).consume(f"ip:{meta.ip or 'unknown'}")
        city, base_url = load_city(runtime.settings.city), runtime.settings.base_url
        registered = await tx.run(lambda s: services.register_partner(s, city, form, base_url=base_url, meta=meta))
        web_session["partner_registered"] = registered.email
        return Redirect(f"{REGISTER_PATH}/sent", status_code=303)

    @get("/sent")
    async def sent(self, web_session: NamedDependency[SessionState]) -> Template:
        email = web_session.get("partner_registered")
        context = {
            "email": email if isinstance(email, str) else None,
            "hours": services.CONFIRM_LINK_HOURS,
            "form": {"email": email} if isinstance(email, str) else {},
            "errors": {},
            "error_summary": None,
        }
        return Template(SENT_TEMPLATE, context=context)

    @post("/resend", opt={"form_template": SENT_TEMPLATE, "form_context": SENT_CONTEXT})
    async def resend(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        # Counted like registrations: each attempt may send an e-mail.
        await registration_limiter(runtime).consume(f"ip:{meta.ip or 'unknown'}")
        city, base_url = load_city(runtime.settings.city), runtime.settings.base_url
        email = form.get("email", "")
        await tx.run(lambda s: services.resend_confirmation(s, city, email, base_url=base_url, meta=meta))
        return redirect_with_flash(
            web_session,
            f"{REGISTER_PATH}/sent",
            N_("If a registration with this address is waiting for its confirmation, we have sent a new link to it."),
        )

    @get("/confirm/{token:str}", opt={"form_template": CONFIRM_TEMPLATE})
    async def confirm_page(self, tx: NamedDependency[Tx], token: FromPath[str]) -> Template:
        # Only looking: mail scanners that open every link must not use it up.
        await tx.read(lambda s: services.check_confirmation_link(s, token))
        return Template(CONFIRM_TEMPLATE, context={"form": {}, "errors": {}, "error_summary": None})

    @post("/confirm/{token:str}", opt={"form_template": CONFIRM_TEMPLATE})
    async def confirm(
        self,
        tx: NamedDependency[Tx],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        token: FromPath[str],
    ) -> Redirect:
        await tx.run(lambda s: services.confirm_partner_email(s, token, meta=meta))
        return redirect_with_flash(
            web_session,
            "/login",
            N_(
                "Thank you, your e-mail address is confirmed. The city now checks your registration and lets you know "
                "by e-mail. You can already sign in and complete your details."
            ),
        )


ROUTES: list[Any] = [RegistrationController]
