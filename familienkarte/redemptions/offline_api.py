"""What the scanner page needs to work offline: the offline bundle, the upload of what it did meanwhile, and the
scanner's service worker.

The service worker script is public, like the card page's: it is the same file for everyone, holds nothing of a
partner's, and the browser fetches it again for updates outside any page (where a redirect to the sign-in page
would only break the update). What it caches (the scanner page) is fetched with the cashier's session and is
never served to anyone else.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
import msgspec.structs
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from litestar.response import File
from litestar.status_codes import HTTP_200_OK

from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.guards import PUBLIC_OPT, roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.metrics import count_redemption
from familienkarte.redemptions import offline
from familienkarte.redemptions.api import NOT_ALLOWED, limit_till
from familienkarte.runtime import Runtime
from familienkarte.web.pages import STATIC_DIR

_CODE = "FK1:eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiI3S1gzUU05VEIiLCJleHAiOjE4MDAwMDAwMDB9.c2ln"
_LOCATION = "3f1c2a9e-8d7b-4c55-9a61-0b2e4f6d8a10"
_BENEFIT = "9b0e6f4a-2c1d-4e8f-b7a5-6d3c2b1a0f9e"
_NONCE = "5d1e0c9a-7f3b-4a2e-9c8d-1b6f0e3a2d4c"


# The offline bundle ---------------------------------------------------------------------------------------------


class StatusListTokenRead(msgspec.Struct, kw_only=True):
    id: Annotated[int, msgspec.Meta(description="The list's id: a credential's `l`.", examples=[1])]
    token: Annotated[
        str,
        msgspec.Meta(
            description="The signed status list token (`statuslist+jwt`), exactly as `/api/v1/status-lists/{id}` "
            "serves it. Verify it with the `jwks` before use; an expired token counts as missing, and a credential "
            "whose list is missing counts as revoked."
        ),
    ]


class OfflineBenefitRead(msgspec.Struct, kw_only=True):
    """A published benefit of this partner at this location, with the rules that decide who may use it when."""

    benefit_id: Annotated[uuid.UUID, msgspec.Meta(examples=[_BENEFIT])]
    title: Annotated[
        dict[str, str],
        msgspec.Meta(
            description="Every language the partner wrote; show the reader's language, or German (`de`).",
            examples=[{"de": "Freier Eintritt für Kinder", "en": "Free entry for children"}],
        ),
    ]
    kind: Annotated[str, msgspec.Meta(examples=["free_entry"])]
    value: Annotated[int | None, msgspec.Meta(description="Percent, or cents, as the kind says.")]
    max_quantity: int
    limit_count: Annotated[int | None, msgspec.Meta(description="Uses per card and period; null: no limit.")]
    limit_period: Annotated[str | None, msgspec.Meta(description="`day`, `week`, `month`, `year` or `ever`.")]
    min_children: Annotated[int, msgspec.Meta(description="Born children the family needs at least.")]
    child_age_min: Annotated[int | None, msgspec.Meta(description="At least one born child this old or older.")]
    child_age_max: Annotated[int | None, msgspec.Meta(description="... and this young or younger.")]
    requires_entitlement: Annotated[
        bool, msgspec.Meta(description="Only for families with the reduced tier (the credential's `e` flag 1).")
    ]
    weekdays: Annotated[
        int, msgspec.Meta(description="Days it is offered: bit 0 Monday to bit 6 Sunday (127: every day).")
    ]
    valid_from: Annotated[dt.date | None, msgspec.Meta(description="First day offered (the city's date).")]
    valid_until: Annotated[dt.date | None, msgspec.Meta(description="Last day offered.")]


class OfflineBundleRead(msgspec.Struct, kw_only=True):
    """Everything a till needs to verify cards and show benefits at one location without a network.

    Verify codes as `/api/v1/verifications` does (CREDENTIAL.md): with the `jwks`, the status lists, `stale_after`
    and `leeway`. Filter the benefits with their rules on the city's date (`timezone`); a child is N years old
    from the first day of the month in which it turns N. What cannot be known offline: the uses a card has left and
    what is left of a quota; both are checked when the redemptions are uploaded (`/api/v1/redemptions/uploads`).
    """

    generated_at: dt.datetime
    location_id: Annotated[uuid.UUID, msgspec.Meta(examples=[_LOCATION])]
    timezone: Annotated[
        str, msgspec.Meta(description="The city's time zone, for its date.", examples=["Europe/Berlin"])
    ]
    jwks: Annotated[
        dict[str, list[dict[str, str]]],
        msgspec.Meta(description="The issuer's public keys, the same document as `/.well-known/jwks.json`."),
    ]
    status_lists: Annotated[
        list[StatusListTokenRead], msgspec.Meta(description="Every status list a live credential may point to.")
    ]
    stale_after: Annotated[
        int, msgspec.Meta(description="Seconds a phone code may be off the till's time before it is `stale`.")
    ]
    leeway: Annotated[int, msgspec.Meta(description="Clock tolerance in seconds for `exp` and `nbf`.")]
    benefits: list[OfflineBenefitRead]

    @classmethod
    def of(cls, bundle: offline.OfflineBundle) -> OfflineBundleRead:
        return cls(
            generated_at=bundle.generated_at,
            location_id=bundle.location_id,
            timezone=bundle.timezone,
            jwks=bundle.jwks,
            status_lists=[StatusListTokenRead(id=entry.id, token=entry.token) for entry in bundle.status_lists],
            stale_after=bundle.stale_after,
            leeway=bundle.leeway,
            benefits=[OfflineBenefitRead(**benefit.__dict__) for benefit in bundle.benefits],
        )


# The upload -------------------------------------------------------------------------------------------------------


class RedemptionUpload(msgspec.Struct, kw_only=True):
    """A redemption made while the till was offline."""

    client_nonce: Annotated[
        str | None,
        msgspec.Meta(
            description="The till's nonce for this redemption (a UUID); the same again records nothing.",
            examples=[_NONCE],
        ),
    ] = None
    text: Annotated[str | None, msgspec.Meta(description="The scanned code (`FK1:...`).", examples=[_CODE])] = None
    card_number: Annotated[
        str | None,
        msgspec.Meta(
            description="A card number typed by hand, or the number the till read from the code: used "
            "when the code names no card."
        ),
    ] = None
    benefit_id: Annotated[str | None, msgspec.Meta(examples=[_BENEFIT])] = None
    location_id: Annotated[str | None, msgspec.Meta(examples=[_LOCATION])] = None
    quantity: Annotated[int | None, msgspec.Meta(examples=[1])] = 1
    occurred_at: Annotated[
        str | None,
        msgspec.Meta(
            description="The till's time of the redemption, ISO 8601 with time zone: at most 5 minutes ahead of "
            "the server's and at most 7 days ago.",
            examples=["2026-11-23T09:41:07.215Z"],
        ),
    ] = None


class VerificationUpload(msgspec.Struct, kw_only=True):
    """A verification made while the till was offline, for statistics: no card, no person."""

    reason: Annotated[str | None, msgspec.Meta(description="The verdict's reason code.", examples=["ok"])] = None
    presentation: Annotated[str | None, msgspec.Meta(description="`phone`, `printed`, `manual` or null.")] = None
    at: Annotated[str | None, msgspec.Meta(description="The till's time, ISO 8601 with time zone.")] = None
    location_id: Annotated[str | None, msgspec.Meta(examples=[_LOCATION])] = None


class UploadCreate(msgspec.Struct, kw_only=True):
    redemptions: Annotated[list[RedemptionUpload], msgspec.Meta(description=f"At most {offline.MAX_REDEMPTIONS}.")] = (
        msgspec.field(default_factory=list)
    )
    verifications: Annotated[
        list[VerificationUpload], msgspec.Meta(description=f"At most {offline.MAX_VERIFICATIONS}.")
    ] = msgspec.field(default_factory=list)


class UploadedRedemptionRead(msgspec.Struct, kw_only=True):
    client_nonce: str | None
    id: Annotated[uuid.UUID | None, msgspec.Meta(description="The redemption; null when refused.")]
    status: Annotated[
        str,
        msgspec.Meta(
            description="`recorded`, `replayed` (this nonce was recorded before; nothing new) or `refused`.",
            examples=["recorded"],
        ),
    ]
    flags: Annotated[
        list[str],
        msgspec.Meta(
            description="Every rule the redemption broke: `limit_reached`, `quota_exhausted`, `not_eligible`, "
            "`benefit_paused`, `benefit_not_published`, `not_at_location`, `quantity_too_high`, or the card's "
            "reason code as of the till's time with its status now (`revoked`, `suspended`, `expired`, `stale`, "
            "`bad_signature`, `unknown_card`, ...). Recorded all the same: it counts towards limits and quotas.",
            examples=[["limit_reached"]],
        ),
    ]
    code: Annotated[
        str | None,
        msgspec.Meta(
            description="Why it was refused: `benefit_not_found`, `location_not_found`, or the reason code of a "
            "code that names no card (`malformed`, `unknown_key`, `bad_signature`) without a card number."
        ),
    ] = None


class UploadedVerificationRead(msgspec.Struct, kw_only=True):
    status: Annotated[
        str, msgspec.Meta(description="`recorded`, `replayed` (already uploaded) or `refused` (see `code`).")
    ]
    code: Annotated[str | None, msgspec.Meta(description="`location_not_found` when refused.")] = None


class UploadRead(msgspec.Struct, kw_only=True):
    """Per item, in the order sent."""

    redemptions: list[UploadedRedemptionRead]
    verifications: list[UploadedVerificationRead]

    @classmethod
    def of(cls, result: offline.UploadResult) -> UploadRead:
        return cls(
            redemptions=[
                UploadedRedemptionRead(
                    client_nonce=item.client_nonce, id=item.id, status=item.status, flags=item.flags, code=item.code
                )
                for item in result.redemptions
            ],
            verifications=[
                UploadedVerificationRead(status=item.status, code=item.code) for item in result.verifications
            ],
        )


class OfflineController(Controller):
    path = "/api/v1"
    tags = ["point of sale"]
    opt = roles_opt(Role.CASHIER, Role.PARTNER_OWNER, api_key=True)

    @get(
        "/pos/offline-bundle",
        summary="The offline bundle of a location",
        description="What a till needs to verify cards and show this partner's benefits at this location without "
        "a network: the issuer's keys, every status list token, the verifier's tolerances and the published "
        "benefits with their eligibility rules. Uses left per card and quotas cannot be known offline: they are "
        "checked when the redemptions are uploaded. Fetch it again whenever online; status list tokens expire "
        "after 24 hours, and a till with an expired list treats every card as revoked.",
        responses=NOT_ALLOWED,
    )
    async def bundle(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        location_id: Annotated[
            uuid.UUID | None,
            QueryParameter(description="The till's location; optional for a key bound to a location."),
        ] = None,
    ) -> OfflineBundleRead:
        settings = runtime.settings
        city = load_city(settings.city)
        bundle = await tx.run(
            lambda s: offline.offline_bundle(
                s,
                principal,
                city,
                location_id=location_id,
                secret=settings.secret_key,
                base_url=settings.base_url,
                now=utcnow(),
            )
        )
        return OfflineBundleRead.of(bundle)

    @post(
        "/redemptions/uploads",
        status_code=HTTP_200_OK,
        summary="Upload what a till did offline",
        description="Records every redemption made offline, verifying its code as of the till's time (`occurred_at`) "
        "and the card's status as of now, and checking the benefit, eligibility, the card's limit and the quota "
        "as of then. A broken rule does not refuse the redemption (the goods were given): it is recorded with "
        "`flags` for review and counts towards limits and quotas. Only what cannot be stored is refused, per item, "
        "with a `code`. Idempotent by `client_nonce`: an upload repeated after a lost answer records nothing "
        "twice and answers `replayed` with the same redemptions and flags. Offline verifications are recorded for "
        "statistics with the till's time. A malformed item refuses the whole upload (422, nothing stored), naming "
        "it as `redemptions[3].quantity`.",
        responses={
            **NOT_ALLOWED,
            422: ResponseSpec(
                data_container=Problem,
                media_type="application/problem+json",
                description="An item was malformed; `errors` names each as `redemptions[3].occurred_at` or "
                "`verifications[0].reason`. Nothing was stored.",
                generate_examples=False,
            ),
        },
    )
    async def upload(
        self,
        data: JSONBody[UploadCreate],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> UploadRead:
        typed = sum(1 for item in data.redemptions if not item.text and item.card_number)
        await limit_till(runtime, principal, typed=min(typed, offline.MAX_REDEMPTIONS + 1))
        city = load_city(runtime.settings.city)
        redemptions = [msgspec.structs.asdict(item) for item in data.redemptions]
        verifications = [msgspec.structs.asdict(item) for item in data.verifications]
        result = await tx.run(
            lambda s: offline.upload(
                s,
                principal,
                city,
                redemptions=redemptions,
                verifications=verifications,
                now=utcnow(),
                meta=meta,
            )
        )
        for item in result.redemptions:
            count_redemption("flagged" if item.status == offline.RECORDED and item.flags else item.status, "offline")
        return UploadRead.of(result)


@get("/partner/scanner-sw.js", opt=PUBLIC_OPT, include_in_schema=False, media_type="text/javascript")
async def scanner_service_worker() -> File:
    """The scanner page's service worker, served beside the page so that its scope can be /partner/scanner."""
    return File(
        STATIC_DIR / "js" / "scanner-sw.js", content_disposition_type="inline", headers={"Cache-Control": "no-cache"}
    )


ROUTES: list[Any] = [OfflineController, scanner_service_worker]
