"""The staff area: its start page for every staff role, staff accounts and the audit log for administrators."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from familienkarte.accounts import services
from familienkarte.accounts.guards import STAFF_OPT, roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

ADMIN_OPT = roles_opt(Role.ADMIN)


@dataclass(frozen=True)
class StaffArea:
    title: str
    description: str
    path: str
    roles: frozenset[Role]


# The areas of the staff area and who works in each; the start page lists those of the reader's role.
STAFF_AREAS: tuple[StaffArea, ...] = (
    StaffArea(
        N_("Applications and cards"),
        N_("Decide applications, issue, renew and revoke cards."),
        "/staff/applications",
        frozenset({Role.CASEWORKER}),
    ),
    StaffArea(
        N_("Partners and benefits"),
        N_("Approve or suspend partners and moderate their benefits."),
        "/staff/partners",
        frozenset({Role.PARTNER_MANAGER, Role.ADMIN}),
    ),
    StaffArea(
        N_("Statistics"),
        N_("Redemptions, cards, families reached and fraud signals, with filters."),
        "/staff/statistics",
        frozenset({Role.ANALYST, Role.ADMIN}),
    ),
    StaffArea(
        N_("Staff accounts"),
        N_("Add colleagues, change their roles, deactivate accounts."),
        "/staff/users",
        frozenset({Role.ADMIN}),
    ),
    StaffArea(
        N_("Audit log"),
        N_("Who did what, and when."),
        "/staff/audit",
        frozenset({Role.ADMIN}),
    ),
)


def areas_for(role: Role) -> list[StaffArea]:
    return [area for area in STAFF_AREAS if role in area.roles]


class StaffHomeController(Controller):
    path = "/staff"
    opt = STAFF_OPT
    include_in_schema = False

    @get("/")
    async def staff_home(self, principal: NamedDependency[Principal]) -> Template:
        return Template(
            "staff/home.html",
            context={"areas": areas_for(principal.role), "role_label": services.ROLE_LABELS[principal.role.value]},
        )


def _back_to(web_session: SessionState, user_id: uuid.UUID, message: str) -> Redirect:
    return redirect_with_flash(web_session, f"/staff/users/{user_id}", message)


_ROLE_CHOICES = {"role_choices": services.STAFF_ROLE_CHOICES}
_USER_FORM = {"form_template": "staff/user.html", "form_context": _ROLE_CHOICES}


class StaffAccountsController(Controller):
    """Staff accounts and the audit log: administrators only."""

    path = "/staff"
    opt = ADMIN_OPT
    include_in_schema = False

    @get("/users")
    async def list_users(self, tx: NamedDependency[Tx]) -> Template:
        accounts = await tx.run(services.list_staff_accounts)
        return Template("staff/users.html", context={"accounts": accounts})

    @get("/users/new")
    async def new_user_page(self) -> Template:
        return Template(
            "staff/user_new.html",
            context={"form": {"role": Role.CASEWORKER.value}, "errors": {}, "error_summary": None, **_ROLE_CHOICES},
        )

    @post("/users/new", opt={"form_template": "staff/user_new.html", "form_context": _ROLE_CHOICES})
    async def create_user(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        base_url = runtime.settings.base_url
        await tx.run(
            lambda s: services.create_staff_user(
                s,
                principal,
                email=form.get("email", ""),
                display_name=form.get("display_name", ""),
                role=form.get("role", ""),
                base_url=base_url,
                meta=meta,
            )
        )
        return redirect_with_flash(
            web_session,
            "/staff/users",
            N_("The account has been created. We have e-mailed a link to choose a password."),
        )

    @get("/users/{user_id:uuid}")
    async def user_page(self, tx: NamedDependency[Tx], user_id: FromPath[uuid.UUID]) -> Template:
        account = await tx.run(lambda s: services.get_staff_account(s, user_id))
        return Template(
            "staff/user.html",
            context={
                "account": account,
                "form": {"role": account.role},
                "errors": {},
                "error_summary": None,
                **_ROLE_CHOICES,
            },
        )

    @post("/users/{user_id:uuid}/role", opt=_USER_FORM)
    async def change_role(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        user_id: FromPath[uuid.UUID],
    ) -> Redirect:
        role = form.get("role", "")
        await tx.run(lambda s: services.change_staff_role(s, principal, user_id, role, meta=meta))
        return _back_to(web_session, user_id, N_("The role has been changed."))

    @post("/users/{user_id:uuid}/deactivate", opt=_USER_FORM)
    async def deactivate_user(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        user_id: FromPath[uuid.UUID],
    ) -> Redirect:
        await tx.run(lambda s: services.deactivate_staff_user(s, principal, user_id, meta=meta))
        return _back_to(web_session, user_id, N_("The account has been deactivated and signed out everywhere."))

    @post("/users/{user_id:uuid}/activate", opt=_USER_FORM)
    async def activate_user(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        user_id: FromPath[uuid.UUID],
    ) -> Redirect:
        await tx.run(lambda s: services.activate_staff_user(s, principal, user_id, meta=meta))
        return _back_to(web_session, user_id, N_("The account has been activated."))

    @post("/users/{user_id:uuid}/password-link", opt=_USER_FORM)
    async def send_password_link(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        user_id: FromPath[uuid.UUID],
    ) -> Redirect:
        base_url = runtime.settings.base_url
        await tx.run(lambda s: services.resend_staff_invitation(s, principal, user_id, base_url=base_url, meta=meta))
        return _back_to(web_session, user_id, N_("A new link to choose a password has been e-mailed."))

    @post("/users/{user_id:uuid}/reset-totp", opt=_USER_FORM)
    async def reset_totp(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        user_id: FromPath[uuid.UUID],
    ) -> Redirect:
        await tx.run(lambda s: services.reset_staff_totp(s, principal, user_id, meta=meta))
        return _back_to(web_session, user_id, N_("Two-step sign-in has been turned off for this account."))

    @get("/audit")
    async def audit_log(
        self,
        tx: NamedDependency[Tx],
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        action: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> Template:
        log = await tx.run(lambda s: services.audit_log(s, page=page, action=action))
        return Template("staff/audit.html", context={"log": log})


ROUTES: list[Any] = [StaffHomeController, StaffAccountsController]
