"""Security headers and page content: every page sends a strict Content Security Policy and the other headers, and
holds no inline script, no event handler attribute, no ``javascript:`` URL, no inline style and no resource over
plain HTTP, even with script in every text a partner enters.

The pages come from the route table through the accessibility test's list (``tests.browser.test_accessibility``):
every GET route of ours is there either as a visited page or as not a page with the reason, so a page added later
is checked here too. Every partner text (names, descriptions, benefit texts in every language, locations,
addresses, opening-hours notes, website) holds a script payload while the pages are rendered; the e-mail, the PDF
and the JSON outputs that show partner texts are checked as well.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import json
import pathlib
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.app import create_app
from familienkarte.benefits.models import Benefit
from familienkarte.mail.models import Email, EmailAttachment
from familienkarte.partners.models import Location, Partner
from familienkarte.settings import Settings
from tests.browser.conftest import LiveServer, RequestLog
from tests.browser.test_accessibility import ANONYMOUS, PAGES, TOTP_PENDING, People, Site, build_site
from tests.conftest import BASE_URL, PASSWORD, csrf_from
from tests.helpers import make_test_settings, sign_in_as, sign_out
from tests.integration.test_partner_report import JULY, pdf_text, run_report
from tests.integration.test_partner_statistics import Fact, local, make_shop, write

Client = TestClient[Litestar]
Factory = Callable[[], Session]

# What a hostile partner types: a script element, a broken-out attribute with a handler, a link with a script URL.
PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>'
# For the short columns (house number: 20 characters).
SHORT = '"><svg onload=x>'
SCRIPT_URL = "javascript:alert(4)"
# The payload's text as a reader sees it on an escaped page.
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
SCANNER = "/partner/scanner"
# Attributes whose value the browser loads or follows as a URL.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data", "srcset", "xlink:href"}
# Elements whose URL is a resource loaded with the page (mixed content if over http:); links to other sites are not.
RESOURCE_ELEMENTS = {
    "script",
    "img",
    "iframe",
    "frame",
    "embed",
    "object",
    "source",
    "video",
    "audio",
    "track",
    "input",
}


def every_language(text: str) -> dict[str, str]:
    return dict.fromkeys(i18n.SUPPORTED_LOCALES, text)


def fill_partner_texts_with_script(db: Factory) -> None:
    """Every partner-entered text of every partner, location and benefit becomes a script payload."""
    with db() as s, s.begin():
        s.execute(
            update(Partner).values(
                name=PAYLOAD, website=SCRIPT_URL, description=every_language(PAYLOAD), phone=SHORT, legal_form=None
            )
        )
        s.execute(
            update(Location).values(
                name=PAYLOAD,
                street=PAYLOAD,
                house_number=SHORT,
                hours_note=every_language(PAYLOAD),
                accessibility_note=every_language(PAYLOAD),
                phone=SHORT,
            )
        )
        s.execute(
            update(Benefit).values(
                title=every_language(PAYLOAD),
                description=every_language(PAYLOAD),
                conditions=every_language(PAYLOAD),
            )
        )


class PageScan(html.parser.HTMLParser):
    """What in a page the site's CSP would block, or what would run a partner's script without it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: (value or "") for name, value in attrs}
        if tag == "script":
            kind = values.get("type", "").lower()
            # A data block (JSON) is not run; every script that runs comes from a file of the site.
            if "src" not in values and kind not in ("application/json", "application/ld+json"):
                self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style> element")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            if name == "style":
                self.problems.append(f"<{tag} style=...> inline style")
            if name in URL_ATTRIBUTES:
                target = "".join(value.split()).lower()
                if target.startswith(("javascript:", "vbscript:", "data:text/html")):
                    self.problems.append(f"<{tag} {name}={value!r}> script URL")
                if target.startswith("http:") and (tag in RESOURCE_ELEMENTS or (tag == "link" and name == "href")):
                    self.problems.append(f"<{tag} {name}={value!r}> over plain HTTP")


