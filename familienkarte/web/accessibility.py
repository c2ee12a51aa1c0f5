"""The accessibility statement (Erklärung zur Barrierefreiheit), filled from the city file."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Template

from familienkarte.accounts.guards import PUBLIC_OPT
from familienkarte.city import load_city
from familienkarte.runtime import Runtime


@get(["/accessibility", "/barrierefreiheit"], opt=PUBLIC_OPT, include_in_schema=False)
async def accessibility_statement(runtime: NamedDependency[Runtime]) -> Template:
    statement = load_city(runtime.settings.city).accessibility
    return Template("accessibility.html", context={"statement": statement})


ROUTES: list[Any] = [accessibility_statement]
