"""Accessibility in the rendered HTML: the accessibility statement filled from the city file and linked from every
page; every form field labelled; a refused form announces its errors and links each one to its field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from familienkarte import i18n
from familienkarte.accounts.roles import Role
from familienkarte.city import city_path, load_city
from familienkarte.settings import ConfigError
from tests.conftest import csrf_from
from tests.helpers import make_test_settings, sign_in_as

Client = TestClient[Litestar]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page(HTMLParser):
    """The elements of a page with their attributes, and the text inside each element that has an id."""

    elements: list[Element] = field(default_factory=list)
    _open: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def by_id(self, ident: str) -> Element:
        found = [e for e in self.elements if e.attrs.get("id") == ident]
        assert len(found) == 1, f"expected one element with id {ident!r}, found {len(found)}"
        return found[0]

    def controls(self) -> list[Element]:
        return [
            e for e in self.elements if e.tag in CONTROLS and e.attrs.get("type", "text") not in UNLABELLED_INPUT_TYPES
        ]


def de(message: str, **params: Any) -> str:
    """A message as the German catalogue has it."""
    text = i18n.translations("de").gettext(message)
    return text % params if params else text


PARTIAL = (
    "This website is partially compliant with BITV 2.0 (WCAG 2.1 level AA). The parts listed below are not yet "
    "accessible."
)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def text_of(element: Element) -> str:
    return " ".join(element.text.replace("✖", "").split())


def unlabelled(page: Page) -> list[str]:
    labelled = {e.attrs.get("for") for e in page.elements if e.tag == "label"}
    return [
        e.attrs.get("name") or e.attrs.get("id") or e.tag
        for e in page.controls()
        if e.attrs.get("id") not in labelled and not e.attrs.get("aria-label") and not e.attrs.get("aria-labelledby")
    ]


# --- the accessibility statement ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accessibility", "/barrierefreiheit"])
def test_the_statement_shows_the_configured_values_in_german(client: Client, path: str) -> None:
    statement = load_city("koeln").accessibility
    response = client.get(path, headers={"Accept-Language": "de"})
    assert response.status_code == 200
    page = parse(response.text)
    main = page.by_id("main")
    words = " ".join(main.text.split())
    assert de("Accessibility statement") in words
    assert statement.body in words
    assert de(PARTIAL) in words, "the partial conformity is stated in words"
    for issue in statement.known_issues:
        assert " ".join(issue.text("de").split()) in words
    assert "23. November 2026" in words, "the dates the statement was made and reviewed"
    assert statement.feedback.phone in words
    for line in statement.feedback.address:
        assert line in words
    links = {e.attrs["href"]: text_of(e) for e in page.elements if e.tag == "a" and "href" in e.attrs}
    mailto = [href for href in links if href.startswith(f"mailto:{statement.feedback.email}")]
    assert mailto
    assert links[mailto[0]] == statement.feedback.email
    assert links[statement.enforcement.url] == statement.enforcement.name


def test_the_statement_is_translated_with_the_citys_own_texts(client: Client) -> None:
    statement = load_city("koeln").accessibility
    response = client.get("/accessibility?lang=en")
    words = " ".join(parse(response.text).by_id("main").text.split())
    assert "Accessibility statement" in words
    assert PARTIAL in words
    assert statement.known_issues[0].text("en") in words
    assert statement.known_issues[0].text("de") not in words
    assert "November 23, 2026" in words


def test_a_known_issue_without_a_translation_is_shown_in_german_and_marked(client: Client) -> None:
    statement = load_city("koeln").accessibility
    issue = statement.known_issues[0]
    assert not issue.is_translated("tr")
    page = parse(client.get("/accessibility?lang=tr").text)
    german = [e for e in page.elements if e.tag == "span" and e.attrs.get("lang") == "de"]
    assert " ".join(issue.text("de").split()) in [" ".join(e.text.split()) for e in german]
    marks = [text_of(e) for e in page.elements if e.tag == "span" and "small" in e.attrs.get("class", "")]
    expected = i18n.translations("tr").gettext("only in German")
    assert marks.count(f"({expected})") == len(statement.known_issues)


def test_an_own_city_file_fills_the_statement(tmp_path: Path, migrated_db: str) -> None:
    source = city_path("koeln").read_text(encoding="utf-8")
    own = tmp_path / "ourcity.toml"
    own.write_text(
        source.replace('email = "barrierefreiheit@stadt-koeln.example"', 'email = "a11y@our-city.example"')
        .replace("reviewed_on = 2026-11-23", "reviewed_on = 2027-03-01")
        .replace('conformity = "partial"', 'conformity = "none"'),
        encoding="utf-8",
    )
    from familienkarte.app import create_app

    app = create_app(make_test_settings(tmp_path / "var", migrated_db, FK_CITY=str(own)))
    with TestClient(app, base_url="https://testserver.local") as client:
        html = client.get("/accessibility?lang=en").text
    assert 'href="mailto:a11y@our-city.example?' in html
    assert "March 1, 2027" in html
    assert "is not compliant" in html
    assert "partially compliant" not in html


def test_a_city_file_without_a_feedback_contact_stops_the_start(tmp_path: Path, migrated_db: str) -> None:
    source = city_path("koeln").read_text(encoding="utf-8")
    start = source.index("[accessibility.feedback]")
    end = source.index("[accessibility.enforcement]")
    own = tmp_path / "nocontact.toml"
    own.write_text(source[:start] + source[end:], encoding="utf-8")
    from familienkarte.app import create_app

    with pytest.raises(ConfigError) as info:
        create_app(make_test_settings(tmp_path / "var", migrated_db, FK_CITY=str(own)))
    assert str(info.value) == f"FK_CITY: {own}: accessibility.feedback: missing"


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (None, "/"),
        (None, "/apply"),
        (None, "/benefits"),
        (None, "/login"),
        (None, "/partner/register"),
        (Role.CASHIER, "/partner/"),
        (Role.ADMIN, "/staff/"),
        (Role.CASEWORKER, "/staff/applications"),
    ],
)
def test_every_area_links_the_statement_from_its_footer(
    client: Client, make_user: Callable[..., Any], role: Role | None, path: str
) -> None:
    if role is not None:
        sign_in_as(client, make_user(role))
    response = client.get(path, headers={"Accept-Language": "de"})
    assert response.status_code == 200, path
    html = response.text
    footer = html[html.index('<footer class="site-footer">') :]
    assert f'<a href="/accessibility">{de("Accessibility statement")}</a>' in footer


# --- forms ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/apply", "/login", "/login/family", "/benefits", "/finder", "/partner/register"])
def test_every_field_has_a_label(client: Client, path: str) -> None:
    page = parse(client.get(path, headers={"Accept-Language": "de"}).text)
    assert page.controls(), f"{path} has fields"
    assert unlabelled(page) == []


def test_an_empty_application_announces_its_errors_and_links_each_to_its_field(client: Client) -> None:
    csrf = csrf_from(client.get("/apply?lang=en").text)
    response = client.post("/apply", data={"csrf_token": csrf})
    assert response.status_code == 422
    page = parse(response.text)

    summary = page.by_id("error-summary")
    assert summary.attrs.get("role") == "alert"
    assert "autofocus" in summary.attrs, "the summary takes the focus, so it is read out first"
    assert summary.attrs.get("tabindex") == "-1"
    links = [e for e in page.elements if e.tag == "a" and e.attrs.get("href", "").startswith("#field-")]
    messages = {e.attrs["href"][len("#field-") :]: text_of(e) for e in links}
    assert {"adult-0-first_name", "street", "house_number", "postal_code", "consent"} <= messages.keys()
    assert messages["street"] == "Please enter the street."

    for name, message in messages.items():
        control = page.by_id(f"field-{name}")
        assert control.attrs.get("aria-invalid") == "true", name
        described = control.attrs.get("aria-describedby", "").split()
        assert f"error-{name}" in described, name
        assert text_of(page.by_id(f"error-{name}")) == message, name
    invalid = {e.attrs["id"] for e in page.elements if e.attrs.get("aria-invalid") == "true"}
    assert invalid == {f"field-{name}" for name in messages}, "only the refused fields are marked"
    assert unlabelled(page) == []


def test_a_group_error_is_linked_to_its_fieldset(client: Client) -> None:
    csrf = csrf_from(client.get("/apply?lang=en").text)
    data = {
        "csrf_token": csrf,
        "adult-0-first_name": "Ayşe",
        "adult-0-last_name": "Yılmaz",
        "adult-0-email": "ayse@example.org",
        "street": "Venloer Straße",
        "house_number": "12a",
        "postal_code": "50823",
        "locale": "en",
        "main_residence": "on",
        "consent": "on",
    }
    response = client.post("/apply", data=data)
    assert response.status_code == 422
    page = parse(response.text)
    children = page.by_id("field-children")
    assert children.tag == "fieldset"
    assert children.attrs.get("aria-describedby") == "error-children"
    assert text_of(page.by_id("error-children"))
    assert any(e.attrs.get("href") == "#field-children" for e in page.elements if e.tag == "a")
