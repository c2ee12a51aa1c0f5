"""Resolves the request's principal: a partner API key (Authorization: Bearer) or the session's user."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from familienkarte.accounts import api_key_cache, identity
from familienkarte.accounts.api_key_cache import ApiKeyCache
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.sessions import STATELESS_PATHS, session_of
from familienkarte.db import Tx


class AuthMiddleware:
    def __init__(self, app: ASGIApp, tx_getter: Any) -> None:
        self.app = app
        self.tx_getter = tx_getter
        # Keys that authenticated a moment ago skip the lookup (see api_key_cache for how soon changes count).
        self.api_keys = ApiKeyCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = None
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(STATELESS_PATHS):
            await self.app(scope, receive, send)
            return
        scope["auth"] = None
        tx: Tx = self.tx_getter(scope)
        bearer = _bearer(scope)
        if bearer is not None:
            # A request with a key is judged by the key alone; its cookies are ignored.
            scope["auth"] = "api_key"
            scope["user"] = await self._api_key(tx, bearer)
        else:
            state = session_of(scope)
            user_id = state.get("user_id")
            if user_id:
                principal = await tx.run(
                    lambda s: identity.load_session_user(s, uuid.UUID(user_id), int(state.get("epoch", 0)))
                )
                if principal is None:
                    state.clear()
                else:
                    scope["user"] = principal
                    scope["auth"] = "session"
        await self.app(scope, receive, send)

    async def _api_key(self, tx: Tx, token: str) -> Principal | None:
        principal = self.api_keys.get(token)
        if principal is not None:
            return principal
        looked_up_at = api_key_cache.generation()
        principal = await tx.run(lambda s: identity.authenticate_api_key(s, token))
        if principal is not None:
            self.api_keys.put(token, principal, looked_up_at)
        return principal


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _sep, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
            return ""
    return None
