"""Every page of the site under axe-core in Chromium: no violation of impact serious or critical of WCAG 2.0 and 2.1,
levels A and AA, in German and in Arabic (right to left).

The pages are read from the app's route table: every GET route of ours (the JSON API aside) is either visited
below, signed in with a role that may open it and with the data it shows, or listed as not a page with the reason.
A route added later fails ``test_every_route_is_a_checked_page_or_says_why_not`` until it is one or the other.

axe-core comes from npm (``node_modules/axe-core``, installed by ``make install``). The site's Content Security
Policy forbids injected scripts, so the browser contexts here bypass it; nothing else about the pages changes.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from familienkarte.accounts import services as account_services
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.accounts.totp import encrypt_secret
from familienkarte.benefits.models import BenefitStatus
from familienkarte.cards import family_data
from familienkarte.cards.models import Card, HouseholdAdult
from familienkarte.city import load_city
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.partners import services as partner_services
from familienkarte.partners.models import PartnerStatus
from familienkarte.statistics import exports
from tests.browser.conftest import DESKTOP, PHONE, TIMEOUT_MS, LiveServer
from tests.browser.test_partner_journey import block_tiles
from tests.conftest import PASSWORD, _password_hash
from tests.integration.test_applications import form, submit
from tests.integration.test_card_credentials import issue_family_card
from tests.integration.test_partner_queue import QueuedPartner, api_key_for, make_benefit, make_queued_partner
from tests.integration.test_staff_statistics import World, build_world

pytestmark = pytest.mark.browser

Factory = Callable[[], Session]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA (BITV 2.0 refers to WCAG 2.1 AA through EN 301 549).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
LANGUAGES = ["de", "ar"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""

# Who opens a page: a role of the users model, nobody ("anonymous"), or a staff member half-way through the
# two-step sign-in ("totp_pending").
ANONYMOUS = "anonymous"
TOTP_PENDING = "totp_pending"
STAFF = (Role.ADMIN.value, Role.CASEWORKER.value, Role.PARTNER_MANAGER.value, Role.ANALYST.value)


@dataclass
class Site:
    """The data the pages show, and the one-time links some of them need."""

    card_id: uuid.UUID = field(default_factory=uuid.uuid4)
    other_adult_id: uuid.UUID = field(default_factory=uuid.uuid4)
    application_id: uuid.UUID = field(default_factory=uuid.uuid4)
    partner_id: uuid.UUID = field(default_factory=uuid.uuid4)
    location_id: uuid.UUID = field(default_factory=uuid.uuid4)
    benefit_id: uuid.UUID = field(default_factory=uuid.uuid4)
    pending_partner_id: uuid.UUID = field(default_factory=uuid.uuid4)
    submitted_benefit_id: uuid.UUID = field(default_factory=uuid.uuid4)
    staff_user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    export_job_id: uuid.UUID = field(default_factory=uuid.uuid4)
    family_link: str = "x"
    password_link: str = "x"
    email_link: str = "x"
    partner_link: str = "x"
    family_name: str = "x"


@dataclass(frozen=True)
class Visit:
    who: str
    url: Callable[[Site], str]
    status: int = 200


def _at(path: str) -> Callable[[Site], str]:
    return lambda _site: path


# Every page, by route, with who opens it and where. A route may be visited more than once (as several roles,
# or in several states).
PAGES: dict[str, list[Visit]] = {
    # Everyone
    "/": [Visit(ANONYMOUS, _at("/"))],
    "/login": [Visit(ANONYMOUS, _at("/login"))],
    "/login/family": [Visit(ANONYMOUS, _at("/login/family"))],
    "/login/family/sent": [Visit(ANONYMOUS, _at("/login/family/sent"))],
    "/login/family/{token}": [Visit(ANONYMOUS, lambda s: f"/login/family/{s.family_link}")],
    "/login/totp": [Visit(TOTP_PENDING, _at("/login/totp"))],
    "/password/forgot": [Visit(ANONYMOUS, _at("/password/forgot"))],
    "/password/forgot/sent": [Visit(ANONYMOUS, _at("/password/forgot/sent"))],
    "/password/set/{token}": [Visit(ANONYMOUS, lambda s: f"/password/set/{s.password_link}")],
    "/accessibility": [Visit(ANONYMOUS, _at("/accessibility"))],
    "/help/lost-phone": [Visit(ANONYMOUS, _at("/help/lost-phone"))],
    "/barrierefreiheit": [Visit(ANONYMOUS, _at("/barrierefreiheit"))],
    "/apply": [Visit(ANONYMOUS, _at("/apply"))],
    "/apply/received": [Visit(ANONYMOUS, _at("/apply/received"))],
    "/benefits": [Visit(ANONYMOUS, _at("/benefits"))],
    "/benefits/{benefit_id}": [
        Visit(ANONYMOUS, lambda s: f"/benefits/{s.benefit_id}"),
        # The error page, as a family meets it after following an old link.
        Visit(ANONYMOUS, lambda _s: f"/benefits/{uuid.uuid4()}", status=404),
    ],
    "/finder": [Visit(ANONYMOUS, _at("/finder")), Visit(Role.FAMILY.value, _at("/finder"))],
    "/partners/{partner_id}": [Visit(ANONYMOUS, lambda s: f"/partners/{s.partner_id}")],
    "/map": [Visit(ANONYMOUS, _at("/map"))],
    "/partner/register": [Visit(ANONYMOUS, _at("/partner/register"))],
    "/partner/register/sent": [Visit(ANONYMOUS, _at("/partner/register/sent"))],
    "/partner/register/confirm/{token}": [Visit(ANONYMOUS, lambda s: f"/partner/register/confirm/{s.partner_link}")],
    "/card/data/email/confirm/{token}": [Visit(ANONYMOUS, lambda s: f"/card/data/email/confirm/{s.email_link}")],
    # Families
    "/account": [Visit(who, _at("/account")) for who in (Role.FAMILY.value, Role.PARTNER_OWNER.value, *STAFF)],
    "/card": [Visit(Role.FAMILY.value, _at("/card"))],
    "/card/renew": [Visit(Role.FAMILY.value, _at("/card/renew"))],
    "/card/data": [Visit(Role.FAMILY.value, _at("/card/data"))],
    "/card/data/adults/new": [Visit(Role.FAMILY.value, _at("/card/data/adults/new"))],
    "/card/data/adults/{adult_id}/remove": [
        Visit(Role.FAMILY.value, lambda s: f"/card/data/adults/{s.other_adult_id}/remove")
    ],
    "/card/data/language": [Visit(Role.FAMILY.value, _at("/card/data/language"))],
    "/card/data/email": [Visit(Role.FAMILY.value, _at("/card/data/email"))],
    "/card/data/delete": [Visit(Role.FAMILY.value, _at("/card/data/delete"))],
    # Partners
    "/account/password": [
        Visit(Role.PARTNER_OWNER.value, _at("/account/password")),
        Visit(Role.ADMIN.value, _at("/account/password")),
    ],
    "/partner": [Visit(Role.PARTNER_OWNER.value, _at("/partner")), Visit(Role.CASHIER.value, _at("/partner"))],
    "/partner/scanner": [Visit(Role.CASHIER.value, _at("/partner/scanner"))],
    "/partner/benefits": [
        Visit(Role.PARTNER_OWNER.value, _at("/partner/benefits")),
        Visit(Role.CASHIER.value, _at("/partner/benefits")),
    ],
    "/partner/benefits/new": [Visit(Role.PARTNER_OWNER.value, _at("/partner/benefits/new"))],
    "/partner/benefits/{benefit_id}": [Visit(Role.PARTNER_OWNER.value, lambda s: f"/partner/benefits/{s.benefit_id}")],
    "/partner/benefits/{benefit_id}/preview": [
        Visit(Role.PARTNER_OWNER.value, lambda s: f"/partner/benefits/{s.benefit_id}/preview")
    ],
    "/partner/profile": [Visit(Role.PARTNER_OWNER.value, _at("/partner/profile"))],
    "/partner/logo": [Visit(Role.PARTNER_OWNER.value, _at("/partner/logo"))],
    "/partner/locations": [Visit(Role.PARTNER_OWNER.value, _at("/partner/locations"))],
    "/partner/locations/new": [Visit(Role.PARTNER_OWNER.value, _at("/partner/locations/new"))],
    "/partner/locations/{location_id}": [
        Visit(Role.PARTNER_OWNER.value, lambda s: f"/partner/locations/{s.location_id}")
    ],
    "/partner/cashiers": [Visit(Role.PARTNER_OWNER.value, _at("/partner/cashiers"))],
    "/partner/keys": [Visit(Role.PARTNER_OWNER.value, _at("/partner/keys"))],
    "/partner/statistics": [Visit(Role.PARTNER_OWNER.value, _at("/partner/statistics"))],
    # Staff
    "/account/totp": [Visit(Role.ADMIN.value, _at("/account/totp"))],
    "/staff": [Visit(who, _at("/staff")) for who in STAFF],
    "/staff/applications": [Visit(Role.CASEWORKER.value, _at("/staff/applications"))],
    "/staff/applications/{application_id}": [
        Visit(Role.CASEWORKER.value, lambda s: f"/staff/applications/{s.application_id}")
    ],
    "/staff/cards": [
        Visit(Role.CASEWORKER.value, _at("/staff/cards")),
        Visit(Role.CASEWORKER.value, lambda s: f"/staff/cards?q={urllib.parse.quote(s.family_name)}"),
    ],
    "/staff/cards/{card_id}": [Visit(Role.CASEWORKER.value, lambda s: f"/staff/cards/{s.card_id}")],
    "/staff/partner-queue": [Visit(Role.PARTNER_MANAGER.value, _at("/staff/partner-queue"))],
    "/staff/partner-queue/{partner_id}": [
        Visit(Role.PARTNER_MANAGER.value, lambda s: f"/staff/partner-queue/{s.pending_partner_id}")
    ],
    "/staff/benefit-queue": [Visit(Role.PARTNER_MANAGER.value, _at("/staff/benefit-queue"))],
    "/staff/benefit-queue/{benefit_id}": [
        Visit(Role.PARTNER_MANAGER.value, lambda s: f"/staff/benefit-queue/{s.submitted_benefit_id}")
    ],
    "/staff/partners": [Visit(Role.PARTNER_MANAGER.value, _at("/staff/partners"))],
    "/staff/partners/{partner_id}/keys": [
        Visit(Role.PARTNER_MANAGER.value, lambda s: f"/staff/partners/{s.partner_id}/keys")
    ],
    "/staff/imports": [Visit(Role.PARTNER_MANAGER.value, _at("/staff/imports"))],
    "/staff/statistics": [
        Visit(Role.ANALYST.value, _at("/staff/statistics")),
        Visit(Role.ANALYST.value, _at("/staff/statistics?from=2026-07-01&to=2026-07-31")),
    ],
    "/staff/statistics/exports": [Visit(Role.ANALYST.value, _at("/staff/statistics/exports"))],
    "/staff/statistics/exports/{job_id}": [
        Visit(Role.ANALYST.value, lambda s: f"/staff/statistics/exports/{s.export_job_id}")
    ],
    "/staff/users": [Visit(Role.ADMIN.value, _at("/staff/users"))],
    "/staff/users/new": [Visit(Role.ADMIN.value, _at("/staff/users/new"))],
    "/staff/users/{user_id}": [Visit(Role.ADMIN.value, lambda s: f"/staff/users/{s.staff_user_id}")],
    "/staff/audit": [Visit(Role.ADMIN.value, _at("/staff/audit"))],
}

_FILE = "a file download, not a page"
_IMAGE = "an image, not a page"
_SCRIPT = "a service worker script, not a page"
_JSON = "JSON for machines, not a page"
NOT_PAGES: dict[str, str] = {
    "/health/live": _JSON,
    "/health/ready": _JSON,
    "/.well-known/jwks.json": _JSON,
    "/card-sw.js": _SCRIPT,
    "/partner/scanner-sw.js": _SCRIPT,
    "/card/prints/{job_id}/card.pdf": _FILE,
    "/card/data/export.json": _FILE,
    "/staff/cards/{card_id}/prints/{job_id}/card.pdf": _FILE,
    "/staff/imports/example/{filename}": _FILE,
    "/staff/statistics/exports/{job_id}/file": _FILE,
    "/staff/statistics/exports/{job_id}/status": _JSON,
    "/partner/statistics/report.pdf": _FILE,
    "/partner/logo/image": _IMAGE,
    "/partners/{partner_id}/logo": _IMAGE,
    "/staff/partner-queue/{partner_id}/logo": _IMAGE,
}
# The JSON API: documents for programs, described by the OpenAPI schema.
API_PREFIX = "/api/"


def _ours(handler: Any) -> bool:
    """Not one of the framework's handlers (static files, the OpenAPI documents)."""
    return not str(getattr(handler.fn, "__module__", "")).startswith("litestar.")


