"""Server-side sessions: a random id in an HttpOnly cookie, the data in the key-value store.

A session ends after ``session_idle_minutes`` without a request and ``session_max_hours`` after it began.
``rotate`` gives a session a new id (on every sign-in, against fixation); ``clear`` ends it.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from familienkarte.kv import KeyValue
from familienkarte.settings import Settings

SCOPE_KEY = "fk_session"
# Static files and health probes carry no session and need no sign-in: no store or database round trip.
STATELESS_PATHS = ("/static/", "/health/")


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix pins the cookie to this host and path and requires Secure.
    return "__Host-fk_session" if settings.effective_cookie_secure else "fk_session"


@dataclass
class SessionState:
    sid: str | None
    data: dict[str, Any] = field(default_factory=dict)
    modified: bool = False
    cleared_sid: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.modified = True

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self.data:
            self.modified = True
        return self.data.pop(key, default)

    def rotate(self) -> None:
        """A new id for the same data (and a new CSRF token)."""
        if self.sid:
            self.cleared_sid = self.sid
        self.sid = None
        self.data.pop("csrf", None)
        self.modified = True

    def clear(self) -> None:
        if self.sid:
            self.cleared_sid = self.sid
        self.sid = None
        self.data = {}
        self.modified = True

    def csrf_token(self) -> str:
        token = self.data.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            self["csrf"] = token
        return str(token)


def session_of(scope: Scope) -> SessionState:
    state = scope.get(SCOPE_KEY)
    if not isinstance(state, SessionState):
        state = SessionState(None)
        scope[SCOPE_KEY] = state  # type: ignore[literal-required]
    return state


class SessionMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, kv_getter: Any) -> None:
        self.app = app
        self.settings = settings
        self.kv_getter = kv_getter
        self.cookie = cookie_name(settings)
        self.idle = settings.session_idle_minutes * 60
        self.max_age = settings.session_max_hours * 3600

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(STATELESS_PATHS):
            await self.app(scope, receive, send)
            return
        kv: KeyValue = self.kv_getter(scope)
        state = await self._load(scope, kv)
        scope[SCOPE_KEY] = state  # type: ignore[literal-required]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and state.modified:
                headers = MutableScopeHeaders.from_message(message)
                for cookie in await self._store(state, kv):
                    headers.add("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _load(self, scope: Scope, kv: KeyValue) -> SessionState:
        sid = _read_cookie(scope, self.cookie)
        if not sid:
            return SessionState(None)
        raw = await kv.get(f"session:{sid}")
        if raw is None:
            # An unknown or expired id: drop the cookie.
            return SessionState(None, modified=True, cleared_sid=sid)
        data = json.loads(raw)
        now = time.time()
        if now - data.get("_seen", 0) > self.idle or now - data.get("_born", 0) > self.max_age:
            await kv.delete(f"session:{sid}")
            return SessionState(None, data={"expired": True}, modified=True, cleared_sid=sid)
        state = SessionState(sid, data)
        if now - data.get("_seen", 0) > 60:
            # Keep the idle clock going, at most once a minute per session.
            state.modified = True
        return state

    async def _store(self, state: SessionState, kv: KeyValue) -> list[str]:
        cookies = []
        if state.cleared_sid:
            await kv.delete(f"session:{state.cleared_sid}")
        payload = {k: v for k, v in state.data.items() if k != "expired"}
        if not payload or set(payload) <= {"_born", "_seen"}:
            if state.cleared_sid or state.sid:
                if state.sid:
                    await kv.delete(f"session:{state.sid}")
                cookies.append(self._cookie("", max_age=0))
            return cookies
        now = time.time()
        if state.sid is None:
            # A new id starts a new lifetime (first use, or rotation at sign-in).
            state.sid = secrets.token_urlsafe(32)
            payload["_born"] = now
        payload["_seen"] = now
        remaining = int(self.max_age - (now - payload["_born"]))
        await kv.set(f"session:{state.sid}", json.dumps(payload).encode(), max(1, min(self.idle, remaining)))
        cookies.append(self._cookie(state.sid, max_age=None))
        return cookies

    def _cookie(self, value: str, max_age: int | None) -> str:
        parts = [
            f"{self.cookie}={value}",
            "Path=/",
            "HttpOnly",
            f"SameSite={self.settings.cookie_samesite.title()}",
        ]
        if self.settings.effective_cookie_secure:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        return "; ".join(parts)


def _read_cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112 - a broken cookie header is treated as no cookie
                continue
            if name in jar:
                return jar[name].value
    return None