def scan_html(text: str) -> list[str]:
    scan = PageScan()
    scan.feed(text)
    scan.close()
    return scan.problems


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def header_problems(path: str, headers: Any, https: bool = True) -> list[str]:
    problems = []
    csp = csp_directives(headers.get("content-security-policy", ""))
    script = csp.get("script-src", [])
    allowed_script = {"'self'", "'wasm-unsafe-eval'"} if path.rstrip("/") == SCANNER else {"'self'"}
    if not script or set(script) - allowed_script:
        problems.append(f"script-src {script}")
    if csp.get("style-src") != ["'self'"]:
        problems.append(f"style-src {csp.get('style-src')}")
    for directive, sources in csp.items():
        if {"'unsafe-inline'", "'unsafe-eval'", "*", "http:"} & set(sources) or any(
            s.startswith("http://") for s in sources
        ):
            problems.append(f"{directive} allows {sources}")
    for directive, expected in (("frame-ancestors", ["'none'"]), ("object-src", ["'none'"]), ("base-uri", ["'none'"])):
        if csp.get(directive) != expected:
            problems.append(f"{directive} {csp.get(directive)}")
    if headers.get("x-frame-options") != "DENY":
        problems.append(f"X-Frame-Options {headers.get('x-frame-options')}")
    if headers.get("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if headers.get("referrer-policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('referrer-policy')}")
    hsts = headers.get("strict-transport-security", "")
    if https and ("max-age=" not in hsts or int(hsts.split("max-age=")[1].split(";")[0]) < 15_552_000):
        problems.append(f"Strict-Transport-Security {hsts!r}")
    permissions = {
        feature.split("=")[0].strip(): feature.split("=")[1].strip()
        for feature in headers.get("permissions-policy", "").split(",")
        if "=" in feature
    }
    camera = "(self)" if path.rstrip("/") == SCANNER else "()"
    if permissions.get("camera") != camera or permissions.get("microphone") != "()":
        problems.append(f"Permissions-Policy {headers.get('permissions-policy')}")
    return problems


# -- the pages -----------------------------------------------------------------------------------------------------


