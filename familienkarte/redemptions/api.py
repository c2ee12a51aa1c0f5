"""The point of sale as JSON: verify a card, redeem a benefit, void a redemption (POS systems and the scanner page).

Rate limits per API key or per signed-in person (settings ``FK_POS_SCAN_LIMIT`` and ``FK_POS_TYPED_LIMIT``):
generous for scanned codes (a busy till scans a family every few seconds), tight for typed card numbers, which
nothing but the number protects against guessing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.benefits.rules import localized
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.errors import DomainError
from familienkarte.i18n import current_locale, gettext
from familienkarte.metrics import channel_of, count_redemption, count_verification
from familienkarte.redemptions import services
from familienkarte.redemptions.memory import CardNotRemembered, NeedsDatabase
from familienkarte.runtime import Runtime
from familienkarte.web.deps import provide_meta, provide_principal, runtime_of
from familienkarte.web.problems import BAD_REQUEST

NONCE_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type="application/problem+json", description=description, generate_examples=False
    )


async def limit_till(runtime: Runtime, principal: Principal, *, typed: int) -> None:
    """One use of the till's scan limit, and ``typed`` of its limit of card numbers typed by hand (and of its
    partner's, which all its keys and cashiers share)."""
    subject = f"key:{principal.api_key_id}" if principal.is_api_key else f"user:{principal.user_id}"
    await runtime.pos_scan_limiter.consume(subject)
    for _ in range(typed):
        await runtime.pos_typed_limiter.consume(subject)
        await runtime.pos_typed_partner_limiter.consume(f"partner:{principal.partner_id}")


_CODE = (
    "FK1:eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiI3S1gzUU05VEIiLCJleHAiOjE4MDAwMDAwMDB9.c2ln.1795000000.cHJvb2Y"
)
_LOCATION = "3f1c2a9e-8d7b-4c55-9a61-0b2e4f6d8a10"
_BENEFIT = "9b0e6f4a-2c1d-4e8f-b7a5-6d3c2b1a0f9e"


class VerificationCreate(msgspec.Struct, kw_only=True):
    """A scanned code, or a card number typed by hand, at one of the partner's locations."""

    text: Annotated[
        str | None, msgspec.Meta(description="The text read from the QR code (`FK1:...`).", examples=[_CODE])
    ] = None
    card_number: Annotated[
        str | None,
        msgspec.Meta(
            description="A card number typed by hand, when there is no code to scan. Spaces and dashes are fine.",
            examples=["7KX 3QM 9TB"],
        ),
    ] = None
    location_id: Annotated[
        uuid.UUID | None,
        msgspec.Meta(
            description="The location of the till; optional for a key bound to a location.", examples=[_LOCATION]
        ),
    ] = None


class CardFactsRead(msgspec.Struct, kw_only=True):
    """What the cashier needs to apply a benefit: no names or addresses."""

    number: Annotated[str, msgspec.Meta(examples=["7KX 3QM 9TB"])]
    adults: int
    children_ages: Annotated[list[int], msgspec.Meta(description="Born children's ages today, oldest first.")]
    expected_children: Annotated[int, msgspec.Meta(description="Children expected, not yet born.")]
    valid_until: dt.date | None
    ask_for_id: Annotated[
        bool, msgspec.Meta(description="A printed card or a typed number: nothing proves the holder; ask for ID.")
    ]


class BenefitOfferRead(msgspec.Struct, kw_only=True):
    """A benefit of this partner that the card may use at this location today."""

    benefit_id: uuid.UUID
    title: Annotated[str, msgspec.Meta(description="In the reader's language, or German.")]
    kind: str
    value: Annotated[int | None, msgspec.Meta(description="Percent, or cents, as the kind says.")]
    max_quantity: int
    limit_count: int | None
    limit_period: Annotated[str | None, msgspec.Meta(description="`day`, `week`, `month`, `year` or `ever`.")]
    uses_left: Annotated[
        int | None, msgspec.Meta(description="Uses this card has left in the current period; null: no limit.")
    ]
    quota_left: Annotated[int | None, msgspec.Meta(description="Tickets left of the quota; null: no quota.")]
    available: Annotated[bool, msgspec.Meta(description="False when the card's limit or the quota is used up.")]


