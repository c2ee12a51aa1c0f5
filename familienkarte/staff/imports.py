"""Staff import partners, locations and benefits from CSV files: the documented columns, example files, a dry run
that lists every error, then the import (see familienkarte.partners.csv_import)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.db import Tx
from familienkarte.partners import csv_import
from familienkarte.partners.moderation import BENEFIT_STATUS_LABELS
from familienkarte.runtime import Runtime

IMPORT_OPT = roles_opt(Role.PARTNER_MANAGER, Role.ADMIN)
# Three files of at most 5 MB each, with room for the form around them.
MAX_BODY = len(csv_import.KINDS) * csv_import.MAX_BYTES + 1024 * 1024
CONTEXT: dict[str, Any] = {
    "columns": csv_import.COLUMNS,
    "file_names": csv_import.FILE_NAMES,
    "kinds": csv_import.KINDS,
    "required_files": csv_import.REQUIRED_FILES,
    "max_rows": csv_import.MAX_ROWS,
    "max_megabytes": csv_import.MAX_BYTES // 2**20,
    "separator": csv_import.LIST_SEPARATOR,
    "benefit_status_labels": BENEFIT_STATUS_LABELS,
}


async def _files(request: Request[Any, Any, Any]) -> dict[str, bytes | None]:
    """The uploaded files by kind (the form was parsed once, by the CSRF check); at most one byte over the limit."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return {}
    form = await request.form()
    files: dict[str, bytes | None] = {}
    for kind in csv_import.KINDS:
        upload = form.get(kind)
        files[kind] = await upload.read(csv_import.MAX_BYTES + 1) if isinstance(upload, UploadFile) else None
    return files


def _report_page(report: csv_import.ImportReport, *, ran: bool) -> Template:
    return Template(
        "staff_imports/report.html",
        context={**CONTEXT, "report": report, "ran": ran},
        status_code=200 if report.ok or not ran else 422,
    )


class ImportController(Controller):
    path = "/staff/imports"
    opt = IMPORT_OPT
    include_in_schema = False

    @get("/")
    async def page(self) -> Template:
        return Template("staff_imports/index.html", context=CONTEXT)

    @get("/example/{filename:str}")
    async def example(self, runtime: NamedDependency[Runtime], filename: FromPath[str]) -> Response[bytes]:
        data = csv_import.example_file(filename, load_city(runtime.settings.city))
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @post("/check", request_max_body_size=MAX_BODY)
    async def check(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        form: NamedDependency[dict[str, str]],
    ) -> Response[Any]:
        """The dry run: the report of every error, as a page or (``format=csv``) as a file to download."""
        city = load_city(runtime.settings.city)
        files = await _files(request)
        report = await tx.read(lambda s: csv_import.check_import(s, principal, city, files))
        if form.get("format") == "csv":
            return Response(
                csv_import.report_csv(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="import-report.csv"'},
            )
        return _report_page(report, ran=False)

    @post("/run", request_max_body_size=MAX_BODY)
    async def run(
        self,
        request: Request[Any, Any, Any],
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
    ) -> Template:
        """Import everything, or (with any error) nothing and the report."""
        city = load_city(runtime.settings.city)
        files = await _files(request)
        report = await tx.run(lambda s: csv_import.run_import(s, principal, city, files, meta=meta))
        return _report_page(report, ran=True)


ROUTES: list[Any] = [ImportController]
