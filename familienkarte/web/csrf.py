"""CSRF protection for every state-changing request made with a session cookie.

The token lives in the server-side session; forms send it as ``csrf_token``, scripts as ``X-CSRF-Token``.
Requests authenticated by a partner API key carry no cookie and need no token. The parsed form is kept on the
scope so that a refused form can be shown again with what the person typed (see ``web.problems``).
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request

from familienkarte.accounts.sessions import session_of
from familienkarte.errors import N_, PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FORM_SCOPE_KEY = "_fk_form"


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"
    message = N_("This form has expired. Please load the page again and repeat your entry.")


async def csrf_protect(request: Request[Any, Any, Any]) -> None:
    """A before_request hook: refuse unsafe requests whose token does not match the session's."""
    if request.scope.get("auth") == "api_key":
        return  # a key, not a cookie: nothing a foreign page could send in the person's name (and no form to keep)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    submitted: str | None = request.headers.get("x-csrf-token")
    if content_type in FORM_TYPES:
        form = await request.form()
        values = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        request.scope[FORM_SCOPE_KEY] = values  # type: ignore[literal-required]
        submitted = submitted or values.get("csrf_token")
    if request.method in SAFE_METHODS:
        return
    expected = session_of(request.scope).get("csrf")
    if not expected or not submitted or not hmac.compare_digest(str(expected), submitted):
        raise CsrfFailed()