class VerificationRead(msgspec.Struct, kw_only=True):
    """The verdict on a card at the till."""

    valid: bool
    reason: Annotated[
        str,
        msgspec.Meta(
            description="`ok`, or a reason code of the FK1 contract (`malformed`, `unknown_key`, `bad_signature`, "
            "`expired`, `not_yet_valid`, `presentation_missing`, `bad_proof`, `stale`, `revoked`, `suspended`); "
            "for a typed number also `unknown_card`.",
            examples=["ok"],
        ),
    ]
    message: Annotated[str, msgspec.Meta(description="The verdict in a sentence for the cashier.")]
    presentation: Annotated[str | None, msgspec.Meta(description="`phone`, `printed` or `manual` (typed).")]
    code_checked: Annotated[bool, msgspec.Meta(description="False for a typed number: no code was checked.")]
    card: CardFactsRead | None
    benefits: list[BenefitOfferRead]
    location_id: uuid.UUID

    @classmethod
    def of(cls, result: services.Verification) -> VerificationRead:
        locale = current_locale()
        card = result.card
        return cls(
            valid=result.ok,
            reason=result.reason,
            message=gettext(services.REASON_TEXTS.get(result.reason, services.REASON_TEXTS["malformed"])),
            presentation=result.presentation,
            code_checked=result.code_checked,
            card=CardFactsRead(
                number=card.number,
                adults=card.adults,
                children_ages=card.children_ages,
                expected_children=card.expected_children,
                valid_until=card.valid_until,
                ask_for_id=card.ask_for_id,
            )
            if card
            else None,
            benefits=[
                BenefitOfferRead(
                    benefit_id=offer.benefit_id,
                    title=localized(offer.title, locale).text,
                    kind=offer.kind,
                    value=offer.value,
                    max_quantity=offer.max_quantity,
                    limit_count=offer.limit_count,
                    limit_period=offer.limit_period,
                    uses_left=offer.uses_left,
                    quota_left=offer.quota_left,
                    available=offer.available,
                )
                for offer in result.benefits
            ],
            location_id=result.location_id,
        )


class RedemptionCreate(msgspec.Struct, kw_only=True):
    """One use of a benefit by the card just scanned."""

    benefit_id: Annotated[uuid.UUID, msgspec.Meta(examples=[_BENEFIT])]
    text: Annotated[str | None, msgspec.Meta(description="The scanned code (`FK1:...`).", examples=[_CODE])] = None
    card_number: Annotated[str | None, msgspec.Meta(description="A card number typed by hand instead.")] = None
    location_id: Annotated[uuid.UUID | None, msgspec.Meta(examples=[_LOCATION])] = None
    quantity: Annotated[int, msgspec.Meta(description="Up to the benefit's `max_quantity`.", examples=[1])] = 1
    client_nonce: Annotated[
        str | None,
        msgspec.Meta(
            description="A fresh value per redemption (a UUID), kept when retrying: the same nonce again returns "
            "the first redemption and records nothing. Or send it as the `Idempotency-Key` header.",
            examples=["5d1e0c9a-7f3b-4a2e-9c8d-1b6f0e3a2d4c"],
        ),
    ] = None


class RedemptionRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    benefit_id: uuid.UUID
    location_id: uuid.UUID
    card_number: Annotated[str, msgspec.Meta(examples=["7KX 3QM 9TB"])]
    quantity: int
    status: Annotated[str, msgspec.Meta(description="`recorded` or `voided`.")]
    presentation: Annotated[str, msgspec.Meta(description="`phone`, `printed` or `manual`.")]
    client_nonce: str
    occurred_at: dt.datetime
    created_at: dt.datetime
    void_reason: str | None = None
    voided_at: dt.datetime | None = None

    @classmethod
    def of(cls, result: services.RedemptionResult) -> RedemptionRead:
        return cls(
            id=result.id,
            benefit_id=result.benefit_id,
            location_id=result.location_id,
            card_number=result.card_number,
            quantity=result.quantity,
            status=result.status,
            presentation=result.presentation,
            client_nonce=result.client_nonce,
            occurred_at=result.occurred_at,
            created_at=result.created_at,
            void_reason=result.void_reason,
            voided_at=result.voided_at,
        )


class VoidCreate(msgspec.Struct, kw_only=True):
    reason: Annotated[
        str | None, msgspec.Meta(description="Why, at most 500 characters.", examples=["Wrong benefit tapped"])
    ] = None


NOT_ALLOWED = {
    400: BAD_REQUEST,
    401: _problem("No API key or session."),
    403: _problem(
        "Not a partner's cashier or owner (`forbidden`), or the partner is not approved (`partner_suspended`)."
    ),
    422: _problem("A field was refused; see `errors` (`location_id`, `text`, `quantity`, `client_nonce`, `reason`)."),
    429: _problem("Too many requests from this key or session (`rate_limited`); see `Retry-After`."),
}


@dataclass(frozen=True)
class TillRequest:
    """Everything a scan's handler needs, as one dependency: Litestar resolves several dependencies of one
    handler concurrently in a task group, which cost more than the rest of the handler around the service call."""

    runtime: Runtime
    principal: Principal
    meta: RequestMeta

    @property
    def tx(self) -> Tx:
        return self.runtime.tx


def provide_till(request: Request[Any, Any, Any]) -> TillRequest:
    return TillRequest(runtime_of(request.app.state), provide_principal(request), provide_meta(request))


