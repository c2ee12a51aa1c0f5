"""Printed cards on the web: the family orders and downloads theirs; caseworkers and admins do so for any card."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import SessionState
from familienkarte.cards import printing
from familienkarte.cards.card_web import CARD_PATH
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.errors import N_
from familienkarte.runtime import Runtime
from familienkarte.web.flash import redirect_with_flash

ORDERED = N_("Your printed card is being made. We will e-mail you when you can download it here.")
ORDERED_BY_STAFF = N_("The printed card is being made. It can be downloaded here when it is ready.")


def _pdf(document: printing.PrintedCardPdf) -> Response[bytes]:
    return Response(
        document.content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{document.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


class FamilyPrintController(Controller):
    path = f"{CARD_PATH}/prints"
    opt = roles_opt(Role.FAMILY)
    include_in_schema = False

    @post("/")
    async def order(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        await tx.run(lambda s: printing.order_printed_card(s, principal, city, utcnow(), meta=meta))
        return redirect_with_flash(web_session, CARD_PATH, ORDERED)

    @get("/{job_id:uuid}/card.pdf")
    async def download(
        self, job_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], principal: NamedDependency[Principal]
    ) -> Response[bytes]:
        return _pdf(await tx.read(lambda s: printing.family_print_pdf(s, principal, job_id)))


class StaffPrintController(Controller):
    path = "/staff/cards/{card_id:uuid}/prints"
    opt = roles_opt(Role.CASEWORKER, Role.ADMIN)
    include_in_schema = False

    @post("/")
    async def order(
        self,
        card_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        web_session: NamedDependency[SessionState],
    ) -> Redirect:
        city = load_city(runtime.settings.city)
        await tx.run(lambda s: printing.order_printed_card(s, principal, city, utcnow(), card_id=card_id, meta=meta))
        return redirect_with_flash(web_session, f"/staff/cards/{card_id}", ORDERED_BY_STAFF)

    @get("/{job_id:uuid}/card.pdf")
    async def download(
        self,
        card_id: FromPath[uuid.UUID],
        job_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> Response[bytes]:
        return _pdf(await tx.run(lambda s: printing.staff_print_pdf(s, card_id, job_id, viewer=principal, meta=meta)))


ROUTES: list[Any] = [FamilyPrintController, StaffPrintController]
