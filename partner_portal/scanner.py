"""The scanner page: cashiers verify cards and redeem benefits (camera, barcode scanner or typed number).

The page itself only renders; every verification and redemption goes through the point-of-sale JSON API
(familienkarte.redemptions.api) with the signed-in session and its CSRF token.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.response import Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.redemptions.scanner_page import scanner_page
from familienkarte.redemptions.services import REASON_TEXTS
from familienkarte.runtime import Runtime

SCANNER_PATH: Final = "/partner/scanner"


class ScannerController(Controller):
    path = SCANNER_PATH
    opt = roles_opt(Role.CASHIER, Role.PARTNER_OWNER)
    include_in_schema = False

    @get("/")
    async def scanner(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        web_session: NamedDependency[SessionState],
    ) -> Template:
        city = load_city(runtime.settings.city)
        page = await tx.read(lambda s: scanner_page(s, principal, city))
        # The session's token for the page's JSON requests (X-CSRF-Token), as on the card page.
        return Template(
            "partner/scanner.html",
            context={"page": page, "reason_texts": REASON_TEXTS, "csrf": web_session.csrf_token()},
        )


ROUTES: list[Any] = [ScannerController]