def get_routes(app: Litestar) -> set[str]:
    return {
        route.path_format
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if _ours(handler) and "GET" in handler.http_methods and not route.path_format.startswith(API_PREFIX)
    }


def test_every_route_is_a_checked_page_or_says_why_not(app: Litestar) -> None:
    routes = get_routes(app)
    unchecked = sorted(routes - PAGES.keys() - NOT_PAGES.keys())
    assert unchecked == [], (
        "GET routes that the accessibility test neither visits (PAGES) nor lists as not a page (NOT_PAGES): "
        f"{unchecked}"
    )
    assert not PAGES.keys() & NOT_PAGES.keys(), "a route is both a page and not a page"
    gone = sorted((PAGES.keys() | NOT_PAGES.keys()) - routes)
    assert gone == [], f"routes listed in the accessibility test that the app no longer has: {gone}"


# -- the data the pages show ----------------------------------------------------------------------------------------


def _with_password(db: Factory, *users: User) -> None:
    with db() as s, s.begin():
        s.execute(update(User).where(User.id.in_([u.id for u in users])).values(password_hash=_password_hash(PASSWORD)))


def _email_change_link(db: Factory, user: User, base_url: str, city_name: str) -> str:
    address = f"neu-{uuid.uuid4().hex[:6]}@example.org"
    with db() as s, s.begin():
        family_data.request_email_change(
            s, principal_for_user(user), load_city(city_name), address, base_url=base_url, now=utcnow()
        )
    with db() as s:
        mail = s.scalars(select(Email).where(Email.to_address == address)).one()
    marker = f"{base_url}{family_data.EMAIL_CONFIRM_PATH}/"
    start = mail.body_text.index(marker) + len(marker)
    return mail.body_text[start:].split()[0]


