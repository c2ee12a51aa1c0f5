"""The scanner page in Chromium, in German, on a phone and at a desktop till: a cashier checks cards and redeems.

The cashier types a card number (no camera), redeems a benefit with one tap and voids it, is refused an unknown
and a revoked card, and scans a phone's code with a barcode scanner (which types the code and presses Enter). The
camera's QR reader is the npm polyfill where Chromium has no BarcodeDetector of its own: it is loaded, with its
WebAssembly from this site under the page's policy, and reads a QR code. The verdicts' sentences are those of
familienkarte.redemptions.services.REASON_TEXTS in the German catalogue; the page's own labels its English message
ids translated the same way, so the test breaks when the page changes, not when a translation is reworded.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.roles import Role
from familienkarte.cards import card_status, credentials
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.credentials.fk1 import CredentialClaims, issue_credential, present_printed
from familienkarte.redemptions import services
from familienkarte.redemptions.models import Redemption
from familienkarte.redemptions.services import REASON_TEXTS
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer, new_context, screenshot
from tests.browser.test_partner_journey import Problems, de, sign_in
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import Phone, now
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import Till, make_till
from tests.workers_helpers import wait_until

pytestmark = pytest.mark.browser

FREE_ENTRY = "Freier Eintritt"
TICKETS = "Kinderticket"
VOID_REASON = "Falsches Angebot getippt"


@pytest.fixture
def problems() -> Iterator[Problems]:
    found = Problems()
    yield found
    assert found.seen == [], found.seen


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


def phone_code(db: Callable[[], Session], live_server: LiveServer, till: Till) -> str:
    """A live phone code of the till's family, its credential signed with the live server's secret (the page's
    offline bundle signs status lists with it too)."""
    phone = Phone.new()
    with db() as s, s.begin():
        issued = credentials.activate_phone(
            s, till.family.principal(), KOELN, phone.k, "Phone", now(), live_server.settings.secret_key
        )
    return phone.present(issued.credential, int(now().timestamp()))


def printed_code(db: Callable[[], Session], live_server: LiveServer, till: Till) -> str:
    """A printed card's code for the till's family, signed with the live server's secret."""
    with db() as s, s.begin():
        key = credential_services.signing_key(s, live_server.settings.secret_key)
        list_id, index = credential_services.allocate_status_index(s, now())
        exp = int(now().timestamp()) + 86400 * 30
        credential_services.record_issued(s, key.kid, exp)
        claims = CredentialClaims(sub=till.number, exp=exp, s=index, l=list_id, a=2, c=(201904,), e=0)
        return present_printed(issue_credential(claims, key))


def texts(msgid: str, /, **params: Any) -> str:
    """A text of the page's script: ``{name}`` placeholders filled."""
    text = de(msgid)
    for name, value in params.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def scan_input(page: Page) -> Locator:
    return page.get_by_label(de("Scan the code or type the card number"), exact=True)


def panel(page: Page) -> Locator:
    return page.locator("#result")


def has_focus(page: Page, selector: str) -> bool:
    return bool(page.evaluate("(selector) => document.activeElement === document.querySelector(selector)", selector))


def offer(page: Page, title: str) -> Locator:
    return page.locator(".offer").filter(has=page.get_by_role("heading", name=title, exact=True))


def enter(page: Page, text: str) -> None:
    """Type into the scan input (focused, as the page keeps it) and press Enter, as a barcode scanner does."""
    wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="the scan input to have focus")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def expect_verdict(page: Page, state: str, sentence: str) -> None:
    expect(panel(page)).to_have_attribute("data-state", state)
    expect(page.locator("#result-title")).to_have_text(de("Valid") if state == "valid" else de("Refused"))
    expect(page.locator("#result-sentence")).to_have_text(de(sentence))
    wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="focus back on the scan input")


def redemptions(db: Callable[[], Session], till: Till) -> list[Redemption]:
    with db() as s:
        return list(s.scalars(select(Redemption).where(Redemption.partner_id == till.partner_id)))


