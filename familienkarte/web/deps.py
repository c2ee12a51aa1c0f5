"""Dependencies handed to handlers: one transaction runner, who is asking, where the request came from."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.sessions import SessionState, session_of
from familienkarte.db import Tx
from familienkarte.errors import NotAuthenticated
from familienkarte.runtime import Runtime
from familienkarte.web.csrf import FORM_SCOPE_KEY


def runtime_of(state: State) -> Runtime:
    return state["fk"]  # type: ignore[no-any-return]


def provide_runtime(state: State) -> Runtime:
    return runtime_of(state)


def provide_tx(state: State) -> Tx:
    return runtime_of(state).tx


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The signed-in principal; routes that use it are guarded, so a missing one means "sign in"."""
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthenticated()
    return user


def provide_optional_principal(request: Request[Any, Any, Any]) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def provide_meta(request: Request[Any, Any, Any]) -> RequestMeta:
    client = request.client.host if request.client else None
    return RequestMeta(request_id=request.scope.get("state", {}).get("request_id"), ip=client)


def provide_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The submitted form fields (parsed once by the CSRF check); empty for anything that is not a form."""
    form: dict[str, str] = request.scope.get(FORM_SCOPE_KEY) or {}  # type: ignore[assignment]
    return dict(form)


def provide_session(request: Request[Any, Any, Any]) -> SessionState:
    return session_of(request.scope)


DEPENDENCIES = {
    "runtime": Provide(provide_runtime, sync_to_thread=False),
    "tx": Provide(provide_tx, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "maybe_principal": Provide(provide_optional_principal, sync_to_thread=False),
    "meta": Provide(provide_meta, sync_to_thread=False),
    "web_session": Provide(provide_session, sync_to_thread=False),
    "form": Provide(provide_form, sync_to_thread=False),
}
