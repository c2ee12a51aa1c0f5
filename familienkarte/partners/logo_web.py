"""The public logo of an approved partner, as re-encoded when it was uploaded."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.db import Tx
from familienkarte.partners import services
from familienkarte.partners.services import Logo

# An hour: a new logo or a suspended partner shows within that time, and catalogue pages stay cheap.
MAX_AGE_SECONDS = 3600


def logo_response(request: Request[Any, Any, Any], logo: Logo, *, public: bool) -> Response[bytes]:
    """The image with its type; never sniffed as anything else; revalidated by its ETag."""
    etag = '"' + hashlib.sha256(logo.data).hexdigest()[:32] + '"'
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}" if public else "private, no-cache",
        "ETag": etag,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "inline",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(b"", status_code=304, headers=headers)
    return Response(logo.data, media_type=logo.media_type, headers=headers)


@get("/partners/{partner_id:uuid}/logo", opt=PUBLIC_OPT, include_in_schema=False)
async def partner_logo(
    request: Request[Any, Any, Any], partner_id: FromPath[uuid.UUID], tx: NamedDependency[Tx]
) -> Response[bytes]:
    logo = await tx.read(lambda s: services.public_logo(s, partner_id))
    return logo_response(request, logo, public=True)


ROUTES: list[Any] = [partner_logo]
