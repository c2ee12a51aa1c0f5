"""A large statistics export in Chromium: the analyst asks for it with the keyboard, watches its progress bar fill
while a worker makes it (no reload), and downloads the file from the link that appears."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, ConsoleMessage, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.statistics import exports
from familienkarte.statistics.export_models import ExportJob
from tests.browser.test_partner_journey import sign_in
from tests.integration.test_statistics_exports import Factory, World, build_world

pytestmark = pytest.mark.browser
KOELN = load_city("koeln")


@pytest.fixture
def world(db: Factory) -> World:
    return build_world(db)


def de(message: str, **params: Any) -> str:
    text = i18n.translations("de").gettext(message)
    return text % params if params else text


def test_an_analyst_follows_a_large_export_and_downloads_it(
    desktop: BrowserContext, make_user: Any, world: World, db: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "SYNC_MAX_ROWS", 0)
    analyst = make_user(Role.ANALYST)
    page = desktop.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if isinstance(message, ConsoleMessage) and "Content Security Policy" in message.text
            else None
        ),
    )
    sign_in(page, analyst.email)
    page.goto("/staff/statistics?from=2026-07-01&to=2026-07-31")

    section = page.get_by_role("region", name=de("Partners with the most redemptions"))
    button = section.get_by_role("button", name=de("Download Excel (XLSX)"))
    # Reachable by keyboard: focused, then pressed with Enter.
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/statistics/exports/*")

    status = page.locator("#export-state")
    expect(status).to_have_text(de("Waiting for a worker to start the export."))
    expect(page.locator("#export-progress")).to_have_attribute("value", "0")
    expect(page.locator("#export-download")).to_be_hidden()

    with db() as s:
        job_id = s.scalar(select(ExportJob.id))
    assert job_id is not None

    @contextmanager
    def transaction() -> Iterator[Session]:
        with db() as s, s.begin():
            yield s

    # The worker's part, run here: the page learns of it by asking for the job's state.
    assert exports.run_export_job(transaction, KOELN, job_id) == "done"
    expect(status).to_have_text(de("The export is ready: %(rows)s rows.", rows=3))
    expect(page.locator("#export-progress")).to_have_js_property("value", 100)
    link = page.get_by_role("link", name=de("Download the file (%(format)s)", format="Excel (XLSX)"))
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    path = download.value.path()
    with open(path, "rb") as file:
        sheet = load_workbook(io.BytesIO(file.read())).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert ["Zoo Köln", 9, 11] in values
    assert ["Bad Porz", 7, 7] in values
    assert refused == []
