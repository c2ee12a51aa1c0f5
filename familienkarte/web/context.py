"""Per-request context: request id, the reader's language, security headers and the access log line."""

from __future__ import annotations

import logging
import re
import secrets
import time
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from familienkarte import i18n
from familienkarte.logs import request_id_var

log = logging.getLogger("familienkarte.access")

LOCALE_COOKIE = "fk_lang"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "manifest-src": "'self'",
    "worker-src": "'self'",
}


def csp_adding(**sources: str) -> str:
    """The site's policy with more sources for some directives (keyword: the directive with _ for -)."""
    directives = dict(CSP_DIRECTIVES)
    for name, source in sources.items():
        directive = name.replace("_", "-")
        directives[directive] = f"{directives[directive]} {source}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CSP = csp_adding()


def tile_source(tile_url: str) -> str:
    """The CSP source of a map tile server: its scheme and host (a ``{s}`` subdomain becomes ``*.``)."""
    parts = urlsplit(tile_url)
    host = parts.netloc.replace("{s}.", "*.", 1)
    return f"{parts.scheme}://{host}"


def csp_with_tiles(tile_url: str) -> str:
    """The site's policy plus images from the tile server: sent by the map page only, so that every other page
    keeps loading images from this site alone."""
    return csp_adding(img_src=tile_source(tile_url))


# The pages that scan codes with the camera get this policy instead.
PERMISSIONS_WITH_CAMERA = "geolocation=(self), camera=(self), microphone=(), payment=()"


def csp_with_wasm() -> str:
    """The site's policy plus compiling WebAssembly (the scanner page's QR reader, served from this site): sent by
    the scanner page only."""
    return csp_adding(script_src="'wasm-unsafe-eval'")


SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    # The camera only where a page scans codes (``camera_pages``); the position for "near me" on any page.
    "permissions-policy": "geolocation=(self), camera=(), microphone=(), payment=()",
    "cross-origin-opener-policy": "same-origin",
}


_PERMISSIONS_WITH_CAMERA = PERMISSIONS_WITH_CAMERA.encode("latin-1")
_SECURITY_HEADER_PAIRS = tuple(
    (name.encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


# The partner portal and the staff area: offered in i18n.WORK_LOCALES only.
WORK_AREAS = ("/partner", "/staff")


def locales_offered_at(path: str) -> tuple[str, ...]:
    """The languages a page offers: every family language, or German and English in the work areas."""
    if any(path == area or path.startswith(f"{area}/") for area in WORK_AREAS):
        return i18n.WORK_LOCALES
    return i18n.SUPPORTED_LOCALES


def offered_locales(scope: Scope) -> tuple[str, ...]:
    """The languages the current page offers (its language switcher), as the middleware decided."""
    offered: tuple[str, ...] = scope.get("state", {}).get("offered_locales", i18n.SUPPORTED_LOCALES)
    return offered


def choose_locale(scope: Scope, default: str, offered: tuple[str, ...] = i18n.SUPPORTED_LOCALES) -> str:
    """The ?lang= parameter, then the remembered choice, then Accept-Language, then the default; a language the
    page does not offer gives the default (German)."""
    chosen = _chosen_locale(scope, offered)
    if chosen:
        return chosen
    cookie = _header(scope, b"cookie")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # noqa: S110 - a broken cookie header is treated as none
            pass
        else:
            if LOCALE_COOKIE in jar and jar[LOCALE_COOKIE].value in i18n.SUPPORTED_LOCALES:
                remembered = jar[LOCALE_COOKIE].value
                return remembered if remembered in offered else default
    return i18n.negotiate(_header(scope, b"accept-language"), default, offered)


def _chosen_locale(scope: Scope, offered: tuple[str, ...] = i18n.SUPPORTED_LOCALES) -> str | None:
    """The locale picked with ?lang= on this request, if the page offers it."""
    query = scope.get("query_string", b"").decode("latin-1")
    for pair in query.split("&"):
        key, _sep, value = pair.partition("=")
        if key == "lang" and value in offered:
            return value
    return None


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        default_locale: str,
        hsts: bool,
        locale_cookie_secure: bool,
        map_pages: tuple[str, ...] = (),
        map_csp: str | None = None,
        wasm_pages: tuple[str, ...] = (),
        wasm_csp: str | None = None,
        camera_pages: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.default_locale = default_locale
        self.hsts = hsts
        self.locale_cookie_secure = locale_cookie_secure
        # Pages with a map (paths starting so) get ``map_csp``: the site's policy plus the tile server's images.
        self.map_pages = map_pages
        # Kept encoded: the header values are appended as bytes on every response.
        self.map_csp = map_csp.encode("latin-1") if map_csp else None
        # The pages that compile WebAssembly (these exact paths) get ``wasm_csp``.
        self.wasm_pages = wasm_pages
        self.wasm_csp = wasm_csp.encode("latin-1") if wasm_csp else None
        # The pages that may use the camera (these exact paths); every other page is refused it.
        self.camera_pages = camera_pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        scope["state"]["request_id"] = request_id
        path: str = scope.get("path", "")
        offered = locales_offered_at(path)
        default = self.default_locale if self.default_locale in offered else i18n.DEFAULT_LOCALE
        locale = choose_locale(scope, default, offered)
        scope.setdefault("state", {})
        scope["state"]["locale"] = locale
        scope["state"]["offered_locales"] = offered
        chosen = _chosen_locale(scope, offered)
        i18n.set_locale(locale)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Raw header pairs rather than a headers object: this runs for every request, the tills' too.
                headers = [(name.lower(), value) for name, value in message.get("headers") or ()]
                present = {name for name, _value in headers}
                hsts = self.hsts or scope.get("scheme") == "https"
                if b"x-request-id" in present or (hsts and b"strict-transport-security" in present):
                    headers = [
                        (name, value)
                        for name, value in headers
                        if name != b"x-request-id" and not (hsts and name == b"strict-transport-security")
                    ]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                if b"content-security-policy" not in present:
                    if self.map_csp and path.startswith(self.map_pages):
                        headers.append((b"content-security-policy", self.map_csp))
                        present.add(b"content-security-policy")
                    elif self.wasm_csp and path.rstrip("/") in self.wasm_pages:
                        headers.append((b"content-security-policy", self.wasm_csp))
                        present.add(b"content-security-policy")
                if b"permissions-policy" not in present and path.rstrip("/") in self.camera_pages:
                    headers.append((b"permissions-policy", _PERMISSIONS_WITH_CAMERA))
                    present.add(b"permissions-policy")
                headers.extend(header for header in _SECURITY_HEADER_PAIRS if header[0] not in present)
                # Over HTTPS only: the site's public address is https (behind a proxy), or the request came so.
                if hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                headers.append((b"vary", b"Accept-Language, Cookie"))
                if chosen:
                    # Remember an explicit choice for a year; it is no secret, so scripts may read it.
                    secure = "; Secure" if self.locale_cookie_secure else ""
                    cookie = f"{LOCALE_COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Lax{secure}"
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        method = str(scope.get("method", ""))
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)
