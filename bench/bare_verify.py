"""The benchmark's baseline: a bare Litestar endpoint that does only the two signature checks of a phone code.

``POST /verify`` with ``{"text": "FK1:..."}`` answers ``{"valid": ..., "reason": ...}`` like the real endpoint's
verdict. It runs the project's :func:`familienkarte.credentials.fk1.verify_presentation` with the issuer's public
keys in memory and every status entry taken as valid: parsing, the issuer's ES256 signature over the credential,
the device's ES256 signature over the proof and the time checks. No database, no authentication, no rate limit,
no sessions, no middleware.

    BENCH_FIXTURE=path/to/fixture.json uvicorn --factory bench.bare_verify:create_app --workers 2
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
from litestar import Litestar, post

from bench.pos_data import Fixture
from familienkarte.credentials.fk1 import IssuerKey, verify_presentation
from familienkarte.credentials.jwks import issuer_key_from_jwk


class Scan(msgspec.Struct):
    text: str


class Verdict(msgspec.Struct):
    valid: bool
    reason: str


def _all_valid(_list_id: int, _index: int) -> int:
    return 0


def make_app(keys: dict[str, IssuerKey]) -> Litestar:
    @post("/verify", status_code=200)
    async def verify(data: Scan) -> Verdict:
        result = verify_presentation(data.text, keys, time.time(), _all_valid)
        return Verdict(valid=result.ok, reason=result.reason.value)

    return Litestar(route_handlers=[verify], openapi_config=None, logging_config=None, debug=False)


def create_app() -> Litestar:
    """The app for uvicorn's ``--factory``: the issuer keys from the fixture named by ``BENCH_FIXTURE``."""
    fixture = Fixture.load(Path(os.environ["BENCH_FIXTURE"]))
    keys = {key.kid: key for key in (issuer_key_from_jwk(jwk) for jwk in fixture.issuer_jwks)}
    return make_app(keys)