def open_scanner(page: Page, till: Till) -> None:
    sign_in(page, till.cashier.email)
    page.goto("/partner/")
    page.get_by_role("link", name=de("Check family cards and redeem benefits"), exact=True).click()
    page.wait_for_url("**/partner/scanner")
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    location = page.get_by_label(de("Location"), exact=True)
    location.select_option(str(till.location_id))


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_a_cashier_checks_cards_and_redeems(
    request: pytest.FixtureRequest,
    live_server: LiveServer,
    db: Callable[[], Session],
    make_user: Any,
    till: Till,
    problems: Problems,
    device: str,
) -> None:
    context: BrowserContext = request.getfixturevalue(device)
    free_entry = benefit(db, till, title=FREE_ENTRY, limit_count=2, limit_period="month")
    benefit(db, till, title=TICKETS, max_quantity=4, total_quota=50)
    benefit(db, till, title="Nur im anderen Haus", here=False)
    page = problems.watch(context.new_page())
    open_scanner(page, till)
    number = format_card_number(till.number)

    # A card number typed by hand: valid, but no code was checked.
    enter(page, number)
    expect_verdict(page, "valid", REASON_TEXTS["ok"])
    expect(page.locator("#result-notes")).to_have_text(de("Number typed: no code was checked. Ask for ID."))
    facts = page.locator("#result-facts")
    expect(facts).to_contain_text(number)
    expect(facts).to_contain_text(de("Adults"))
    card_valid_until = page.locator("#result-facts dd").last
    expect(card_valid_until).to_have_text(re.compile(r"^\d{1,2}\. \w+ \d{4}$"))
    expect(offer(page, FREE_ENTRY)).to_contain_text(texts("Uses left for this card: {n}", n=2))
    expect(offer(page, TICKETS)).to_contain_text(texts("Tickets left: {n}", n=50))
    expect(page.locator(".offer")).to_have_count(2)  # not the benefit of the other location
    screenshot(page, f"scanner-{device}-valid-typed")

    # One tap redeems: confirmed, the uses left go down, the database has it.
    offer(page, FREE_ENTRY).get_by_role("button").click()
    status = page.locator("#redeem-status")
    expect(status).to_have_text(texts("Redeemed: {title} (quantity {quantity}).", title=FREE_ENTRY, quantity=1))
    expect(offer(page, FREE_ENTRY)).to_contain_text(texts("Uses left for this card: {n}", n=1))
    wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="focus back after redeeming")
    (recorded,) = redemptions(db, till)
    assert (recorded.benefit_id, recorded.location_id, recorded.quantity) == (free_entry, till.location_id, 1)
    assert (recorded.status, recorded.presentation) == ("recorded", "manual")
    screenshot(page, f"scanner-{device}-redeemed")

    # Voiding asks for a reason; without one the field says so.
    page.get_by_role("button", name=de("Void this redemption"), exact=True).click()
    reason = page.get_by_label(de("Reason for voiding"), exact=True)
    expect(reason).to_be_focused()
    page.get_by_role("button", name=de("Void redemption"), exact=True).click()
    expect(page.locator("#void-error")).to_have_text(de("Please say why the redemption is voided."))
    expect(reason).to_have_attribute("aria-invalid", "true")
    reason.fill(VOID_REASON)
    reason.press("Enter")
    expect(status).to_have_text(texts("Voided: {title}.", title=FREE_ENTRY))
    expect(offer(page, FREE_ENTRY)).to_contain_text(texts("Uses left for this card: {n}", n=2))
    wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="focus back after voiding")
    (voided,) = redemptions(db, till)
    assert (voided.status, voided.void_reason) == ("voided", VOID_REASON)

    # A quantity where the benefit allows more than one; a wrong one is refused at the field.
    tickets = offer(page, TICKETS)
    quantity = tickets.get_by_label(de("Quantity"), exact=True)
    quantity.fill("9")
    tickets.get_by_role("button").click()
    expect(tickets.locator(".error-message")).to_have_text(texts("Choose a quantity from 1 to {max}.", max=4))
    expect(quantity).to_be_focused()
    quantity.fill("3")
    tickets.get_by_role("button").click()
    expect(status).to_have_text(texts("Redeemed: {title} (quantity {quantity}).", title=TICKETS, quantity=3))
    expect(offer(page, TICKETS)).to_contain_text(texts("Tickets left: {n}", n=47))
    assert sorted(r.quantity for r in redemptions(db, till) if r.status == "recorded") == [3]

    # A typed number that belongs to no card.
    enter(page, new_card_number())
    expect_verdict(page, "refused", REASON_TEXTS["unknown_card"])
    expect(page.locator(".offer")).to_have_count(0)
    screenshot(page, f"scanner-{device}-unknown")

    # A phone's code typed by a barcode scanner: the code was checked.
    enter(page, phone_code(db, live_server, till))
    expect_verdict(page, "valid", REASON_TEXTS["ok"])
    expect(page.locator("#result-notes")).to_have_text(de("Phone code checked."))
    expect(offer(page, FREE_ENTRY)).to_contain_text(texts("Uses left for this card: {n}", n=2))
    screenshot(page, f"scanner-{device}-valid-scanned")

    # The card is revoked: its number is refused in red.
    caseworker = principal_for_user(make_user(Role.CASEWORKER))
    with db() as s, s.begin():
        card_status.change_card(s, KOELN, caseworker, till.family.card_id, "revoke", "Moved away", now=now())
    enter(page, till.number)
    expect_verdict(page, "refused", REASON_TEXTS["revoked"])
    screenshot(page, f"scanner-{device}-revoked")


