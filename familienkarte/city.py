"""The city this deployment serves: name, time zone, districts, postal codes, eligibility rules, languages.

One TOML file per city (``familienkarte/cities/<name>.toml`` ships Köln and Hamm; ``FK_CITY`` names one of them
or the path of a file of one's own). The file is read and checked once; a mistake stops the start with one line
naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from familienkarte import i18n
from familienkarte.settings import ConfigError

CITIES_DIR = Path(__file__).resolve().parent / "cities"
_POSTAL_CODE = re.compile(r"^[0-9]{5}$")
# The shortest safe retention: a usage limit per calendar year looks back up to a year, and late uploads and the
# reconciliation touch the last 8 days; 13 months covers both. The longest: ten years.
RETENTION_MONTHS_MIN = 13
RETENTION_MONTHS_MAX = 120


@dataclass(frozen=True)
class EligibilityRules:
    max_adults: int = 2
    child_age_limit: int = 18
    disability_age_limit: int = 27
    expected_children_count: bool = True
    expected_max_months: int = 10
    main_residence_required: bool = True


@dataclass(frozen=True)
class Tier:
    """An optional extra entitlement a family may claim (for example a city's low-income pass), checked by staff."""

    names: Mapping[str, str]
    number_pattern: re.Pattern[str]

    def name(self, locale: str | None = None) -> str:
        wanted = locale or i18n.current_locale()
        return self.names.get(wanted) or self.names.get(i18n.DEFAULT_LOCALE) or next(iter(self.names.values()))


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str
    url: str


class Conformity(enum.StrEnum):
    """How far the site meets BITV 2.0 (WCAG 2.1 AA), as the accessibility statement must say."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


@dataclass(frozen=True)
class LocalisedText:
    """A text the city writes in German and, where it likes, in more languages."""

    texts: Mapping[str, str]

    def text(self, locale: str | None = None) -> str:
        wanted = locale or i18n.current_locale()
        return self.texts.get(wanted) or self.texts[i18n.DEFAULT_LOCALE]

    def is_translated(self, locale: str | None = None) -> bool:
        return (locale or i18n.current_locale()) in self.texts


@dataclass(frozen=True)
class FeedbackContact:
    """Where people report barriers or ask for content in an accessible form."""

    name: str
    email: str
    phone: str
    address: tuple[str, ...]


@dataclass(frozen=True)
class EnforcementBody:
    """The state's conciliation body (Schlichtungsstelle or Ombudsstelle) people may turn to."""

    name: str
    url: str


@dataclass(frozen=True)
class AccessibilityStatement:
    """The accessibility statement (Erklärung zur Barrierefreiheit) that BITV 2.0 requires public bodies to publish."""

    body: str
    conformity: Conformity
    known_issues: tuple[LocalisedText, ...]
    prepared_on: dt.date
    reviewed_on: dt.date
    feedback: FeedbackContact
    enforcement: EnforcementBody


@dataclass(frozen=True)
class City:
    key: str
    name: str
    timezone: ZoneInfo
    districts: tuple[str, ...]
    postal_codes: Mapping[str, tuple[str, ...]]
    eligibility: EligibilityRules
    card_validity_years: int
    auto_approve: bool
    # Days before the end of validity when the family is reminded to renew.
    expiry_reminder_days: int
    # Publish a benefit of an approved partner at once when it is submitted (off: staff moderate each one).
    auto_publish_benefits: bool
    # How long after a redemption its partner may still void it (a mistaken tap, a family that changed its mind).
    void_window: dt.timedelta
    # Statistics shown to partners or exported hide every figure about fewer distinct cards than this.
    suppression_threshold: int
    # Months the raw facts (redemptions, verifications) are kept; older ones are deleted once their rollups are
    # final. The city's data-protection officer decides it, so it lives in the city file.
    retention_months: int
    # Where maps open when there is nothing to show yet (latitude, longitude), and at which zoom.
    map_center: tuple[float, float]
    map_zoom: int
    tier: Tier | None
    languages: tuple[str, ...]
    privacy_url: str
    contact: Contact
    accessibility: AccessibilityStatement

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The date in the city now: day boundaries and ages follow the city's clock, not UTC."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.timezone).date()

    def districts_of(self, postal_code: str) -> tuple[str, ...]:
        return self.postal_codes.get(postal_code, ())


class _Reader:
    """Reads one table of the TOML file; every problem names the file and the dotted key."""

    def __init__(self, source: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.data = data
        self.prefix = prefix
        self.seen: set[str] = set()

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.prefix}{key}: {problem}")

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], label: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise self.fail(key, f"expected {label}, got {value!r}")
        return value

    def text(self, key: str, default: Any = None) -> str:
        value: str = self._get(key, _REQUIRED if default is None else default, str, "text")
        if default is None and not value.strip():
            raise self.fail(key, "must not be empty")
        return value.strip()

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int:
        value: int = self._get(key, default, int, "a whole number")
        if not minimum <= value <= maximum:
            raise self.fail(key, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, default, bool, "true or false")
        return value

    def texts(self, key: str) -> list[str]:
        value: list[Any] = self._get(key, _REQUIRED, list, "a list of texts")
        if not value or not all(isinstance(item, str) and item.strip() for item in value):
            raise self.fail(key, "expected a non-empty list of texts")
        if len(set(value)) != len(value):
            raise self.fail(key, "lists an entry twice")
        return [item.strip() for item in value]

    def date(self, key: str) -> dt.date:
        value: Any = self._get(key, _REQUIRED, dt.date, "a date such as 2026-01-31")
        if isinstance(value, dt.datetime):
            raise self.fail(key, f"expected a date such as 2026-01-31, got {value.isoformat()}")
        result: dt.date = value
        return result

    def table(self, key: str, required: bool = True) -> _Reader | None:
        value = self._get(key, _REQUIRED if required else None, dict, "a table")
        if value is None:
            return None
        return _Reader(self.source, value, f"{self.prefix}{key}.")

    def done(self) -> None:
        """Refuse keys nobody reads: a typo must not silently fall back to a default."""
        for key in self.data:
            if key not in self.seen:
                close = difflib.get_close_matches(key, sorted(self.seen), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.fail(key, f"unknown key{hint}")


_REQUIRED = object()


def _url(reader: _Reader, key: str) -> str:
    value = reader.text(key)
    if not value.startswith(("https://", "http://")):
        raise reader.fail(key, f"expected an http(s):// URL, got {value!r}")
    return value


def _coordinates(reader: _Reader, key: str) -> tuple[float, float]:
    value: list[Any] = reader._get(key, _REQUIRED, list, "[latitude, longitude]")
    if len(value) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise reader.fail(key, f"expected [latitude, longitude] in decimal degrees, got {value!r}")
    latitude, longitude = float(value[0]), float(value[1])
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise reader.fail(key, f"latitude -90 to 90 and longitude -180 to 180, got {value!r}")
    return latitude, longitude


def _email(reader: _Reader, key: str) -> str:
    value = reader.text(key)
    local, _, domain = value.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in value):
        raise reader.fail(key, f"expected an e-mail address, got {value!r}")
    return value