@pytest.fixture
def site(db: Factory, make_user: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[Site, People]:
    # The accessibility test's data, built for this app instead of a live server.
    return build_site(db, make_user, LiveServer(BASE_URL, settings, RequestLog()), monkeypatch)


def _sign_in(client: Client, who: str, people: People) -> None:
    sign_out(client)
    client.cookies.clear()
    if who == ANONYMOUS:
        return
    if who == TOTP_PENDING:
        page = client.get("/login")
        data = {"email": people.totp_user.email, "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.headers["location"].startswith("/login/totp"), response.headers
        return
    sign_in_as(client, people.users[who])


def test_every_page_has_the_headers_and_no_inline_script_with_script_in_every_partner_text(
    client: Client, db: Factory, site: tuple[Site, People]
) -> None:
    data, people = site
    fill_partner_texts_with_script(db)
    failures: list[str] = []
    visited = 0
    shown_escaped: set[str] = set()
    for route, visits in PAGES.items():
        for visit in visits:
            _sign_in(client, visit.who, people)
            url = visit.url(data)
            for lang in ("de", "ar"):
                response = client.get(f"{url}{'&' if '?' in url else '?'}lang={lang}", follow_redirects=False)
                visited += 1
                where = f"{url} ({lang}) as {visit.who}"
                if response.status_code != visit.status:
                    failures.append(f"{where}: status {response.status_code}, expected {visit.status}")
                    continue
                assert response.headers["content-type"].startswith("text/html"), where
                path = urllib.parse.urlsplit(url).path
                failures += [f"{where}: {p}" for p in header_problems(path, response.headers)]
                failures += [f"{where}: {p}" for p in scan_html(response.text)]
                if ESCAPED in response.text:
                    shown_escaped.add(route)
    assert visited >= 2 * len(PAGES)
    assert failures == [], f"{len(failures)} problems:\n" + "\n".join(failures)
    # The payloads were on the pages that show partners' texts, as text.
    assert {
        "/benefits",
        "/benefits/{benefit_id}",
        "/partners/{partner_id}",
        "/partner/benefits",
        "/partner/benefits/{benefit_id}/preview",
        "/partner/locations",
        "/staff/partner-queue/{partner_id}",
        "/staff/benefit-queue/{benefit_id}",
        "/staff/partners",
    } <= shown_escaped, sorted(shown_escaped)


def test_a_partners_script_url_never_becomes_a_link(client: Client, db: Factory, site: tuple[Site, People]) -> None:
    data, _people = site
    fill_partner_texts_with_script(db)
    page = client.get(f"/partners/{data.partner_id}")
    assert page.status_code == 200
    assert SCRIPT_URL not in page.text
    assert ESCAPED in page.text


def test_the_json_outputs_carry_partner_texts_as_data_and_only_web_addresses_as_links(
    client: Client, db: Factory, site: tuple[Site, People]
) -> None:
    data, _people = site
    fill_partner_texts_with_script(db)
    outputs = [
        "/api/v1/benefits",
        f"/api/v1/benefits/{data.benefit_id}",
        "/api/v1/open-data/benefits.json",
        "/api/v1/partners.geojson",
    ]
    for path in outputs:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(("application/json", "application/geo+json")), path
        assert response.headers["x-content-type-options"] == "nosniff", path
        body = response.json()
        # The texts are there as the partner typed them (a JSON string is data, not markup) ...
        assert "<script>alert(1)</script>" in json.dumps(body, ensure_ascii=False), path
        # ... and no address a program might link to is anything but a web address.
        for value in _url_values(body):
            assert value.lower().startswith(("https://", "http://", "/")), (path, value)


def _url_values(node: Any, key: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _url_values(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _url_values(value, key)
    elif isinstance(node, str) and (key in ("website", "url", "href", "link") or key.endswith(("_url", "_link"))):
        yield node


# -- HSTS only over HTTPS ------------------------------------------------------------------------------------------


def test_a_plain_http_site_sends_no_hsts_and_an_https_one_does(migrated_db: str, tmp_path: pathlib.Path) -> None:
    plain = make_test_settings(tmp_path / "plain", migrated_db, FK_BASE_URL="http://127.0.0.1:8000")
    with TestClient(create_app(plain), base_url="http://127.0.0.1:8000") as http_client:
        response = http_client.get("/")
        assert "strict-transport-security" not in response.headers
        assert header_problems("/", response.headers, https=False) == []
    secure = make_test_settings(tmp_path / "secure", migrated_db, FK_BASE_URL="https://familienkarte.example")
    with TestClient(create_app(secure), base_url="http://127.0.0.1:8000") as proxied_client:
        # Behind a TLS proxy the request arrives over HTTP; the public address says HTTPS.
        assert "max-age=31536000" in proxied_client.get("/").headers["strict-transport-security"]


# -- e-mail and PDF ------------------------------------------------------------------------------------------------


def test_the_partner_report_mail_and_pdf_show_partner_texts_as_text(db: Factory) -> None:
    shop = make_shop(db, PAYLOAD, [PAYLOAD, "Führung"], [PAYLOAD])
    benefit, location = shop.benefits[PAYLOAD], shop.locations[PAYLOAD]
    write(db, shop, [Fact(benefit, location, f"C{n}", local(dt.date(2026, 7, 3 + n), 10)) for n in range(6)])
    with db() as s, s.begin():
        s.execute(update(Partner).values(created_at=local(dt.date(2026, 1, 1), 9)))
    owner_email = "owner@example.org"
    _make_owner(db, shop.partner, owner_email)
    queued, _already = run_report(db, shop, JULY)
    assert queued == 1
    with db() as s:
        mail = s.scalars(select(Email).where(Email.to_address == owner_email)).one()
        attachments = s.scalars(select(EmailAttachment).where(EmailAttachment.email_id == mail.id)).all()
        body_html, body_text = mail.body_html or "", mail.body_text
        pdfs = [bytes(a.content) for a in attachments]
    assert body_html, "the report has an HTML part"
    problems = [p for p in scan_html(body_html) if "inline style" not in p]
    assert problems == []
    assert "<script>" not in body_html
    assert "<script>alert(1)</script>" in body_text, "the plain text part shows the name as typed"
    assert pdfs, "the report has its PDF"
    for content in pdfs:
        # Partner texts are text in the PDF, never markup: no link, no action came of the payload's <a href>.
        assert b"/Annots" not in content, "a link annotation from a partner text"
        assert b"/URI" not in content
        assert b"/JavaScript" not in content
        assert "<script>alert(1)</script>" in pdf_text(content)


def _make_owner(db: Factory, partner_id: Any, email: str) -> None:
    with db() as s, s.begin():
        s.add(
            User(email=email, display_name="Owner", role=Role.PARTNER_OWNER.value, partner_id=partner_id, locale="en")
        )
