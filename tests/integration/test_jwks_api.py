"""The JWKS at /.well-known/jwks.json: what it publishes, how it may be cached, and that standard JOSE reads it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from joserfc import jwt
from joserfc.jwk import KeySet
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from familienkarte.credentials import CredentialClaims, issue_credential
from familienkarte.credentials import services as keys
from familienkarte.settings import Settings

PATH = "/.well-known/jwks.json"


def _directives(cache_control: str) -> set[str]:
    return {part.strip() for part in cache_control.split(",")}


def test_the_jwks_is_public_cacheable_and_empty_before_the_first_key(client: TestClient[Litestar]) -> None:
    response = client.get(PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert _directives(response.headers["cache-control"]) == {"public", "max-age=300"}
    assert response.headers["access-control-allow-origin"] == "*"  # also for verifiers on other sites
    assert response.json() == {"keys": []}


def test_the_jwks_lists_the_active_key_with_exactly_the_public_members(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings
) -> None:
    with db() as session, session.begin():
        kid = keys.ensure_active_key(session, settings.secret_key)

    (entry,) = client.get(PATH).json()["keys"]

    assert set(entry) == {"kty", "crv", "x", "y", "kid", "alg", "use"}  # no "d", nothing private
    assert {k: entry[k] for k in ("kty", "crv", "kid", "alg", "use")} == {
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    }


def test_a_credential_signed_with_the_active_key_verifies_with_joserfc_against_the_jwks(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings
) -> None:
    claims = CredentialClaims(sub="K7M2Q9X4A", exp=int(time.time()) + 3600, a=2, c=(201803, 202107), s=4711, e=1)
    with db() as session, session.begin():
        key = keys.signing_key(session, settings.secret_key)
        credential = issue_credential(claims, key)
        keys.record_issued(session, key.kid, claims.exp)

    key_set = KeySet.import_key_set(client.get(PATH).json())
    token = jwt.decode(credential, key_set, algorithms=["ES256"])

    assert token.header == {"alg": "ES256", "kid": key.kid}
    assert token.claims == claims.to_payload()


def test_after_rotation_both_keys_verify_until_the_old_ones_credentials_expire(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings
) -> None:
    exp = int(time.time()) + 3600
    with db() as session, session.begin():
        old = keys.signing_key(session, settings.secret_key)
        old_credential = issue_credential(CredentialClaims(sub="A1", exp=exp, a=1, c=(), s=1), old)
        keys.record_issued(session, old.kid, exp)
        keys.rotate_key(session, settings.secret_key)
        new = keys.signing_key(session, settings.secret_key)
        new_credential = issue_credential(CredentialClaims(sub="B2", exp=exp, a=1, c=(), s=2), new)
        keys.record_issued(session, new.kid, exp)

    document = client.get(PATH).json()
    assert [entry["kid"] for entry in document["keys"]] == [new.kid, old.kid]  # the active key first
    key_set = KeySet.import_key_set(document)
    assert jwt.decode(old_credential, key_set, algorithms=["ES256"]).claims["sub"] == "A1"
    assert jwt.decode(new_credential, key_set, algorithms=["ES256"]).claims["sub"] == "B2"

    # Once the old key's credentials have expired (exp plus the verifiers' tolerance), it is gone.
    with db() as session:
        later = dt.datetime.fromtimestamp(exp + 60, dt.UTC)
        assert [k.kid for k in keys.published_keys(session, later)] == [new.kid]


def test_the_status_list_token_verifies_with_joserfc_against_the_jwks(
    client: TestClient[Litestar], db: Callable[[], Session]
) -> None:
    with db() as session, session.begin():
        keys.allocate_status_index(session)
    token = client.get("/api/v1/status-lists/1").text

    decoded = jwt.decode(token, KeySet.import_key_set(client.get(PATH).json()), algorithms=["ES256"])

    assert decoded.header["typ"] == "statuslist+jwt"
    assert decoded.claims["sub"].endswith("/api/v1/status-lists/1")
    assert decoded.claims["status_list"]["bits"] == 2


def test_both_endpoints_are_documented_in_openapi(client: TestClient[Litestar]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    jwks = paths[PATH]["get"]
    assert "application/jwk-set+json" in jwks["responses"]["200"]["content"]
    status_list = paths["/api/v1/status-lists/{list_id}"]["get"]
    assert "application/statuslist+jwt" in status_list["responses"]["200"]["content"]
    assert "404" in status_list["responses"]