def test_the_location_is_remembered_and_required(desktop: BrowserContext, till: Till, problems: Problems) -> None:
    page = problems.watch(desktop.new_page())
    sign_in(page, till.cashier.email)
    page.goto("/partner/scanner")
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    location = page.get_by_label(de("Location"), exact=True)
    # Two locations: none preselected, and a scan says to choose one first.
    expect(location).to_have_value("")
    enter(page, till.number)
    expect(page.locator("#scan-error")).to_have_text(de("Choose the location first."))
    expect(location).to_be_focused()
    location.select_option(str(till.other_location_id))
    page.reload()
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label(de("Location"), exact=True)).to_have_value(str(till.other_location_id))
    # Every request carries it: the verdict is for the other location.
    with page.expect_response("**/api/v1/verifications") as answer:
        enter(page, till.number)
    assert answer.value.json()["location_id"] == str(till.other_location_id)
    expect(panel(page)).to_have_attribute("data-state", "valid")


def test_a_signed_out_session_says_to_sign_in_again(desktop: BrowserContext, till: Till, problems: Problems) -> None:
    page = problems.watch(desktop.new_page())
    sign_in(page, till.cashier.email)
    page.goto("/partner/scanner")
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    page.get_by_label(de("Location"), exact=True).select_option(str(till.location_id))
    # The location's offline bundle is fetched while still signed in: on a busy machine that request could
    # otherwise leave after the sign-out below and be refused too.
    page.wait_for_load_state("networkidle")
    desktop.clear_cookies()
    problems.seen.clear()
    enter(page, till.number)
    expect(panel(page)).to_have_attribute("data-state", "problem")
    expect(page.locator("#result-sentence")).to_have_text(de("You are signed out. Please sign in again."))
    expect(page.get_by_role("link", name=de("Sign in again"), exact=True)).to_have_attribute(
        "href", "/login?next=/partner/scanner"
    )
    # The refused request is expected here, nothing else.
    assert [seen for seen in problems.seen if "/api/v1/verifications" not in seen] == []
    problems.seen.clear()


