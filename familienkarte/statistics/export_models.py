"""Export jobs: a large statistics export made by a worker (queue ``stats``) and downloaded by the staff member who
asked (or an administrator) until it expires."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, new_uuid, utcnow


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class ExportJob(Base):
    """One export of one dashboard table with the filters it was asked with (``filters``: the URL parameters).

    ``locale`` is the language of the person who asked: the worker writes the headers and labels in it.
    ``content`` holds the file once it is made (``status`` done); the row is deleted after ``expires_at``.
    """

    __tablename__ = "stats_export_jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ExportStatus)})", name="status_known"),
        CheckConstraint(f"format IN ({_in(ExportFormat)})", name="format_known"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    table: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    locale: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.QUEUED.value, index=True)
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    rows: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
