"""Exports of the staff statistics dashboard: a table as CSV or XLSX, made at once when small, else by a worker with
a page that shows its progress and the download when it is ready. Analysts and administrators only."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from familienkarte.accounts.guards import roles_opt
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.db import Tx, utcnow
from familienkarte.runtime import Runtime
from familienkarte.statistics import exports

EXPORTS_PATH = "/staff/statistics/exports"
# A refused export shows what was wrong, field by field, with a way back to the dashboard.
REFUSED = {"form_template": "staff_statistics/export_refused.html"}


def _file(made: exports.ExportFile) -> Response[bytes]:
    return Response(
        made.content,
        media_type=made.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{made.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _status(view: exports.ExportJobView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "status": view.status,
        "progress": view.progress,
        "rows": view.rows,
        "download_url": view.download_url,
        "error": view.error,
        "message": view.message,
    }


class StaffStatisticsExportsController(Controller):
    path = EXPORTS_PATH
    opt = roles_opt(Role.ANALYST, Role.ADMIN)
    include_in_schema = False

    @post("/", opt=REFUSED, status_code=200)
    async def export(
        self,
        tx: NamedDependency[Tx],
        runtime: NamedDependency[Runtime],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        form: NamedDependency[dict[str, str]],
    ) -> Response[Any]:
        """One table with the dashboard's filters (the form's ``table``, ``format`` and filter fields)."""
        city = load_city(runtime.settings.city)
        today = city.today()
        outcome = await tx.run(
            lambda s: exports.request_export(s, principal, city, form, now=utcnow(), today=today, meta=meta)
        )
        if outcome.file is not None:
            return _file(outcome.file)
        return Redirect(f"{EXPORTS_PATH}/{outcome.job_id}", status_code=303)

    @get("/")
    async def jobs(self, tx: NamedDependency[Tx], principal: NamedDependency[Principal]) -> Template:
        views = await tx.read(lambda s: exports.export_jobs(s, principal, utcnow()))
        return Template("staff_statistics/export_jobs.html", context={"jobs": views, "days": exports.EXPORT_TTL.days})

    @get("/{job_id:uuid}")
    async def job(
        self, tx: NamedDependency[Tx], principal: NamedDependency[Principal], job_id: FromPath[uuid.UUID]
    ) -> Template:
        view = await tx.read(lambda s: exports.export_job(s, principal, job_id, utcnow()))
        return Template("staff_statistics/export_job.html", context={"job": view})

    @get("/{job_id:uuid}/status")
    async def status(
        self, tx: NamedDependency[Tx], principal: NamedDependency[Principal], job_id: FromPath[uuid.UUID]
    ) -> Response[dict[str, Any]]:
        view = await tx.read(lambda s: exports.export_job(s, principal, job_id, utcnow()))
        return Response(_status(view), headers={"Cache-Control": "no-store"})

    @get("/{job_id:uuid}/file")
    async def file(
        self,
        tx: NamedDependency[Tx],
        principal: NamedDependency[Principal],
        meta: NamedDependency[RequestMeta],
        job_id: FromPath[uuid.UUID],
    ) -> Response[bytes]:
        made = await tx.run(lambda s: exports.export_job_file(s, principal, job_id, utcnow(), meta=meta))
        return _file(made)


ROUTES: list[Any] = [StaffStatisticsExportsController]
