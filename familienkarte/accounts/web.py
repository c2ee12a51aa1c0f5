"""Sign-in and account pages: password and second factor, e-mailed links for families, the user's own account.

Handlers are thin: one service call each. What lives here is what belongs to the web: the session cookie
(a new session id at every sign-in), the rate limiters in the key-value store, and where to go next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from familienkarte.accounts import services
from familienkarte.accounts.guards import PUBLIC_OPT, STAFF_OPT, roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import ALL_ROLES, PASSWORD_ROLES
from familienkarte.accounts.sessions import SessionState
from familienkarte.db import Tx
from familienkarte.errors import N_
from familienkarte.ratelimit import Limiter
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash
from familienkarte.web.problems import login_target

T = TypeVar("T")

# The half-done sign-in between password and code; it carries no user_id, so it grants nothing.
PENDING_KEY = "pending_sign_in"
PENDING_NEXT_KEY = "pending_next"
# Paths that make no sense to return to after signing in.
_NOT_A_TARGET = ("/login", "/logout", "/password/")

Limits = Sequence[tuple[Limiter, str]]


def _blank(**context: Any) -> dict[str, Any]:
    """The context of a form shown for the first time (the same names problems.py uses to show it again)."""
    return {"form": {}, "errors": {}, "error_summary": None, **context}


def _ip(meta: RequestMeta) -> str:
    return f"ip:{meta.ip or 'unknown'}"


async def _counted(tx: Tx, fn: Callable[[Session], T], *, count: Limits, reset: Limits = ()) -> T:
    """Run a service call that checks a secret: refused while limited, failures counted, success resets."""
    for limiter, subject in count:
        await limiter.check(subject)
    try:
        result = await tx.run(fn)
    except services.AttemptRejected:
        for limiter, subject in count:
            await limiter.hit(subject)
        raise
    for limiter, subject in reset:
        await limiter.reset(subject)
    return result


def _target(next_url: str | None, landing: str) -> str:
    if next_url and login_target(next_url) == next_url and not next_url.startswith(_NOT_A_TARGET):
        return next_url
    return landing


def _start_session(web_session: SessionState, signed_in: services.SignedIn) -> None:
    # A new session id at every sign-in, so that an id planted before it (fixation) is worth nothing.
    web_session.rotate()
    for key in (PENDING_KEY, PENDING_NEXT_KEY, "expired"):
        web_session.pop(key)
    web_session["user_id"] = str(signed_in.user_id)
    web_session["epoch"] = signed_in.epoch


def _continue_sign_in(
    web_session: SessionState,
    result: services.SignedIn | services.SecondFactorNeeded,
    next_url: str | None,
) -> Redirect:
    if isinstance(result, services.SecondFactorNeeded):
        web_session.rotate()
        web_session.pop("user_id")
        web_session[PENDING_KEY] = result.to_session()
        web_session[PENDING_NEXT_KEY] = next_url or ""
        return Redirect("/login/totp", status_code=303)
    _start_session(web_session, result)
    return Redirect(_target(next_url, result.landing), status_code=303)


class SignInController(Controller):
    path = "/"
    opt = PUBLIC_OPT
    include_in_schema = False

    @get("/login")
    async def login_page(
        self,
        web_session: NamedDependency[SessionState],
        next_url: Annotated[str | None, QueryParameter(name="next")] = None,
    ) -> Template:
        expired = bool(web_session.get("expired"))
        return Template("accounts/login.html", context=_blank(form={"next": next_url or ""}, expired=expired))

    @post("/login", opt={"form_template": "accounts/login.html"})
    async def login(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        email, password = form.get("email", ""), form.get("password", "")
        account = (runtime.login_limiter, f"account:{services.normalise_email(email)}")
        result = await _counted(
            tx,
            lambda s: services.sign_in_with_password(s, email, password, meta=meta),
            count=[account, (runtime.login_ip_limiter, _ip(meta))],
            reset=[account],
        )
        return _continue_sign_in(web_session, result, form.get("next"))

    @get("/login/totp")
    async def second_factor_page(self, web_session: NamedDependency[SessionState]) -> Template | Redirect:
        if services.SecondFactorNeeded.from_session(web_session.get(PENDING_KEY)) is None:
            return Redirect("/login", status_code=303)
        return Template("accounts/login_totp.html", context=_blank())

    @post("/login/totp", opt={"form_template": "accounts/login_totp.html"})
    async def second_factor(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        pending = services.SecondFactorNeeded.from_session(web_session.get(PENDING_KEY))
        account = (runtime.login_limiter, f"totp:{pending.user_id if pending else 'none'}")
        signed_in = await _counted(
            tx,
            lambda s: services.sign_in_second_factor(
                s, pending, form.get("code", ""), secret_key=runtime.settings.secret_key, meta=meta
            ),
            count=[account, (runtime.login_ip_limiter, _ip(meta))],
            reset=[account],
        )
        next_url = web_session.get(PENDING_NEXT_KEY)
        _start_session(web_session, signed_in)
        return Redirect(_target(next_url, signed_in.landing), status_code=303)

    @get("/login/family")
    async def family_login_page(self) -> Template:
        return Template("accounts/family_login.html", context=_blank())

    @post("/login/family", opt={"form_template": "accounts/family_login.html"})
    async def family_login(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        email = form.get("email", "")
        # Every request counts (not only failures): each one may send an e-mail.
        await runtime.link_limiter.consume(f"email:{services.normalise_email(email)}")
        await runtime.login_ip_limiter.consume(f"link-{_ip(meta)}")
        settings = runtime.settings
        await tx.run(
            lambda s: services.request_family_link(
                s, email, base_url=settings.base_url, minutes=settings.login_link_minutes, meta=meta
            )
        )
        return Redirect("/login/family/sent", status_code=303)

    @get("/login/family/sent")
    async def family_link_sent(self, runtime: NamedDependency[Runtime]) -> Template:
        return Template("accounts/family_link_sent.html", context={"minutes": runtime.settings.login_link_minutes})

    @get("/login/family/{token:str}", opt={"form_template": "accounts/family_link.html"})
    async def family_link_page(self, tx: NamedDependency[Tx], token: FromPath[str]) -> Template:
        # Only looking: mail scanners that open every link must not use it up.
        await tx.run(lambda s: services.check_family_link(s, token))
        return Template("accounts/family_link.html", context=_blank())

    @post("/login/family/{token:str}", opt={"form_template": "accounts/family_link.html"})
    async def family_link_sign_in(
        self,
        tx: NamedDependency[Tx],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        token: FromPath[str],
    ) -> Redirect:
        signed_in = await tx.run(lambda s: services.sign_in_with_link(s, token, meta=meta))
        _start_session(web_session, signed_in)
        return redirect_with_flash(web_session, signed_in.landing, N_("You are signed in."))

    @post("/logout")
    async def logout(
        self,
        tx: NamedDependency[Tx],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        maybe_principal: NamedDependency[Principal | None],
    ) -> Redirect:
        await tx.run(lambda s: services.record_sign_out(s, maybe_principal, meta=meta))
        web_session.clear()
        return redirect_with_flash(web_session, "/", N_("You are signed out."))

    @get("/password/forgot")
    async def forgot_password_page(self) -> Template:
        return Template("accounts/password_forgot.html", context=_blank())

    @post("/password/forgot", opt={"form_template": "accounts/password_forgot.html"})
    async def forgot_password(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        email = form.get("email", "")
        await runtime.link_limiter.consume(f"reset:{services.normalise_email(email)}")
        await runtime.login_ip_limiter.consume(f"reset-{_ip(meta)}")
        base_url = runtime.settings.base_url
        await tx.run(lambda s: services.request_password_reset(s, email, base_url=base_url, meta=meta))
        return Redirect("/password/forgot/sent", status_code=303)

    @get("/password/forgot/sent")
    async def forgot_password_sent(self) -> Template:
        return Template("accounts/password_forgot_sent.html", context={"minutes": services.RESET_LINK_MINUTES})

    @get("/password/set/{token:str}", opt={"form_template": "accounts/password_set.html"})
    async def set_password_page(self, tx: NamedDependency[Tx], token: FromPath[str]) -> Template:
        email = await tx.run(lambda s: services.check_set_password_link(s, token))
        return Template("accounts/password_set.html", context=_blank(email=email))

    @post("/password/set/{token:str}", opt={"form_template": "accounts/password_set.html"})
    async def set_password(
        self,
        tx: NamedDependency[Tx],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
        token: FromPath[str],
    ) -> Redirect:
        password, confirm = form.get("password", ""), form.get("password_confirm", "")
        await tx.run(lambda s: services.set_password_with_link(s, token, password, confirm, meta=meta))
        return redirect_with_flash(web_session, "/login", N_("Your password is set. You can sign in with it now."))


class AccountController(Controller):
    """The signed-in user's own account; partner API keys have none."""

    path = "/account"
    opt = roles_opt(ALL_ROLES)
    include_in_schema = False

    @get("/")
    async def account_page(self, principal: NamedDependency[Principal]) -> Template:
        label = services.ROLE_LABELS[principal.role.value]
        return Template("accounts/account.html", context={"role_label": label})

    @get("/password", opt=roles_opt(PASSWORD_ROLES))
    async def change_password_page(self) -> Template:
        return Template("accounts/password_change.html", context=_blank())

    @post("/password", opt={**roles_opt(PASSWORD_ROLES), "form_template": "accounts/password_change.html"})
    async def change_password(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        current, new = form.get("current_password", ""), form.get("new_password", "")
        confirm = form.get("password_confirm", "")
        account = (runtime.login_limiter, f"account:{services.normalise_email(principal.email or '')}")
        epoch = await _counted(
            tx,
            lambda s: services.change_password(s, principal, current, new, confirm, meta=meta),
            count=[account, (runtime.login_ip_limiter, _ip(meta))],
        )
        # Every other session has ended; this one goes on under a new id.
        web_session.rotate()
        web_session["epoch"] = epoch
        return redirect_with_flash(
            web_session,
            "/account",
            N_("Your password has been changed. You have been signed out on your other devices."),
        )

    @post("/sign-out-everywhere")
    async def sign_out_everywhere(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        await tx.run(lambda s: services.sign_out_everywhere(s, principal, meta=meta))
        web_session.clear()
        return redirect_with_flash(
            web_session, "/login", N_("You have been signed out on all devices, this one included.")
        )

    @get("/totp", opt=STAFF_OPT)
    async def totp_page(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> Template:
        secret_key = runtime.settings.secret_key
        status = await tx.run(lambda s: services.totp_status(s, principal, secret_key=secret_key))
        return Template("accounts/totp.html", context=_blank(status=status))

    @post("/totp/setup", opt=STAFF_OPT)
    async def start_totp_setup(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> Redirect:
        secret_key = runtime.settings.secret_key
        await tx.run(lambda s: services.start_totp_setup(s, principal, secret_key=secret_key))
        return Redirect("/account/totp", status_code=303)

    @post("/totp/confirm", opt={**STAFF_OPT, "form_template": "accounts/totp.html"})
    async def confirm_totp(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        code, secret_key = form.get("code", ""), runtime.settings.secret_key
        await _counted(
            tx,
            lambda s: services.confirm_totp(s, principal, code, secret_key=secret_key, meta=meta),
            count=[(runtime.login_limiter, f"totp:{principal.user_id}"), (runtime.login_ip_limiter, _ip(meta))],
        )
        return redirect_with_flash(
            web_session,
            "/account",
            N_("Two-step sign-in is on. From now on you will be asked for a code when you sign in."),
        )

    @post("/totp/disable", opt={**STAFF_OPT, "form_template": "accounts/totp.html"})
    async def disable_totp(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
        form: NamedDependency[dict[str, str]],
    ) -> Redirect:
        code, secret_key = form.get("code", ""), runtime.settings.secret_key
        await _counted(
            tx,
            lambda s: services.disable_totp(s, principal, code, secret_key=secret_key, meta=meta),
            count=[(runtime.login_limiter, f"totp:{principal.user_id}"), (runtime.login_ip_limiter, _ip(meta))],
        )
        return redirect_with_flash(web_session, "/account", N_("Two-step sign-in is off."))


ROUTES: list[Any] = [SignInController, AccountController]
