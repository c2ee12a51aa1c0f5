"""The partners' monthly report: the same figures as the statistics page, once per owner and month, in the
owner's language, with the PDF; and the PDF in the portal (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pypdfium2 as pdfium
import pytest
from click.testing import Result
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.mail.models import Email, EmailAttachment
from familienkarte.partners.models import Partner
from familienkarte.redemptions.models import VerificationEvent
from familienkarte.statistics.partner_report import (
    partners_to_report,
    report_key,
    send_partner_report,
)
from familienkarte.statistics.partner_report_pdf import shown
from familienkarte.statistics.partner_view import (
    PartnerStatistics,
    last_complete_month,
    months_back,
    partner_statistics,
)
from familienkarte.statistics.suppression import Suppressed
from tests.helpers import sign_in_as
from tests.integration.test_cli import run as cli  # noqa: F401  (the fixture: the command in this process)
from tests.integration.test_partner_statistics import KOELN, Fact, Shop, local, make_shop, write

Factory = Callable[[], Session]
Client = TestClient[Litestar]
JULY = dt.date(2026, 7, 1)
AUGUST_5 = dt.date(2026, 8, 5)
BASE_URL = "https://familienkarte.example"


def make_owner(db: Factory, shop: Shop, email: str, locale: str | None, **fields: object) -> User:
    with db() as s, s.begin():
        user = User(
            email=email,
            display_name=email.split("@")[0],
            role=fields.pop("role", Role.PARTNER_OWNER.value),
            partner_id=shop.partner,
            locale=locale,
            **fields,
        )
        s.add(user)
    return user


def july_facts(shop: Shop) -> list[Fact]:
    """Free entry: 7 cards (shown); Feeding tour: 2 cards (hidden, and a second figure with it); Guided walk: 6."""
    entry, tour, walk = shop.benefits["Free entry"], shop.benefits["Feeding tour"], shop.benefits["Guided walk"]
    gate, aquarium = shop.locations["Main gate"], shop.locations["Aquarium"]
    facts = [
        Fact(entry, gate if n % 2 else aquarium, f"E{n}", local(dt.date(2026, 7, 3 + n), 10), quantity=2)
        for n in range(7)
    ]
    facts += [Fact(tour, aquarium, f"T{n}", local(dt.date(2026, 7, 20 + n), 11)) for n in range(2)]
    facts += [Fact(walk, gate, f"W{n}", local(dt.date(2026, 7, 10 + n), 15), quantity=3) for n in range(6)]
    return facts


def zoo_with_july(db: Factory) -> Shop:
    zoo = make_shop(db, "Zoo Köln", ["Free entry", "Feeding tour", "Guided walk"], ["Main gate", "Aquarium"])
    write(db, zoo, july_facts(zoo))
    with db() as s, s.begin():
        s.add_all(
            VerificationEvent(partner_id=zoo.partner, location_id=zoo.locations["Main gate"], reason=reason, at=at)
            for reason, at in [("ok", local(dt.date(2026, 7, 4), 9)), ("revoked", local(dt.date(2026, 7, 5), 9))]
        )
    return zoo


def run_report(db: Factory, shop: Shop, month: dt.date = JULY, today: dt.date = AUGUST_5) -> tuple[int, int]:
    with db() as s, s.begin():
        result = send_partner_report(s, KOELN, shop.partner, month, base_url=BASE_URL, today=today)
    return result.queued, result.already


def emails(db: Factory) -> list[Email]:
    with db() as s:
        rows = list(s.scalars(select(Email).order_by(Email.to_address)))
        for row in rows:
            _ = list(row.attachments)
        return rows


def page_figures(db: Factory, owner: User, locale: str) -> PartnerStatistics:
    with db() as s, i18n.use_locale(locale):
        return partner_statistics(s, principal_for_user(owner), KOELN, JULY, today=AUGUST_5)


def pdf_text(content: bytes) -> str:
    document = pdfium.PdfDocument(content)
    return "\n".join(document[index].get_textpage().get_text_range() for index in range(len(document)))


def expected_lines(stats: PartnerStatistics) -> list[str]:
    lines = []
    for listing in (stats.by_benefit, stats.by_location):
        for row in [*listing.rows, listing.total]:
            lines.append(f"- {row.label}: redemptions {shown(row.redemptions)}, quantity {shown(row.quantity)}")
    return lines


# --- the figures ---


def test_the_report_shows_the_figures_of_the_statistics_page_with_the_same_suppression(db: Factory) -> None:
    zoo = zoo_with_july(db)
    owner = make_owner(db, zoo, "owner@zoo.example", "en")

    assert run_report(db, zoo) == (1, 0)

    [mail] = emails(db)
    assert mail.to_address == "owner@zoo.example"
    assert mail.locale == "en"
    assert mail.subject == "Your family card figures for July 2026"
    with i18n.use_locale("en"):
        stats = page_figures(db, owner, "en")
        assert stats.by_benefit.hidden
        # The page hides the small Feeding tour and, to protect it, the total; the report must do the same.
        by_benefit = {row.label: row.redemptions for row in stats.by_benefit.rows}
        assert by_benefit["Free entry"] == 7
        assert by_benefit["Feeding tour"] == Suppressed(5)
        lines = expected_lines(stats)
        hidden_cells = sum(
            isinstance(value, Suppressed)
            for listing in (stats.by_benefit, stats.by_location)
            for row in [*listing.rows, listing.total]
            for value in (row.redemptions, row.quantity)
        )
    # Every line of the two lists, exactly as the page shows it (number or marker).
    for line in lines:
        assert line in mail.body_text
    assert "- Feeding tour: redemptions < 5, quantity < 5" in mail.body_text
    assert "- Free entry: redemptions 7, quantity 14" in mail.body_text
    assert "Card checks at your locations: 2" in mail.body_text
    assert "hidden to protect the privacy of families" in mail.body_text
    assert f"{BASE_URL}/partner/statistics?month=2026-07" in mail.body_text

    html = mail.body_html or ""
    assert '<html lang="en" dir="ltr">' in html
    assert ">Köln</p>" in html
    assert '<th scope="row"' in html
    assert ">Free entry</th>" in html
    assert html.count(">&lt; 5</td>") == hidden_cells >= 4
    assert f'<a href="{BASE_URL}/partner/statistics?month=2026-07"' in html

    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type) == ("familienkarte-2026-07.pdf", "application/pdf")
    text = pdf_text(attachment.content)
    assert "Monthly report of Zoo Köln" in text
    assert "Figures for July 2026." in text
    assert "Free entry" in text
    assert "Feeding tour" in text
    assert "< 5" in text
    assert "Card checks at your locations" in text


def test_each_owner_gets_it_in_their_language_and_nobody_else_gets_it(db: Factory) -> None:
    zoo = zoo_with_july(db)
    make_owner(db, zoo, "a-de@zoo.example", "de")
    make_owner(db, zoo, "b-en@zoo.example", "en")
    make_owner(db, zoo, "c-none@zoo.example", None)
    make_owner(db, zoo, "d-gone@zoo.example", "en", is_active=False)
    make_owner(db, zoo, "e-cashier@zoo.example", "en", role=Role.CASHIER.value)

    assert run_report(db, zoo) == (3, 0)

    german, english, default = emails(db)
    assert [m.to_address for m in (german, english, default)] == [
        "a-de@zoo.example",
        "b-en@zoo.example",
        "c-none@zoo.example",
    ]
    assert (german.locale, english.locale, default.locale) == ("de", "en", "de")
    assert '<html lang="de" dir="ltr">' in (german.body_html or "")
    # Labels of the page in German: the month, the column heads.
    assert "Juli 2026" in german.body_text
    assert ">Einlösungen</th>" in (german.body_html or "")
    assert "Einlösungen" in pdf_text(german.attachments[0].content)
    assert "July 2026" in english.body_text


def test_a_second_run_sends_nothing_twice(db: Factory) -> None:
    zoo = zoo_with_july(db)
    first = make_owner(db, zoo, "first@zoo.example", "en")
    assert run_report(db, zoo) == (1, 0)

    assert run_report(db, zoo) == (0, 1)

    # An owner added later gets theirs from the next run; the first owner still has one.
    make_owner(db, zoo, "second@zoo.example", "en")
    assert run_report(db, zoo) == (1, 1)
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Email)) == 2
        assert s.scalar(select(func.count()).select_from(EmailAttachment)) == 2
        keys = set(s.scalars(select(Email.dedupe_key)))
    assert report_key(zoo.partner, first.id, JULY) in keys
    # Another month is another report.
    assert run_report(db, zoo, dt.date(2026, 6, 1)) == (2, 0)


def test_a_month_without_redemptions_gets_a_short_report_without_pdf(db: Factory) -> None:
    museum = make_shop(db, "Museum", ["Free entry"], ["Hall"])
    make_owner(db, museum, "owner@museum.example", "en")

    assert run_report(db, museum) == (1, 0)

    [mail] = emails(db)
    assert "in July 2026, no benefit of Museum was redeemed" in mail.body_text
    assert "Please check that they are published and up to date." in mail.body_text
    assert ": redemptions" not in mail.body_text
    assert mail.attachments == []
    assert "<table" not in (mail.body_html or "")


def test_only_active_partners_that_existed_in_the_month_are_reported(db: Factory) -> None:
    zoo = make_shop(db, "Zoo", ["Entry"], ["Gate"])
    suspended = make_shop(db, "Suspended", ["Entry"], ["Gate"])
    late = make_shop(db, "Joined in August", ["Entry"], ["Gate"])
    with db() as s, s.begin():
        s.get_one(Partner, suspended.partner).status = "suspended"
        s.get_one(Partner, late.partner).created_at = local(dt.date(2026, 8, 1), 0, 30)
        s.get_one(Partner, zoo.partner).created_at = local(dt.date(2026, 7, 31), 23, 30)
    make_owner(db, suspended, "owner@suspended.example", "en")

    with db() as s:
        assert partners_to_report(s, KOELN, JULY) == [zoo.partner]
    # Asked directly, a suspended partner's owners get nothing either.
    assert run_report(db, suspended) == (0, 0)


# --- the PDF in the portal ---

MONTH = last_complete_month(KOELN.today())


def shop_with_month(db: Factory, name: str, benefit: str, cards: int) -> Shop:
    shop = make_shop(db, name, [benefit], ["Shop"])
    with db() as s, s.begin():
        s.get_one(Partner, shop.partner).created_at = local(months_back(MONTH, 1), 12)
    day = MONTH + dt.timedelta(days=2)
    write(
        db,
        shop,
        [Fact(shop.benefits[benefit], shop.locations["Shop"], f"{name}{n}", local(day, 10 + n)) for n in range(cards)],
    )
    return shop


@pytest.fixture
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def owner_user(make_user: Callable[..., User], db: Factory, shop: Shop, role: Role = Role.PARTNER_OWNER) -> User:
    with db() as s:
        partner = s.get_one(Partner, shop.partner)
    return make_user(role, partner=partner)


def test_the_owner_downloads_the_pdf_of_a_month_from_the_statistics_page(
    client: Client, db: Factory, make_user: Callable[..., User], english: None
) -> None:
    zoo = shop_with_month(db, "Zoo", "Zoo entry", 6)
    shop_with_month(db, "Theatre", "Theatre seat", 8)
    sign_in_as(client, owner_user(make_user, db, zoo))

    page = client.get("/partner/statistics")
    assert page.status_code == 200
    link = f'href="/partner/statistics/report.pdf?month={MONTH:%Y-%m}"'
    assert link in page.text

    response = client.get(f"/partner/statistics/report.pdf?month={MONTH:%Y-%m}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="familienkarte-{MONTH:%Y-%m}.pdf"' in response.headers["content-disposition"]
    text = pdf_text(response.content)
    assert "Zoo entry" in text
    assert "6" in text.split()
    # Only the owner's own partner: nothing of the theatre.
    assert "Theatre" not in text
    # Without a month: the last complete one, as on the page.
    assert client.get("/partner/statistics/report.pdf").content == response.content


def test_another_partners_owner_gets_only_their_own_figures(
    client: Client, db: Factory, make_user: Callable[..., User], english: None
) -> None:
    zoo = shop_with_month(db, "Zoo", "Zoo entry", 6)
    theatre = shop_with_month(db, "Theatre", "Theatre seat", 8)
    del zoo
    sign_in_as(client, owner_user(make_user, db, theatre))

    text = pdf_text(client.get(f"/partner/statistics/report.pdf?month={MONTH:%Y-%m}").content)

    assert "Theatre seat" in text
    assert "Zoo" not in text


def test_a_cashier_gets_no_pdf(client: Client, db: Factory, make_user: Callable[..., User], english: None) -> None:
    zoo = shop_with_month(db, "Zoo", "Zoo entry", 6)
    sign_in_as(client, owner_user(make_user, db, zoo, Role.CASHIER))

    response = client.get(f"/partner/statistics/report.pdf?month={MONTH:%Y-%m}")

    assert response.status_code == 403
    assert response.headers["content-type"] != "application/pdf"


def test_signed_out_gets_no_pdf(client: Client, english: None) -> None:
    response = client.get("/partner/statistics/report.pdf", follow_redirects=False)
    assert response.status_code in (302, 303, 401)
    assert response.headers.get("content-type") != "application/pdf"


@pytest.mark.parametrize("month", ["2026-13", "july", "1999-01"])
def test_a_bad_month_is_refused_naming_the_field(
    client: Client, db: Factory, make_user: Callable[..., User], english: None, month: str
) -> None:
    zoo = shop_with_month(db, "Zoo", "Zoo entry", 6)
    sign_in_as(client, owner_user(make_user, db, zoo))

    response = client.get(f"/partner/statistics/report.pdf?month={month}")

    assert response.status_code == 422
    assert "The month must" in response.text


# --- the command ---


def test_the_command_queues_the_reports_of_a_month_once(db: Factory, cli: Callable[..., Result]) -> None:  # noqa: F811
    zoo = shop_with_month(db, "Zoo", "Zoo entry", 6)
    make_owner(db, zoo, "owner@zoo.example", "en")

    def run(*args: str) -> tuple[int, str]:
        result = cli("reports", "send", *args)
        return result.exit_code, result.stdout if result.exit_code == 0 else result.stderr

    assert run("--month", f"{MONTH:%Y-%m}") == (
        0,
        f"Queued 1 report of {MONTH:%Y-%m} for 1 partner; 0 owners had theirs already. A running worker sends them.\n",
    )
    # Without --month: the last complete month, the same one; nothing is queued twice.
    code, output = run()
    assert (code, output.split(";")[0]) == (0, f"Queued 0 reports of {MONTH:%Y-%m} for 1 partner")
    [mail] = emails(db)
    assert mail.attachments[0].filename == f"familienkarte-{MONTH:%Y-%m}.pdf"

    code, output = run("--month", "2026-7")
    assert code == 2
    assert "'2026-7' is not a month like 2026-07." in output
    future = KOELN.today().replace(day=1)
    code, output = run("--month", f"{future:%Y-%m}")
    assert code == 2
    assert "is not complete yet" in output
    assert len(emails(db)) == 1
