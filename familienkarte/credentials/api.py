"""Public JSON endpoints of the credentials domain: the issuer's keys (JWKS) and the status lists."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from familienkarte.accounts.api_key_schemas import Problem
from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.credentials import services
from familienkarte.credentials.fk1 import IssuerKey
from familienkarte.credentials.jwks import jwks
from familienkarte.db import Tx, utcnow
from familienkarte.runtime import Runtime
from familienkarte.web.problems import BAD_REQUEST

JWKS_MAX_AGE = 300
JWKS_MEDIA_TYPE = "application/jwk-set+json"
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"
# Public documents: a verifier running in a browser on another site (a till's web software) may read them too.
ANY_ORIGIN = [ResponseHeader(name="Access-Control-Allow-Origin", value="*", description="Readable from any site.")]


class Jwk(msgspec.Struct, kw_only=True):
    """A public issuer key (RFC 7517): ECDSA P-256, used as ES256."""

    kty: Annotated[str, msgspec.Meta(examples=["EC"])]
    crv: Annotated[str, msgspec.Meta(examples=["P-256"])]
    x: Annotated[str, msgspec.Meta(description="base64url of the 32-byte x coordinate")]
    y: Annotated[str, msgspec.Meta(description="base64url of the 32-byte y coordinate")]
    kid: Annotated[str, msgspec.Meta(description="The key id in credential headers (at most 8 characters).")]
    alg: Annotated[str, msgspec.Meta(examples=["ES256"])]
    use: Annotated[str, msgspec.Meta(examples=["sig"])]


class Jwks(msgspec.Struct, kw_only=True):
    """The JSON Web Key Set of every issuer key that may still verify a live credential."""

    keys: list[Jwk]

    @classmethod
    def from_keys(cls, keys: list[IssuerKey]) -> Jwks:
        return cls(keys=[Jwk(**entry) for entry in jwks(keys)["keys"]])


@get(
    "/.well-known/jwks.json",
    opt=PUBLIC_OPT,
    tags=["credentials"],
    media_type=JWKS_MEDIA_TYPE,
    cache_control=CacheControlHeader(public=True, max_age=JWKS_MAX_AGE),
    response_headers=ANY_ORIGIN,
    summary="The issuer's public keys (JWKS)",
    description="Every key that may still verify a live card credential: the active signing key, and earlier "
    "keys until the last credential they signed has expired. Verify FK1 credentials and status list tokens "
    f"(ES256, chosen by `kid`) with it. Cacheable for {JWKS_MAX_AGE} seconds; fetch it again when a credential "
    "names a `kid` that is not in the cached set.",
)
async def jwks_document(tx: NamedDependency[Tx]) -> Jwks:
    keys = await tx.read(lambda s: services.published_keys(s, utcnow()))
    return Jwks.from_keys(keys)


@get(
    "/api/v1/status-lists/{list_id:int}",
    opt=PUBLIC_OPT,
    tags=["credentials"],
    media_type=STATUS_LIST_MEDIA_TYPE,
    cache_control=CacheControlHeader(public=True, max_age=services.TOKEN_TTL),
    response_headers=ANY_ORIGIN,
    summary="A status list (revoked and suspended credentials)",
    description="The status list `list_id` (a credential's `l`, 1 when absent) as a status list token per "
    "draft-ietf-oauth-status-list: a JWT with header `typ: statuslist+jwt`, signed with an issuer key from "
    "`/.well-known/jwks.json`; claims `sub` (this URL), `iat`, `exp` (24 hours after `iat`), `ttl` "
    f"({services.TOKEN_TTL} seconds: fetch again after that) and `status_list` (`bits` 2, `lst` the "
    "base64url zlib-compressed entries: 0 valid, 1 revoked, 2 suspended). A change made to an entry is in "
    "every download that starts after it. Unknown list: 404.",
    responses={
        400: BAD_REQUEST,
        404: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description="There is no such status list (`status_list_not_found`).",
            generate_examples=False,
        ),
    },
)
async def status_list(list_id: FromPath[int], tx: NamedDependency[Tx], runtime: NamedDependency[Runtime]) -> str:
    settings = runtime.settings
    return await tx.run(
        lambda s: services.status_list_token(s, list_id, settings.secret_key, settings.base_url, utcnow())
    )


ROUTES: list[Any] = [jwks_document, status_list]
