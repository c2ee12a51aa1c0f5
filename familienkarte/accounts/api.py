"""JSON API of the accounts area: who am I, and partner API keys."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from familienkarte.accounts import api_keys
from familienkarte.accounts.api_key_schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, MeRead, Problem
from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import ALL_ROLES, Role
from familienkarte.db import Tx
from familienkarte.web.problems import BAD_REQUEST

KEY_MANAGERS = roles_opt(Role.PARTNER_OWNER, Role.ADMIN, Role.PARTNER_MANAGER)


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type="application/problem+json", description=description, generate_examples=False
    )


NOT_SIGNED_IN = {401: _problem("No valid API key or session.")}
KEY_PROBLEMS = {
    400: BAD_REQUEST,
    **NOT_SIGNED_IN,
    403: _problem("Not allowed: a cashier, another role, an API key, or a missing CSRF token (`csrf_failed`)."),
    404: _problem("No such partner or key, or one of another partner."),
}

_KEY_RULES = (
    "Sessions only (a partner owner for their own partner, `admin`, `partner_manager`); an API key cannot manage "
    "keys (403). Another partner's records answer 404."
)


class MeController(Controller):
    path = "/api/v1"
    tags = ["accounts"]
    opt = roles_opt(ALL_ROLES, api_key=True)

    @get(
        "/me",
        summary="Who am I",
        description="The role, partner, location and name behind the request's API key or session. "
        "Useful to check a till's configuration. Without credentials: 401.",
        responses=NOT_SIGNED_IN,
    )
    async def me(self, principal: NamedDependency[Principal]) -> MeRead:
        return MeRead.from_principal(principal)


class ApiKeyController(Controller):
    path = "/api/v1/partners/{partner_id:uuid}/api-keys"
    tags = ["api keys"]
    opt = KEY_MANAGERS
    security = [{"session": []}]

    @get(
        "/",
        summary="List a partner's API keys",
        description=f"Newest first, revoked keys included; never a secret. {_KEY_RULES}",
        responses=KEY_PROBLEMS,
    )
    async def list_keys(
        self, partner_id: FromPath[uuid.UUID], tx: NamedDependency[Tx], principal: NamedDependency[Principal]
    ) -> list[ApiKeyRead]:
        views = await tx.run(lambda s: api_keys.list_keys(s, principal, partner_id))
        return [ApiKeyRead.from_view(v) for v in views]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create an API key",
        description="A key for the partner, optionally bound to one of its locations. The response holds the "
        "token; it is stored only as a hash and cannot be shown again. Invalid name or location: 422 with "
        f"per-field `errors`. {_KEY_RULES}",
        responses={**KEY_PROBLEMS, 422: _problem("The name or location was refused; see `errors`.")},
    )
    async def create_key(
        self,
        partner_id: FromPath[uuid.UUID],
        data: JSONBody[ApiKeyCreate],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> ApiKeyCreated:
        created = await tx.run(
            lambda s: api_keys.create_key(s, principal, partner_id, data.name, data.location_id, meta=meta)
        )
        return ApiKeyCreated.from_created(created)

    @post(
        "/{key_id:uuid}/revoke",
        status_code=HTTP_200_OK,
        summary="Revoke an API key",
        description="The key stops working at once. Revoking a revoked key is no error and keeps the first "
        f"revocation time. {_KEY_RULES}",
        responses=KEY_PROBLEMS,
    )
    async def revoke_key(
        self,
        partner_id: FromPath[uuid.UUID],
        key_id: FromPath[uuid.UUID],
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> ApiKeyRead:
        view = await tx.run(lambda s: api_keys.revoke_key(s, principal, partner_id, key_id, meta=meta))
        return ApiKeyRead.from_view(view)


ROUTES: list[Any] = [MeController, ApiKeyController]
