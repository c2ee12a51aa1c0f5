"""The family's data pages under ``/card/data`` and ``GET /api/v1/me/data``: download, change, delete.

The link that confirms a new e-mail address is public: the person who opens it may not be signed in on that
device, and the link itself proves the address. Opening it only shows a button (mail scanners open links); the
change is made by the form, and nobody is signed in by it.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import Redirect, Template

from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.guards import PUBLIC_OPT, roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.cards import family_data
from familienkarte.cards.family_data import DATA_PATH, EMAIL_CONFIRM_PATH, DataExport
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

NO_STORE = CacheControlHeader(no_store=True)
_EMAIL_FORM = {"form_template": "family_data/email.html"}
_LANGUAGE_FORM = {"form_template": "family_data/language.html"}
_ADULT_FORM = {"form_template": "family_data/adult_new.html"}
_DELETE_FORM = {"form_template": "family_data/delete.html"}
_CONFIRM_FORM = {"form_template": "family_data/email_confirm.html"}


def _blank(**context: Any) -> dict[str, Any]:
    """The context of a form shown for the first time (the same names problems.py uses to show it again)."""
    return {"form": {}, "errors": {}, "error_summary": None, **context}


class FamilyDataController(Controller):
    path = DATA_PATH
    opt = roles_opt(Role.FAMILY)
    include_in_schema = False

    @get("/")
    async def overview(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> Template:
        city = load_city(runtime.settings.city)
        data = await tx.read(lambda s: family_data.overview(s, principal, city))
        return Template("family_data/overview.html", context={"data": data, "languages": city.languages})

    @get("/export.json", cache_control=NO_STORE)
    async def download(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> Response[dict[str, Any]]:
        city = load_city(runtime.settings.city)
        now = utcnow()
        data = await tx.read(lambda s: family_data.export_data(s, principal, city, now))
        name = f"familienkarte-data-{now.date().isoformat()}.json"
        return Response(
            data, media_type=MediaType.JSON, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @get("/email")
    async def email_page(self, principal: NamedDependency[Principal]) -> Template:
        return Template("family_data/email.html", context=_blank(current=principal.email))

    @post("/email", opt=_EMAIL_FORM)
    async def request_email_change(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        # Each request sends an e-mail to an address of the person's choosing: limited like sign-in links.
        await runtime.link_limiter.consume(f"email-change:{principal.user_id}")
        city, base_url = load_city(runtime.settings.city), runtime.settings.base_url
        await tx.run(
            lambda s: family_data.request_email_change(
                s, principal, city, form.get("email", ""), base_url=base_url, now=utcnow(), meta=meta
            )
        )
        return redirect_with_flash(
            web_session,
            DATA_PATH,
            N_("We have sent a link to your new address. Your address changes as soon as you open it."),
        )

    @get("/language")
    async def language_page(self, runtime: NamedDependency[Runtime]) -> Template:
        city = load_city(runtime.settings.city)
        return Template("family_data/language.html", context=_blank(languages=city.languages))

    @post("/language", opt=_LANGUAGE_FORM)
    async def change_language(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        locale = await tx.run(
            lambda s: family_data.change_language(s, principal, city, form.get("locale", ""), meta=meta)
        )
        # ?lang= switches the pages as well (and is remembered in the browser).
        return redirect_with_flash(web_session, f"{DATA_PATH}?lang={locale}", N_("The language has been changed."))

    @get("/adults/new")
    async def add_adult_page(self, runtime: NamedDependency[Runtime]) -> Template:
        city = load_city(runtime.settings.city)
        return Template("family_data/adult_new.html", context=_blank(max_adults=city.eligibility.max_adults))

    @post("/adults", opt=_ADULT_FORM)
    async def add_adult(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        city, base_url = load_city(runtime.settings.city), runtime.settings.base_url
        await tx.run(
            lambda s: family_data.add_adult(s, principal, city, form, base_url=base_url, now=utcnow(), meta=meta)
        )
        return redirect_with_flash(
            web_session, DATA_PATH, N_("The adult has been added. We have sent them an e-mail with a sign-in link.")
        )

    @get("/adults/{adult_id:uuid}/remove")
    async def remove_adult_page(
        self, adult_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], principal: NamedDependency[Principal]
    ) -> Template:
        adult = await tx.read(lambda s: family_data.removal_preview(s, principal, adult_id))
        return Template("family_data/adult_remove.html", context={"adult": adult})

    @post("/adults/{adult_id:uuid}/remove")
    async def remove_adult(
        self,
        adult_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        await tx.run(lambda s: family_data.remove_adult(s, principal, city, adult_id, now=utcnow(), meta=meta))
        return redirect_with_flash(
            web_session,
            DATA_PATH,
            N_("The adult has been removed from the card. The card no longer works on their phones."),
        )

    @get("/delete")
    async def delete_page(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        preview = await tx.read(lambda s: family_data.deletion_preview(s, principal))
        return Template("family_data/delete.html", context=_blank(preview=preview))

    @post("/delete", opt=_DELETE_FORM)
    async def delete_account(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        confirmation = form.get("confirmation", "")
        await tx.run(lambda s: family_data.delete_account(s, principal, confirmation, now=utcnow(), meta=meta))
        web_session.clear()
        return redirect_with_flash(web_session, "/", N_("Your account has been deleted and you have been signed out."))


class EmailConfirmController(Controller):
    path = EMAIL_CONFIRM_PATH
    opt = PUBLIC_OPT
    include_in_schema = False

    @get("/{token:str}", opt=_CONFIRM_FORM)
    async def confirm_page(self, tx: NamedDependency[Tx], token: FromPath[str]) -> Template:
        # Only looking: mail scanners that open every link must not use it up.
        email = await tx.read(lambda s: family_data.check_email_change_link(s, token, utcnow()))
        return Template("family_data/email_confirm.html", context=_blank(new_email=email))

    @post("/{token:str}", opt=_CONFIRM_FORM)
    async def confirm(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        maybe_principal: NamedDependency[Principal | None],
        token: FromPath[str],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        user_id = await tx.run(lambda s: family_data.confirm_email_change(s, city, token, now=utcnow(), meta=meta))
        signed_in_here = maybe_principal is not None and maybe_principal.user_id == user_id
        return redirect_with_flash(
            web_session, DATA_PATH if signed_in_here else "/login/family", N_("Your e-mail address has been changed.")
        )


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type="application/problem+json", description=description, generate_examples=False
    )


class MyDataController(Controller):
    path = "/api/v1/me/data"
    tags = ["family data"]
    opt = roles_opt(Role.FAMILY)
    security = [{"session": []}]

    @get(
        "/",
        summary="Everything held about me",
        description="The signed-in family user's account, household, adults, children, applications, cards, "
        "credentials, printed-card orders, the e-mails sent to the household and the audit entries about its "
        "records: the same document as the download on the data page (`format_version` "
        f"{family_data.FORMAT_VERSION}). Not cached.",
        cache_control=NO_STORE,
        responses={
            401: _problem("Not signed in."),
            403: _problem("Not a family account."),
        },
    )
    async def my_data(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> DataExport:
        city = load_city(runtime.settings.city)
        return await tx.read(lambda s: family_data.export(s, principal, city, utcnow()))


ROUTES: list[Any] = [FamilyDataController, EmailConfirmController, MyDataController]
