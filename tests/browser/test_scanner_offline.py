"""The scanner page without a network, in Chromium: verify in the browser, queue the redemption, upload it later.

A cashier opens the scanner online, which installs its service worker and keeps the location's offline bundle in
IndexedDB. Then the network goes away: a phone's code typed by a barcode scanner is verified in the browser (with
the status list's age shown), a benefit is redeemed into the queue, and nothing reaches the server. When the
network is back, the page uploads the queue and the offline verification, and the server has both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.credentials import services as credential_services
from familienkarte.redemptions.models import Redemption, VerificationEvent
from familienkarte.redemptions.services import REASON_TEXTS
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_partner_journey import Problems
from tests.browser.test_scanner import (
    FREE_ENTRY,
    enter,
    expect_verdict,
    offer,
    open_scanner,
    panel,
    phone_code,
    redemptions,
    texts,
)
from tests.integration.test_card_credentials import now
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import Till, make_till
from tests.workers_helpers import wait_until

pytestmark = pytest.mark.browser

# Whether the page's service worker is active and the location's bundle is kept. Read through IndexedDB's own
# API; the database is opened only once the page has created it (opening it first would create it empty).
OFFLINE_READY = """async (locationId) => {
  const registration = await navigator.serviceWorker.getRegistration("/partner/scanner");
  if (!registration || !registration.active || registration.active.state !== "activated") {
    return false;
  }
  const names = await indexedDB.databases();
  if (!names.some((entry) => entry.name === "familienkarte-scanner")) {
    return false;
  }
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("familienkarte-scanner");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  try {
    if (!db.objectStoreNames.contains("bundles")) {
      return false;
    }
    return await new Promise((resolve) => {
      const request = db.transaction("bundles").objectStore("bundles").get(locationId);
      request.onsuccess = () => resolve(Boolean(request.result && request.result.bundle.benefits.length));
      request.onerror = () => resolve(false);
    });
  } finally {
    db.close();
  }
}"""


@pytest.fixture
def problems() -> Iterator[Problems]:
    found = Problems()
    yield found
    assert found.seen == [], found.seen


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any, live_server: LiveServer) -> Till:
    till = make_till(db, make_user)
    # The issuer key and a status list exist before the page fetches its bundle (a city has them from its first
    # card on); the key is the live server's, which signs the list tokens in the bundle.
    with db() as s, s.begin():
        credential_services.ensure_active_key(s, live_server.settings.secret_key)
        credential_services.allocate_status_index(s, now())
    return till


def offline_ready(page: Page, till: Till) -> bool:
    return bool(page.evaluate(OFFLINE_READY, str(till.location_id)))


def test_offline_a_code_is_verified_and_the_redemption_is_queued_then_uploaded(
    db: Callable[[], Session],
    live_server: LiveServer,
    desktop: BrowserContext,
    till: Till,
    problems: Problems,
) -> None:
    free_entry = benefit(db, till, title=FREE_ENTRY, limit_count=1, limit_period="month")
    page = problems.watch(desktop.new_page())
    open_scanner(page, till)
    wait_until(lambda: offline_ready(page, till), timeout=120, what="the service worker and the offline bundle")
    # Nothing of the page's own may still be on its way when the network goes.
    page.wait_for_load_state("networkidle")

    desktop.set_offline(True)
    before = live_server.requests.mark()
    scanned_at = now()
    enter(page, phone_code(db, live_server, till))
    expect_verdict(page, "valid", REASON_TEXTS["ok"])
    notes = page.locator("#result-notes")
    expect(notes).to_contain_text(texts("Phone code checked."))
    expect(notes).to_contain_text(
        texts("Offline: checked on this device; status list {minutes} minutes old.", minutes=0)
    )
    # Uses left cannot be known offline; the benefit is offered all the same.
    expect(offer(page, FREE_ENTRY)).to_be_visible()
    screenshot(page, "scanner-offline-valid")

    offer(page, FREE_ENTRY).get_by_role("button").click()
    expect(page.locator("#redeem-status")).to_have_text(
        texts("Saved on this device; it will be sent when the network is back.")
    )
    expect(page.locator("#offline-status")).to_have_attribute("data-pending", "1")
    expect(page.locator("#offline-status")).to_contain_text(texts("Redemptions waiting to be sent: {n}", n=1))
    screenshot(page, "scanner-offline-queued")
    assert redemptions(db, till) == []
    # The service worker's update check runs outside Chromium's emulated offline state; nothing else reached the
    # server (see tests/browser/test_card_page.py).
    assert [path for path in live_server.requests.since(before) if path != "/partner/scanner-sw.js"] == []

    desktop.set_offline(False)
    wait_until(lambda: len(redemptions(db, till)) == 1, timeout=60, what="the queued redemption to be uploaded")
    (row,) = redemptions(db, till)
    assert (row.benefit_id, row.location_id, row.quantity, row.presentation) == (
        free_entry,
        till.location_id,
        1,
        "phone",
    )
    assert (row.offline, row.flags, row.card_number, row.status) == (True, [], till.number, "recorded")
    assert row.uploaded_at is not None
    assert scanned_at - dt.timedelta(seconds=1) <= row.occurred_at <= row.uploaded_at
    expect(page.locator("#offline-status")).to_have_attribute("data-pending", "0")
    expect(page.locator("#offline-status")).to_contain_text(
        texts("Saved redemptions sent: {uploaded}; flagged for review: {flagged}.", uploaded=1, flagged=0)
    )
    expect(panel(page)).to_be_visible()

    # The offline verification reached the statistics with the till's time.
    with db() as s:
        events = s.scalars(
            select(VerificationEvent).where(
                VerificationEvent.partner_id == till.partner_id, VerificationEvent.presentation == "phone"
            )
        ).all()
    assert [(e.reason, e.location_id) for e in events] == [("ok", till.location_id)]
    assert scanned_at - dt.timedelta(seconds=1) <= events[0].at <= row.occurred_at
    with db() as s:
        assert s.scalars(select(Redemption).where(Redemption.offline.is_(False))).all() == []