def _localised(reader: _Reader, key: str, languages: tuple[str, ...]) -> LocalisedText:
    """A table of texts by language code; German is required, other languages must be offered by the city."""
    texts_reader = reader.table(key)
    assert texts_reader is not None
    texts: dict[str, str] = {}
    for language in texts_reader.data:
        if language not in languages:
            raise texts_reader.fail(language, f"not one of the city's languages ({', '.join(languages)})")
        texts[language] = texts_reader.text(language)
    if i18n.DEFAULT_LOCALE not in texts:
        raise texts_reader.fail(i18n.DEFAULT_LOCALE, "missing")
    texts_reader.done()
    return LocalisedText(texts)


def _accessibility(top: _Reader, languages: tuple[str, ...]) -> AccessibilityStatement:
    reader = top.table("accessibility")
    assert reader is not None
    body = reader.text("body")
    conformity_text = reader.text("conformity")
    try:
        conformity = Conformity(conformity_text)
    except ValueError:
        choices = ", ".join(c.value for c in Conformity)
        raise reader.fail("conformity", f"expected one of {choices}, got {conformity_text!r}") from None
    prepared_on = reader.date("prepared_on")
    reviewed_on = reader.date("reviewed_on")
    if reviewed_on < prepared_on:
        raise reader.fail("reviewed_on", f"{reviewed_on.isoformat()} is before prepared_on ({prepared_on.isoformat()})")
    issues_value: list[Any] = reader._get("known_issues", [], list, "a list of tables")
    known_issues = []
    for number, entry in enumerate(issues_value, start=1):
        if not isinstance(entry, dict):
            raise reader.fail("known_issues", f'entry {number}: expected a table such as {{ de = "…" }}')
        holder = _Reader(reader.source, {str(number): entry}, f"{reader.prefix}known_issues.")
        known_issues.append(_localised(holder, str(number), languages))
    if conformity is Conformity.FULL and known_issues:
        raise reader.fail("known_issues", "must be empty when conformity is full")
    if conformity is not Conformity.FULL and not known_issues:
        raise reader.fail(
            "known_issues", f"must list the parts that are not accessible when conformity is {conformity}"
        )

    feedback_reader = reader.table("feedback")
    assert feedback_reader is not None
    feedback = FeedbackContact(
        name=feedback_reader.text("name"),
        email=_email(feedback_reader, "email"),
        phone=feedback_reader.text("phone"),
        address=tuple(feedback_reader.texts("address")),
    )
    feedback_reader.done()

    enforcement_reader = reader.table("enforcement")
    assert enforcement_reader is not None
    enforcement = EnforcementBody(name=enforcement_reader.text("name"), url=_url(enforcement_reader, "url"))
    enforcement_reader.done()
    reader.done()
    return AccessibilityStatement(
        body=body,
        conformity=conformity,
        known_issues=tuple(known_issues),
        prepared_on=prepared_on,
        reviewed_on=reviewed_on,
        feedback=feedback,
        enforcement=enforcement,
    )