async def _verified(
    till: TillRequest, answer: Callable[[Session | None], services.Verification]
) -> services.Verification:
    """Most scans are answered from what the process remembers, without the database. A card not remembered has
    its row read together with the other scans waiting at that moment; anything else (a typed number, uses to
    count) is answered in a transaction of its own."""
    try:
        return answer(None)
    except CardNotRemembered as missing:
        if await till.runtime.card_rows.load(missing.number):
            with suppress(NeedsDatabase):
                return answer(None)
    except NeedsDatabase:
        pass
    return await till.tx.run(answer)


class PointOfSaleController(Controller):
    path = "/api/v1"
    tags = ["point of sale"]
    opt = roles_opt(Role.CASHIER, Role.PARTNER_OWNER, api_key=True)
    dependencies = {"till": Provide(provide_till, sync_to_thread=False)}

    @post(
        "/verifications",
        status_code=HTTP_200_OK,
        summary="Verify a card",
        description="The verdict on a scanned code or a typed card number, with the card's facts and this "
        "partner's benefits that apply at this location today, each with the uses left for this card. A card "
        "that does not verify is an answer (`valid: false` and the reason), not an error.",
        responses=NOT_ALLOWED,
    )
    async def verify(self, data: JSONBody[VerificationCreate], till: NamedDependency[TillRequest]) -> VerificationRead:
        runtime, principal = till.runtime, till.principal
        await limit_till(runtime, principal, typed=int(not data.text and bool(data.card_number)))
        city = load_city(runtime.settings.city)
        now = utcnow()

        def answer(session: Session | None) -> services.Verification:
            return services.verify(
                session,
                principal,
                city,
                text=data.text,
                card_number=data.card_number,
                location_id=data.location_id,
                now=now,
                # Statistics are written in batches outside this request, which only reads.
                record=runtime.verification_log.record,
                memory=runtime.pos_memory,
                verifier=runtime.verifier,
            )

        result = await _verified(till, answer)
        count_verification(result.reason, principal)
        return VerificationRead.of(result)

    @post(
        "/redemptions",
        status_code=HTTP_201_CREATED,
        summary="Redeem a benefit",
        description="Verifies the card again and records one use of the benefit. Repeating a request with the "
        "same nonce (body `client_nonce` or header `Idempotency-Key`) answers with the first redemption and "
        f"the header `{REPLAYED_HEADER}: true`, and records nothing new.",
        responses={
            **NOT_ALLOWED,
            404: _problem("No such benefit of this partner (`benefit_not_found`)."),
            409: _problem(
                "Refused: `limit_reached`, `quota_exhausted`, `not_eligible`, `benefit_paused`, `not_at_location`, "
                "or the card's reason code (`expired`, `revoked`, `stale`, ...)."
            ),
        },
    )
    async def redeem(
        self,
        data: JSONBody[RedemptionCreate],
        till: NamedDependency[TillRequest],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(name=NONCE_HEADER, required=False, description="The client nonce, if not in the body."),
        ] = None,
    ) -> Response[RedemptionRead]:
        runtime, principal, meta = till.runtime, till.principal, till.meta
        await limit_till(runtime, principal, typed=int(not data.text and bool(data.card_number)))
        city = load_city(runtime.settings.city)
        nonce = data.client_nonce or idempotency_key
        try:
            result = await runtime.redemptions.run(
                lambda s: services.redeem(
                    s,
                    principal,
                    city,
                    text=data.text,
                    card_number=data.card_number,
                    benefit_id=data.benefit_id,
                    location_id=data.location_id,
                    quantity=data.quantity,
                    client_nonce=nonce,
                    now=utcnow(),
                    meta=meta,
                    memory=runtime.pos_memory,
                )
            )
        except DomainError as refused:
            count_redemption(refused.code, channel_of(principal))
            raise
        count_redemption("replayed" if result.replayed else "recorded", channel_of(principal))
        headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
        return Response(RedemptionRead.of(result), status_code=HTTP_201_CREATED, headers=headers)

    @post(
        "/redemptions/{redemption_id:uuid}/void",
        status_code=HTTP_200_OK,
        summary="Void a redemption",
        description="Within the city's void window (`void_window_minutes`, 15 by default) of recording, by the "
        "same partner, with a reason. A voided redemption no longer counts towards limits and quotas. Voiding again "
        "answers with the voided redemption.",
        responses={
            **NOT_ALLOWED,
            404: _problem("No such redemption of this partner (`redemption_not_found`)."),
            409: _problem("Too late (`void_window_passed`)."),
        },
    )
    async def void(
        self,
        redemption_id: FromPath[uuid.UUID],
        data: JSONBody[VoidCreate],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> RedemptionRead:
        await limit_till(runtime, principal, typed=0)
        city = load_city(runtime.settings.city)
        result = await tx.run(
            lambda s: services.void(s, principal, city, redemption_id, data.reason, now=utcnow(), meta=meta)
        )
        return RedemptionRead.of(result)


ROUTES: list[Any] = [PointOfSaleController]