@dataclass(frozen=True)
class People:
    users: dict[str, User]
    totp_user: User


def build_site(
    db: Factory, make_user: Any, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Site, People]:
    settings = live_server.settings
    site = Site()
    world: World = build_world(db)

    family = issue_family_card(db, make_user)
    site.card_id = family.card_id
    with db() as s, s.begin():
        card = s.get(Card, family.card_id)
        assert card is not None
        # Within the reminder window: the card page shows the reminder and the renewal page its form.
        card.valid_until = load_city(settings.city).today() + dt.timedelta(days=20)
        adults = s.scalars(
            select(HouseholdAdult).where(HouseholdAdult.household_id == card.household_id).order_by("position")
        ).all()
        site.other_adult_id = adults[1].id
        site.family_name = adults[0].last_name
        site.family_link = account_services.new_login_link(
            s, family.users[1], account_services.LINK_PURPOSE_SIGN_IN, dt.timedelta(hours=1)
        )
    site.email_link = _email_change_link(db, family.users[0], settings.base_url, settings.city)
    another_household = {
        "adult-0-first_name": "Olena",
        "adult-0-last_name": "Kovalenko",
        "adult-0-email": "olena.kovalenko@example.org",
        "adult-1-first_name": "",
        "adult-1-last_name": "",
        "adult-1-email": "",
        "street": "Aachener Straße",
        "house_number": "5",
        "postal_code": "50674",
    }
    site.application_id = submit(db, form(locale="de", **another_household)).application_id

    partner: QueuedPartner = make_queued_partner(db, "Kindermuseum Sonnenschein", PartnerStatus.APPROVED.value)
    site.partner_id, site.location_id = partner.id, partner.location_id
    site.benefit_id = make_benefit(db, partner, title="Freier Eintritt für Kinder")
    site.submitted_benefit_id = make_benefit(db, partner, BenefitStatus.SUBMITTED.value, "Familienführung")
    api_key_for(db, partner)
    _with_password(db, partner.owner, partner.cashier)

    pending = make_queued_partner(db, "Kindertheater Mond", PartnerStatus.PENDING.value)
    site.pending_partner_id = pending.id
    with db() as s, s.begin():
        site.partner_link = account_services.new_login_link(
            s, pending.owner, partner_services.LINK_PURPOSE_CONFIRM_PARTNER, dt.timedelta(hours=1)
        )

    users: dict[str, User] = {role: make_user(role) for role in STAFF}
    users[Role.FAMILY.value] = family.users[0]
    users[Role.PARTNER_OWNER.value] = partner.owner
    users[Role.CASHIER.value] = partner.cashier
    invited = make_user(Role.CASEWORKER, password=None, display_name="Ina Invited")
    site.staff_user_id = users[Role.CASEWORKER.value].id
    with db() as s, s.begin():
        site.password_link = account_services.new_login_link(
            s, invited, account_services.LINK_PURPOSE_SET_PASSWORD, dt.timedelta(hours=1)
        )
    totp_user = make_user(
        Role.CASEWORKER,
        totp_secret=encrypt_secret(settings.secret_key, "JBSWY3DPEHPK3PXP"),
        totp_enabled_at=utcnow(),
    )

    # A queued export job (every export counts as large here), with its progress.
    monkeypatch.setattr(exports, "SYNC_MAX_ROWS", 0)
    with db() as s, s.begin():
        outcome = exports.request_export(
            s,
            principal_for_user(users[Role.ANALYST.value]),
            load_city(settings.city),
            {"from": "2026-07-01", "to": "2026-07-31", "table": "partners", "format": "csv"},
            now=utcnow(),
            today=dt.date(2026, 7, 31),
        )
    assert outcome.job_id is not None
    site.export_job_id = outcome.job_id
    assert world.zoo
    return site, People(users, totp_user)


