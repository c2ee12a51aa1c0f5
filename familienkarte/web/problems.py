"""The one place that maps errors to HTTP: RFC 9457 problem details for the API, pages for people.

A page handler may name its form template in ``opt={"form_template": ...}``: when the service refuses the input,
the form is shown again with the submitted values and a message at each field, and nothing was stored.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from familienkarte import errors as e
from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.sessions import session_of
from familienkarte.i18n import field_messages, gettext
from familienkarte.web.csrf import FORM_SCOPE_KEY
from familienkarte.web.flash import FLASH_KEY

log = logging.getLogger("familienkarte.errors")

PROBLEM_JSON = "application/problem+json"

STATUS: dict[type[e.DomainError], int] = {
    e.InvalidInput: 422,
    e.NotFound: 404,
    e.NotAuthenticated: 401,
    e.PermissionDenied: 403,
    e.Conflict: 409,
    e.RateLimited: 429,
    e.Unavailable: 503,
}
HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}
TITLES = {
    400: e.N_("The request could not be understood."),
    401: e.N_("Please sign in."),
    403: e.N_("You are not allowed to do this."),
    404: e.N_("This page or record does not exist, or you may not see it."),
    405: e.N_("This action is not possible here."),
    413: e.N_("The upload is too large."),
    415: e.N_("This kind of upload is not accepted."),
    422: e.N_("Please correct the marked fields."),
    429: e.N_("Too many attempts. Please wait a moment."),
    500: e.N_("Something went wrong on our side. It has been logged; please try again later."),
    503: e.N_("The service is briefly unavailable. Please try again in a moment."),
}
# The 400 of every API operation that takes parameters or a body, as http_exception_handler writes it (Litestar's
# own default documents a different body, which the API never sends).
BAD_REQUEST = ResponseSpec(
    data_container=Problem,
    media_type=PROBLEM_JSON,
    description="The request could not be read: a malformed body (`bad_request`), or a parameter that does not fit "
    "its type (`invalid_input`; `errors` names each).",
    generate_examples=False,
)
# Form fields never sent back into a page.
SECRET_FIELDS = {"password", "password_confirm", "current_password", "new_password", "code", "csrf_token"}


def status_for(exc: e.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/health", "/schema", "/.well-known/")):
        return True
    accept = request.headers.get("accept", "")
    return "json" in accept and "html" not in accept


def problem(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body: dict[str, Any] = {
        "type": f"about:blank#{code}" if code else "about:blank",
        "title": gettext(TITLES.get(status, TITLES[400])),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _page(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    return Template(
        "error.html",
        context={"status": status, "detail": detail, "code": code},
        status_code=status,
        headers=headers,
        media_type=MediaType.HTML,
    )


SESSION_ENDED = e.N_(
    "Your session has ended, because it was not used for a while or began long ago. Please sign in again."
)


def _login_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    state = session_of(request.scope)
    if state.get("expired"):
        # The sign-in page comes after a redirect: carry the reason over as a one-time note.
        state[FLASH_KEY] = SESSION_ENDED
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = request.route_handler.opt.get("login_path", "/login") if request.scope.get("route_handler") else "/login"
    return Redirect(f"{login}?next={quote(target, safe='/')}", status_code=303)


def domain_error_handler(request: Request[Any, Any, Any], exc: e.DomainError) -> Response[Any]:
    status = status_for(exc)
    detail = gettext(exc.message, **exc.params)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, e.RateLimited | e.Unavailable) else None
    field_errors = exc.errors if isinstance(exc, e.InvalidInput) else []
    if wants_json(request):
        listed = [{"field": fe.field, "message": gettext(fe.message, **fe.params)} for fe in field_errors]
        return problem(request, status, exc.code, detail, errors=listed or None, headers=headers)
    if isinstance(exc, e.NotAuthenticated):
        return _login_redirect(request)
    template = request.route_handler.opt.get("form_template") if request.scope.get("route_handler") else None
    if template and isinstance(exc, e.InvalidInput | e.RateLimited | e.Conflict | e.PermissionDenied):
        return _form_again(request, template, status, detail, field_errors, headers)
    return _page(request, status, detail, exc.code, headers)


def _form_again(
    request: Request[Any, Any, Any],
    template: str,
    status: int,
    detail: str,
    field_errors: list[e.FieldError],
    headers: dict[str, str] | None,
) -> Response[Any]:
    form: dict[str, str] = request.scope.get(FORM_SCOPE_KEY) or {}  # type: ignore[assignment]
    values = {k: v for k, v in form.items() if k not in SECRET_FIELDS}
    messages = field_messages(field_errors)
    context: dict[str, Any] = {"form": values, "errors": messages, "error_summary": detail}
    context.update(request.route_handler.opt.get("form_context", {}))
    return Template(template, context=context, status_code=status, headers=headers, media_type=MediaType.HTML)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    code = HTTP_CODES.get(status, "bad_request")
    errors: list[dict[str, str]] = []
    if isinstance(exc, ValidationException):
        code = "invalid_input"
        status = 422 if request.method != "GET" else 400
        for item in exc.extra if isinstance(exc.extra, list) else []:
            if isinstance(item, dict):
                errors.append({"field": str(item.get("key", "")), "message": str(item.get("message", ""))})
    detail = gettext(TITLES.get(status, TITLES[400]))
    if isinstance(exc, ValidationException) and not errors:
        detail = str(exc.detail)
    if wants_json(request):
        return problem(request, status, code, detail, errors=errors or None, headers=exc.headers)
    if isinstance(exc, NotFoundException):
        detail = gettext(TITLES[404])
    return _page(request, status, detail, code, headers=exc.headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    detail = gettext(TITLES[500])
    if wants_json(request):
        return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", detail)
    return _page(request, 500, detail, "internal_error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    e.DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}


def login_target(next_url: str | None) -> str:
    """A safe place to go after sign-in: only paths on this site."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return "/"


__all__ = ["EXCEPTION_HANDLERS", "login_target", "problem", "quote"]