def test_the_camera_reader_loads_its_webassembly_from_this_site(
    phone: BrowserContext, live_server: LiveServer, till: Till, problems: Problems
) -> None:
    """Chromium on Linux has no BarcodeDetector of its own: the camera path reads with the npm polyfill."""
    page = problems.watch(phone.new_page())
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else elsewhere.append(r.url))
    sign_in(page, till.cashier.email)
    page.goto("/partner/scanner")
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    text = f"FK1:{uuid.uuid4().hex}"
    read = page.evaluate(
        """async (png) => {
            const root = document.getElementById("scanner");
            const scanner = await import("/static/js/scanner.js");
            const detector = await scanner.polyfillDetector(root.dataset.polyfillUrl, root.dataset.wasmUrl);
            const image = new Image();
            image.src = `data:image/png;base64,${png}`;
            await image.decode();
            const codes = await detector.detect(image);
            return codes.map((code) => code.rawValue);
        }""",
        base64.b64encode(qr_png(text)).decode(),
    )
    assert read == [text]
    assert elsewhere == []
    assert any(path.endswith("/zxing_reader.wasm") for path in live_server.requests.paths)


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as a PNG, drawn by zxing-cpp."""
    # zxing-cpp's image is a buffer of grey bytes, one per pixel (rows, columns).
    drawn = memoryview(cast(Any, zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=6)))
    rows, columns = drawn.shape or (0, 0)
    picture = Image.frombytes("L", (columns, rows), drawn.tobytes())
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_narrow_screen_keyboard_only_and_offline(
    browser: Browser, live_server: LiveServer, db: Callable[[], Session], till: Till, problems: Problems
) -> None:
    """320 px wide (a phone at 200 % zoom), used with the keyboard alone; then the network goes away."""
    benefit(db, till, title=FREE_ENTRY, limit_count=1, limit_period="day")
    context = new_context(browser, live_server, **{**PHONE, "viewport": {"width": 320, "height": 640}})
    try:
        page = problems.watch(context.new_page())
        open_scanner(page, till)
        enter(page, till.number)
        expect_verdict(page, "valid", REASON_TEXTS["ok"])
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        # From the scan input to the redeem button with Tab alone, redeemed with Enter.
        redeem = offer(page, FREE_ENTRY).get_by_role("button")
        for _ in range(20):
            if has_focus(page, ".offer button"):
                break
            page.keyboard.press("Tab")
        expect(redeem).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#redeem-status")).to_have_text(
            texts("Redeemed: {title} (quantity {quantity}).", title=FREE_ENTRY, quantity=1)
        )
        # Used up for today: shown, and the button no longer redeems.
        expect(offer(page, FREE_ENTRY)).to_contain_text(de("Not available now: used up."))
        expect(redeem).to_be_disabled()
        wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="focus back after redeeming")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        screenshot(page, "scanner-narrow-used-up")

        # Offline, a typed number cannot be looked up; the page says so instead of failing.
        context.set_offline(True)
        enter(page, till.number)
        expect(panel(page)).to_have_attribute("data-state", "problem")
        expect(page.locator("#result-sentence")).to_have_text(
            de("You are offline. Looking up a card number needs the network; please scan the code.")
        )
        assert len(redemptions(db, till)) == 1
    finally:
        context.close()


def y4m_still(png: bytes, path: Path) -> Path:
    """A one-frame Y4M video of a picture (grey), which Chromium's fake camera plays in a loop."""
    picture = Image.open(io.BytesIO(png)).convert("L")
    canvas = Image.new("L", (640, 480), 255)
    canvas.paste(picture, ((640 - picture.width) // 2, (480 - picture.height) // 2))
    chroma = bytes([128]) * (320 * 240)
    path.write_bytes(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + canvas.tobytes() + chroma + chroma)
    return path


def test_the_camera_reads_a_code_and_verifies_it(
    playwright_driver: Playwright,
    live_server: LiveServer,
    db: Callable[[], Session],
    till: Till,
    problems: Problems,
    tmp_path: Path,
) -> None:
    """The camera button, with Chromium's fake camera showing a printed card's QR code: read, stopped, verified."""
    video = y4m_still(qr_png(printed_code(db, live_server, till)), tmp_path / "card.y4m")
    camera_args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + camera_args)
    try:
        context = new_context(browser, live_server, **PHONE)
        context.grant_permissions(["camera"])
        page = problems.watch(context.new_page())
        open_scanner(page, till)
        camera = page.get_by_role("button", name=de("Start camera"), exact=True)
        camera.click()
        expect_verdict(page, "valid", REASON_TEXTS["ok"])
        expect(page.locator("#result-notes")).to_have_text(de("Printed card: ask for ID."))
        # The first code read stops the camera.
        expect(page.locator("#camera-video")).to_be_hidden()
        expect(camera).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("document.querySelector('#camera-video').srcObject") is None
        screenshot(page, "scanner-phone-camera")
    finally:
        browser.close()


def test_offline_the_code_is_checked_on_the_device_and_the_redemption_sent_later(
    desktop: BrowserContext, live_server: LiveServer, db: Callable[[], Session], till: Till, problems: Problems
) -> None:
    """The page keeps the location's offline bundle; without a network it verifies on the device, queues the
    redemption and sends it when the network is back."""
    benefit(db, till, title=FREE_ENTRY, limit_count=2, limit_period="month")
    code = phone_code(db, live_server, till)
    page = problems.watch(desktop.new_page())
    open_scanner(page, till)

    def bundle_kept() -> bool:
        return bool(
            page.evaluate(
                """async (locationId) => {
                    const offline = await import("/static/js/scanner-offline.js");
                    const age = await offline.statusListAge(await offline.openScannerStore(), { locationId });
                    return age !== null;
                }""",
                str(till.location_id),
            )
        )

    wait_until(bundle_kept, timeout=120, what="the offline bundle to be kept")
    desktop.set_offline(True)
    enter(page, code)
    expect_verdict(page, "valid", REASON_TEXTS["ok"])
    notes = page.locator("#result-notes li")
    expect(notes.last).to_have_text(
        texts("Offline: checked on this device; status list {minutes} minutes old.", minutes=0)
    )
    offer(page, FREE_ENTRY).get_by_role("button").click()
    expect(page.locator("#redeem-status")).to_have_text(
        de("Saved on this device; it will be sent when the network is back.")
    )
    expect(page.locator("#offline-status")).to_have_text(texts("Redemptions waiting to be sent: {n}", n=1))
    assert redemptions(db, till) == []
    screenshot(page, "scanner-desktop-offline-queued")

    desktop.set_offline(False)
    expect(page.locator("#offline-status")).to_contain_text(
        texts("Saved redemptions sent: {uploaded}; flagged for review: {flagged}.", uploaded=1, flagged=0)
    )
    wait_until(lambda: len(redemptions(db, till)) == 1, timeout=60, what="the queued redemption to arrive")
    (sent,) = redemptions(db, till)
    assert (sent.location_id, sent.presentation) == (till.location_id, "phone")


def test_refusals_from_the_server_are_shown_in_words(
    desktop: BrowserContext, db: Callable[[], Session], till: Till, problems: Problems
) -> None:
    """Another till (here the owner's) used the card's last use meanwhile; a redemption is voided too late."""
    limited = benefit(db, till, title=FREE_ENTRY, limit_count=1, limit_period="day")
    benefit(db, till, title=TICKETS, max_quantity=2)
    page = problems.watch(desktop.new_page())
    open_scanner(page, till)
    enter(page, till.number)
    expect_verdict(page, "valid", REASON_TEXTS["ok"])
    expect(offer(page, FREE_ENTRY)).to_contain_text(texts("Uses left for this card: {n}", n=1))

    with db() as s, s.begin():
        services.redeem(
            s,
            principal_for_user(till.owner),
            KOELN,
            card_number=till.number,
            benefit_id=limited,
            location_id=till.location_id,
            client_nonce=uuid.uuid4().hex,
            now=now(),
        )
    offer(page, FREE_ENTRY).get_by_role("button").click()
    status = page.locator("#redeem-status")
    expect(status).to_have_text(texts("Not redeemed: {message}", message=de(services.LimitReached.message)))
    wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="focus back after a refusal")

    offer(page, TICKETS).get_by_role("button").click()
    expect(status).to_have_text(texts("Redeemed: {title} (quantity {quantity}).", title=TICKETS, quantity=1))
    with db() as s, s.begin():
        row = s.scalars(select(Redemption).where(Redemption.partner_id == till.partner_id, Redemption.quantity == 1))
        tickets = [r for r in row if r.benefit_id != limited]
        assert len(tickets) == 1
        tickets[0].created_at = now() - dt.timedelta(minutes=16)
    page.get_by_role("button", name=de("Void this redemption"), exact=True).click()
    reason = page.get_by_label(de("Reason for voiding"), exact=True)
    reason.fill(VOID_REASON)
    reason.press("Enter")
    expect(page.locator("#void-error")).to_have_text(de(services.VoidWindowPassed.message, minutes=15))
    expect(reason).to_be_focused()
    expect(reason).to_have_attribute("aria-invalid", "true")
    # The refused answers (409) were expected; nothing else went wrong.
    unexpected = [seen for seen in problems.seen if not seen.startswith("409 ") or "/api/v1/redemptions" not in seen]
    assert unexpected == []
    problems.seen.clear()