# -- signing in -------------------------------------------------------------------------------------------------------


def _password_sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    main = page.locator("main")
    main.locator("input[name=email]").fill(email)
    main.locator("input[name=password]").fill(PASSWORD)
    main.locator("form button[type=submit]").click()


def sign_in_as(page: Page, who: str, people: People, db: Factory) -> None:
    if who == ANONYMOUS:
        return
    if who == TOTP_PENDING:
        _password_sign_in(page, people.totp_user.email)
        page.wait_for_url("**/login/totp")
        return
    user = people.users[who]
    if who == Role.FAMILY.value:
        with db() as s, s.begin():
            token = account_services.new_login_link(
                s, user, account_services.LINK_PURPOSE_SIGN_IN, dt.timedelta(minutes=15)
            )
        page.goto(f"/login/family/{token}")
        page.locator("main form button[type=submit]").click()
    else:
        _password_sign_in(page, user.email)
    page.wait_for_url(lambda url: "/login" not in url)


# -- the check --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    where: str
    text: str


def with_language(url: str, lang: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}lang={lang}"


def check_page(page: Page, url: str, expected_status: int) -> list[str]:
    """What is wrong with one page: the wrong answer, or axe's serious and critical violations."""
    response = page.goto(url, wait_until="load")
    if response is None:
        return ["no response"]
    requested = urllib.parse.urlsplit(url).path
    landed = urllib.parse.urlsplit(page.url).path
    if response.status != expected_status or landed != requested:
        return [f"expected the page with status {expected_status}, got {response.status} at {landed}"]
    page.add_script_tag(path=str(AXE))
    problems: list[str] = []
    for violation in page.evaluate(RUN_AXE, AXE_TAGS):
        if violation["impact"] in FAILING_IMPACTS:
            targets = ", ".join(violation["targets"][:5])
            more = len(violation["targets"]) - 5
            suffix = f" (and {more} more)" if more > 0 else ""
            problems.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}{suffix}")
    return problems


