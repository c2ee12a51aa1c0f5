"""The family's card as JSON for the card page: the card, activating a phone, renewing its credential."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.cards import credentials
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.runtime import Runtime
from familienkarte.web.problems import BAD_REQUEST


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type="application/problem+json", description=description, generate_examples=False
    )


class ChildAge(msgspec.Struct, kw_only=True):
    first_name: str
    age: Annotated[int, msgspec.Meta(description="Completed years today in the city's time zone.")]


class MyCardRead(msgspec.Struct, kw_only=True):
    """The signed-in family's card, as printed on the card page."""

    number: Annotated[str, msgspec.Meta(description="The card number in groups of three.", examples=["7KX 3QM 9TB"])]
    status: Annotated[str, msgspec.Meta(description="`active`, `suspended`, `revoked` or `expired`.")]
    valid_until: Annotated[dt.date, msgspec.Meta(description="The last day the card is valid.")]
    holders: Annotated[list[str], msgspec.Meta(description="The adults' full names.")]
    children: Annotated[list[ChildAge], msgspec.Meta(description="Born children, oldest first.")]
    city: str
    server_time: Annotated[int, msgspec.Meta(description="The server's clock, unix seconds.")]

    @classmethod
    def from_view(cls, view: credentials.CardView) -> MyCardRead:
        return cls(
            number=view.formatted_number,
            status=view.status,
            valid_until=view.valid_until,
            holders=view.holders,
            children=[ChildAge(first_name=c.first_name, age=c.age) for c in view.children],
            city=view.city,
            server_time=view.server_time,
        )


class ActivationCreate(msgspec.Struct, kw_only=True):
    """A phone's public key, made in the browser as a non-extractable WebCrypto key."""

    device_key: Annotated[
        str | None,
        msgspec.Meta(description="base64url (no padding) of the 33-byte compressed P-256 public key."),
    ] = None
    device_name: Annotated[
        str | None, msgspec.Meta(description="A name for the phone, shown in the list of devices; at most 60.")
    ] = None


class CredentialIssued(msgspec.Struct, kw_only=True):
    """A phone credential (FK1, CREDENTIAL.md): present it as `FK1:` + credential + `.t.p`."""

    credential_id: uuid.UUID
    credential: Annotated[str, msgspec.Meta(description="The compact JWS, with `k` set to the device key.")]
    exp: Annotated[int, msgspec.Meta(description="Expiry, unix seconds; renew before it while online.")]
    server_time: Annotated[int, msgspec.Meta(description="The server's clock, unix seconds.")]

    @classmethod
    def from_issued(cls, issued: credentials.IssuedCredential) -> CredentialIssued:
        return cls(
            credential_id=issued.credential_id,
            credential=issued.credential,
            exp=issued.exp,
            server_time=issued.server_time,
        )


NOT_ALLOWED = {
    401: _problem("Not signed in."),
    403: _problem("Not a family account, or a missing CSRF token (`csrf_failed`)."),
}


class MyCardController(Controller):
    path = "/api/v1/me/card"
    tags = ["family card"]
    opt = roles_opt(Role.FAMILY)
    security = [{"session": []}]

    @get(
        "/",
        summary="My family card",
        description="The signed-in family's card with the facts the card page shows. No card yet: 404 `no_card`.",
        responses={**NOT_ALLOWED, 404: _problem("No card yet (`no_card`).")},
    )
    async def my_card(
        self, tx: NamedDependency[Tx], runtime: NamedDependency[Runtime], principal: NamedDependency[Principal]
    ) -> MyCardRead:
        city = load_city(runtime.settings.city)
        view = await tx.read(lambda s: credentials.card_view(s, principal, city, utcnow()))
        return MyCardRead.from_view(view)

    @post(
        "/activations",
        status_code=HTTP_201_CREATED,
        summary="Put the card on this phone",
        description="Issues a phone credential bound to the device key, with its own status entry, valid "
        f"{credentials.PHONE_LIFETIME.days} days at most and never past the card. Each adult may have "
        f"{credentials.MAX_PHONE_DEVICES} active phones. Send the `X-CSRF-Token` header.",
        responses={
            400: BAD_REQUEST,
            **NOT_ALLOWED,
            409: _problem("The card is not active (`card_not_active`), or too many phones (`too_many_devices`)."),
            422: _problem("The device key or name was refused; see `errors` (`device_key`, `device_name`)."),
        },
    )
    async def activate(
        self,
        data: JSONBody[ActivationCreate],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> CredentialIssued:
        city = load_city(runtime.settings.city)
        secret = runtime.settings.secret_key
        issued = await tx.run(
            lambda s: credentials.activate_phone(
                s, principal, city, data.device_key, data.device_name, utcnow(), secret, meta=meta
            )
        )
        return CredentialIssued.from_issued(issued)

    @post(
        "/credentials/{credential_id:uuid}/renew",
        status_code=HTTP_200_OK,
        summary="Renew this phone's credential",
        description="A fresh credential for the same device key and status entry, for a phone that is online. "
        "Only for the signed-in adult's own phones; others answer 404 (`credential_not_found`).",
        responses={
            400: BAD_REQUEST,
            **NOT_ALLOWED,
            404: _problem("No such phone of yours (`credential_not_found`)."),
            409: _problem("The card is not active (`card_not_active`) or the phone was removed."),
        },
    )
    async def renew(
        self,
        credential_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
    ) -> CredentialIssued:
        city = load_city(runtime.settings.city)
        secret = runtime.settings.secret_key
        issued = await tx.run(lambda s: credentials.renew_phone(s, principal, city, credential_id, utcnow(), secret))
        return CredentialIssued.from_issued(issued)


ROUTES: list[Any] = [MyCardController]