def parse_city(source: str, data: Mapping[str, Any], key: str) -> City:
    """Check a parsed TOML document and build the City; ConfigError names the first problem."""
    top = _Reader(source, data)
    name = top.text("name")
    zone_name = top.text("timezone")
    try:
        timezone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise top.fail("timezone", f"unknown time zone {zone_name!r}") from None
    districts = tuple(top.texts("districts"))
    languages = tuple(top.texts("languages"))
    for language in languages:
        if language not in i18n.SUPPORTED_LOCALES:
            raise top.fail("languages", f"{language!r} has no catalogue; offered: {', '.join(i18n.SUPPORTED_LOCALES)}")
    privacy_url = _url(top, "privacy_url")
    card_validity_years = top.integer("card_validity_years", 6, 1, 30)
    auto_approve = top.flag("auto_approve", False)
    expiry_reminder_days = top.integer("expiry_reminder_days", 60, 1, 365)
    auto_publish_benefits = top.flag("auto_publish_benefits", False)
    void_window = dt.timedelta(minutes=top.integer("void_window_minutes", 15, 1, 24 * 60))
    suppression_threshold = top.integer("suppression_threshold", 5, 1, 100)
    retention_months = top.integer("retention_months", 24, RETENTION_MONTHS_MIN, RETENTION_MONTHS_MAX)
    map_center = _coordinates(top, "map_center")
    map_zoom = top.integer("map_zoom", 12, 3, 18)

    rules_reader = top.table("eligibility", required=False) or _Reader(source, {}, "eligibility.")
    rules = EligibilityRules(
        max_adults=rules_reader.integer("max_adults", 2, 1, 10),
        child_age_limit=rules_reader.integer("child_age_limit", 18, 1, 30),
        disability_age_limit=rules_reader.integer("disability_age_limit", 27, 1, 40),
        expected_children_count=rules_reader.flag("expected_children_count", True),
        expected_max_months=rules_reader.integer("expected_max_months", 10, 1, 12),
        main_residence_required=rules_reader.flag("main_residence_required", True),
    )
    if rules.disability_age_limit < rules.child_age_limit:
        raise rules_reader.fail("disability_age_limit", "must not be below child_age_limit")
    rules_reader.done()

    codes_reader = top.table("postal_codes")
    assert codes_reader is not None
    postal_codes: dict[str, tuple[str, ...]] = {}
    for code in codes_reader.data:
        if not _POSTAL_CODE.match(code):
            raise codes_reader.fail(code, "a postal code is five digits")
        listed = codes_reader.texts(code)
        for district in listed:
            if district not in districts:
                raise codes_reader.fail(code, f"{district!r} is not one of the districts")
        postal_codes[code] = tuple(listed)
    if not postal_codes:
        raise top.fail("postal_codes", "lists no postal code")
    covered = {d for listed in postal_codes.values() for d in listed}
    for district in districts:
        if district not in covered:
            raise top.fail("postal_codes", f"no postal code lies in the district {district!r}")
    codes_reader.done()

    tier = None
    tier_reader = top.table("tier", required=False)
    if tier_reader is not None:
        names_reader = tier_reader.table("names")
        assert names_reader is not None
        names = {lang: names_reader.text(lang) for lang in names_reader.data}
        if i18n.DEFAULT_LOCALE not in names:
            raise names_reader.fail(i18n.DEFAULT_LOCALE, "missing")
        pattern_text = tier_reader.text("number_pattern")
        try:
            pattern = re.compile(pattern_text)
        except re.error as exc:
            raise tier_reader.fail("number_pattern", f"not a regular expression: {exc}") from None
        tier = Tier(names=names, number_pattern=pattern)
        tier_reader.done()

    contact_reader = top.table("contact")
    assert contact_reader is not None
    contact = Contact(
        name=contact_reader.text("name"),
        email=contact_reader.text("email"),
        phone=contact_reader.text("phone", ""),
        url=contact_reader.text("url", ""),
    )
    if "@" not in contact.email:
        raise contact_reader.fail("email", f"expected an e-mail address, got {contact.email!r}")
    contact_reader.done()
    accessibility = _accessibility(top, languages)
    top.done()
    return City(
        key=key,
        name=name,
        timezone=timezone,
        districts=districts,
        postal_codes=postal_codes,
        eligibility=rules,
        card_validity_years=card_validity_years,
        auto_approve=auto_approve,
        expiry_reminder_days=expiry_reminder_days,
        auto_publish_benefits=auto_publish_benefits,
        void_window=void_window,
        suppression_threshold=suppression_threshold,
        retention_months=retention_months,
        map_center=map_center,
        map_zoom=map_zoom,
        tier=tier,
        languages=languages,
        privacy_url=privacy_url,
        contact=contact,
        accessibility=accessibility,
    )


def city_path(spec: str) -> Path:
    """A shipped city by name (``koeln``), or the path of a TOML file."""
    if re.fullmatch(r"[a-z][a-z0-9_-]*", spec) and (CITIES_DIR / f"{spec}.toml").is_file():
        return CITIES_DIR / f"{spec}.toml"
    path = Path(spec)
    if path.suffix != ".toml":
        shipped = ", ".join(sorted(p.stem for p in CITIES_DIR.glob("*.toml")))
        raise ConfigError(f"{spec}: neither a shipped city ({shipped}) nor the path of a .toml file")
    return path


@functools.cache
def load_city(spec: str) -> City:
    """Read and check the city configuration once; ConfigError with one line naming the file and the key."""
    path = city_path(spec)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_city(str(path), data, path.stem)