@pytest.fixture
def axe_context(browser: Browser, live_server: LiveServer) -> Iterator[Callable[[str], BrowserContext]]:
    opened: list[BrowserContext] = []

    def open_one(who: str) -> BrowserContext:
        # Families and visitors on a phone; partners and staff at a desk.
        size: dict[str, Any] = PHONE if who in (ANONYMOUS, Role.FAMILY.value) else DESKTOP
        # No service worker: each page comes from the server as it is now, not from a cache.
        context = browser.new_context(
            base_url=live_server.url, timezone_id="Europe/Berlin", service_workers="block", bypass_csp=True, **size
        )
        context.set_default_timeout(TIMEOUT_MS)
        opened.append(context)
        return context

    yield open_one
    for context in opened:
        context.close()


def _by_who(visits: dict[str, list[Visit]]) -> dict[str, list[tuple[str, Visit]]]:
    grouped: dict[str, list[tuple[str, Visit]]] = {}
    for route, route_visits in visits.items():
        for visit in route_visits:
            grouped.setdefault(visit.who, []).append((route, visit))
    return grouped


def test_every_page_passes_axe_in_german_and_arabic(
    db: Factory,
    make_user: Any,
    live_server: LiveServer,
    axe_context: Callable[[str], BrowserContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert AXE.exists(), f"axe-core is missing at {AXE}: run make install (npm ci)"
    site, people = build_site(db, make_user, live_server, monkeypatch)
    failures: list[str] = []
    visited = 0
    # One browser per kind of visitor, signed in once, opening each of its pages in each language in turn.
    for who, visits in _by_who(PAGES).items():
        page = axe_context(who).new_page()
        block_tiles(page)
        sign_in_as(page, who, people, db)
        for _route, visit in visits:
            address = visit.url(site)
            for lang in LANGUAGES:
                url = with_language(address, lang)
                visited += 1
                failures.extend(f"{url} as {who}: {problem}" for problem in check_page(page, url, visit.status))
        page.close()
    assert visited >= len(PAGES) * len(LANGUAGES)
    assert failures == [], f"{len(failures)} accessibility problems:\n" + "\n".join(failures)
