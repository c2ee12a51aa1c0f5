"""Import of partners, their locations and benefits from CSV files, for cities moving from a spreadsheet.

Three files, uploaded together: ``partners.csv``, ``locations.csv`` and ``benefits.csv`` (optional). A key column
the city chooses links them: each location and benefit names its partner's ``partner_key``, each benefit the
``location_key`` of its locations. The columns are named like the fields of the partner forms and listed in
:data:`COLUMNS` (the staff page and the README show them). Every cell is checked by the same readers as the forms
(``services.read_organisation``, ``services.read_location``, ``benefits.services.read_benefit``).

Files are UTF-8 (with or without a byte order mark), ``;`` or ``,`` separated (read from the header line), with a
header line, at most :data:`MAX_ROWS` rows and :data:`MAX_BYTES` each. Cells are text: one that starts with
``=``, ``+``, ``-`` or ``@`` is stored as typed and never evaluated; any CSV written back (the examples, the error
report) puts an apostrophe before such a cell so that a spreadsheet shows it as text.

``check_import`` reports every error (file, line, column, message) and writes nothing; ``run_import`` runs the
same checks and writes everything in the caller's transaction only when there is none. Imported partners are
``approved`` (the city has checked them before), without user accounts (``email`` is kept as the contact). Imported
benefits follow the city's rule: ``published`` where the city publishes automatically, else ``submitted`` to the
moderation queue. A partner whose name and one location's address match an existing partner is a duplicate, so
importing a file twice adds nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.services import email_problem, normalise_email
from familienkarte.audit import services as audit
from familienkarte.benefits import fields as benefit_fields
from familienkarte.benefits.models import Benefit, BenefitStatus
from familienkarte.benefits.services import read_benefit
from familienkarte.benefits.views import KIND_LABELS, PERIOD_LABELS
from familienkarte.city import City
from familienkarte.db import utcnow
from familienkarte.errors import N_, InvalidInput, NotFound, PermissionDenied
from familienkarte.partners import services
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.vocabulary import ACCESSIBILITY_FEATURES, CATEGORIES, LEGAL_FORMS, WEEKDAYS
from familienkarte.spreadsheets import csv_cell

PARTNERS: Final = "partners"
LOCATIONS: Final = "locations"
BENEFITS: Final = "benefits"
KINDS: Final = (PARTNERS, LOCATIONS, BENEFITS)
REQUIRED_FILES: Final = frozenset({PARTNERS, LOCATIONS})
MAX_ROWS: Final = 5000
MAX_BYTES: Final = 5 * 1024 * 1024
KEY_MAX: Final = 64
LIST_SEPARATOR: Final = "|"
YES: Final = frozenset({"yes", "ja", "y", "j", "true", "wahr", "1", "x", "on"})
NO: Final = frozenset({"", "no", "nein", "n", "false", "falsch", "0", "off"})
# How Python's csv module says that a cell is over its length limit (often a quotation mark that is never closed).
_FIELD_TOO_LARGE: Final = "field larger than field limit"
# Both PostgreSQL sessions importing at once would each miss the other's partners in the duplicate check.
_IMPORT_LOCK: Final = 7_340_101


# The columns ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an import file: ``field`` is the form field its cell is read as."""

    name: str
    required: bool
    help: str
    # The codes the cell may hold, with their labels (message ids).
    codes: Mapping[str, str] = field(default_factory=dict)
    field: str = ""

    @property
    def form_field(self) -> str:
        return self.field or self.name


def _per_language(base: str, help_text: str, *, german_required: bool = False) -> list[Column]:
    return [
        Column(
            f"{base}_{language}",
            german_required and language == i18n.DEFAULT_LOCALE,
            help_text,
            field=f"{base}-{language}",
        )
        for language in i18n.CONTENT_LOCALES
    ]


_PARTNER_KEY_HELP = N_("The key of the partner in partners.csv.")
COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    PARTNERS: (
        Column(
            "partner_key",
            True,
            N_("Your own key for the partner (for example a number), unique in the file; the other files refer to it."),
        ),
        Column("name", True, N_("The name of the organisation.")),
        Column("legal_form", True, N_("The legal form, one of the codes."), LEGAL_FORMS),
        Column("category", True, N_("What the organisation offers, one of the codes."), CATEGORIES),
        *_per_language(
            "description",
            N_("The description of the organisation, one column per language; German is required."),
            german_required=True,
        ),
        Column("website", False, N_("The address of the website, for example https://www.example.org.")),
        Column("phone", False, N_("A telephone number, for example 0221 123456.")),
        Column("email", False, N_("The contact e-mail address of the organisation.")),
    ),
    LOCATIONS: (
        Column("partner_key", True, _PARTNER_KEY_HELP),
        Column(
            "location_key",
            True,
            N_("Your own key for the location, unique in the file; benefits.csv refers to it."),
        ),
        Column("name", True, N_("The name of the location.")),
        Column("street", True, N_("The street.")),
        Column("house_number", True, N_("The house number, for example 12 or 12a.")),
        Column("postal_code", True, N_("The postal code; it must lie in the city.")),
        Column("district", False, N_("The district; needed only where a postal code lies in several districts.")),
        Column("latitude", False, N_("The latitude as a decimal number, for example 50.9384 (optional).")),
        Column("longitude", False, N_("The longitude as a decimal number, for example 6.9583 (optional).")),
        *(
            Column(
                f"hours_{day}",
                False,
                N_("Opening hours on this weekday, for example 09:00-12:30, 14:00-18:00; empty: closed."),
                field=f"hours-{day}",
            )
            for day in WEEKDAYS
        ),
        *_per_language("hours_note", N_("A note on the opening hours, one column per language.")),
        Column(
            "accessibility",
            False,
            N_("Accessibility features, codes separated by |."),
            ACCESSIBILITY_FEATURES,
        ),
        *_per_language("access_note", N_("A note on accessibility, one column per language.")),
        Column("phone", False, N_("A telephone number of the location.")),
    ),
    BENEFITS: (
        Column("partner_key", True, _PARTNER_KEY_HELP),
        Column(
            "location_keys",
            True,
            N_("The keys of the locations (of the same partner) where it applies, separated by |."),
            field="locations",
        ),
        *_per_language("title", N_("The title, one column per language; German is required."), german_required=True),
        *_per_language("description", N_("The description, one column per language.")),
        *_per_language("conditions", N_("The conditions, one column per language.")),
        Column("kind", True, N_("The kind of benefit, one of the codes."), KIND_LABELS),
        Column(
            "value",
            False,
            N_("The percentage (percent_off) or the amount in euros (amount_off, special_price); empty otherwise."),
        ),
        Column("category", False, N_("One of the codes; empty: the partner's category."), CATEGORIES),
        Column("valid_from", False, N_("The first day, for example 2026-01-31 or 31.01.2026; empty: from now.")),
        Column("valid_until", False, N_("The last day; empty: without end.")),
        Column("weekdays", False, N_("The weekdays, codes separated by |; empty: every day."), WEEKDAYS),
        Column("min_children", False, N_("The least number of children on the card; empty: 0.")),
        Column("child_age_min", False, N_("The lowest age of a child it is for (optional).")),
        Column("child_age_max", False, N_("The highest age of a child it is for (optional).")),
        Column("requires_entitlement", False, N_("yes: only for cards with the city's entitlement; empty: no.")),
        Column("limit_count", False, N_("How often one card may use it per period (optional).")),
        Column(
            "limit_period",
            False,
            N_("The period of that limit, one of the codes."),
            PERIOD_LABELS,
        ),
        Column("total_quota", False, N_("How many uses in all, for every card together (optional).")),
        Column("max_quantity", False, N_("How many at once, for example tickets; empty: 1.")),
    ),
}
FILE_NAMES: Final = {kind: f"{kind}.csv" for kind in KINDS}


def _column_of(kind: str, form_field: str) -> str:
    for column in COLUMNS[kind]:
        if column.form_field == form_field:
            return column.name
    # A field the import builds from one column (``access-step_free``, ``weekday-mon``).
    if form_field.startswith("access-"):
        return "accessibility"
    if form_field.startswith("weekday"):
        return "weekdays"
    return form_field


# The report -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem: the file's kind, its line (None: the whole file), the column (None: the whole line)."""

    file: str
    line: int | None
    column: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return FILE_NAMES[self.file]


@dataclass(frozen=True)
class ImportedPartner:
    id: uuid.UUID
    name: str
    locations: int
    benefits: int


@dataclass(frozen=True)
class ImportReport:
    """What a check (or an import) found: rows read per file, every error, and what was imported (if it was)."""

    rows: dict[str, int]
    errors: list[RowError]
    imported: list[ImportedPartner] | None = None
    benefit_status: str | None = None
    import_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_of(self, kind: str) -> list[RowError]:
        return [e for e in self.errors if e.file == kind]


# Reading the files ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


def _delimiter(first_line: str) -> str:
    # Column names contain neither character, so the header line tells which one separates the cells.
    return ";" if first_line.count(";") > first_line.count(",") else ","


def read_rows(kind: str, raw: bytes | None, errors: list[RowError]) -> list[Row]:
    """The data rows of one file, after checking its encoding, header, size and shape; problems go to ``errors``."""

    def fail(line: int | None, column: str | None, message: str, /, **params: Any) -> None:
        errors.append(RowError(kind, line, column, message, params))

    if not raw:
        if kind in REQUIRED_FILES:
            fail(None, None, N_("Please choose the file %(file)s."), file=FILE_NAMES[kind])
        return []
    if len(raw) > MAX_BYTES:
        fail(None, None, N_("The file is larger than %(megabytes)s MB."), megabytes=MAX_BYTES // 2**20)
        return []
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(
            raw[: exc.start].count(b"\n") + 1,
            None,
            N_("The file is not in UTF-8. In the spreadsheet, save it as “CSV UTF-8”."),
        )
        return []
    delimiter = _delimiter(content.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    known = {column.name: column for column in COLUMNS[kind]}
    try:
        written = [name.strip() for name in next(reader)]
    except StopIteration:
        fail(None, None, N_("The file is empty."))
        return []
    except csv.Error as exc:
        fail(1, None, N_("This line cannot be read as CSV: %(problem)s."), problem=str(exc))
        return []
    while written and not written[-1]:
        written.pop()  # spreadsheets write empty columns at the end
    header = [name.lower() for name in written]
    if not any(name in known for name in header):
        fail(
            1,
            None,
            N_("The first line must name the columns, for example %(example)s."),
            example=delimiter.join(c.name for c in COLUMNS[kind] if c.required),
        )
        return []
    header_ok = True
    seen: set[str] = set()
    for name, as_written in zip(header, written, strict=True):
        if not name:
            fail(1, None, N_("A column has no name. Please name it or delete it."))
            header_ok = False
        elif name not in known:
            fail(1, as_written, N_("The column %(column)s is not known. Please check its name."), column=as_written)
            header_ok = False
        elif name in seen:
            fail(1, name, N_("The column %(column)s appears twice."), column=name)
            header_ok = False
        seen.add(name)
    for column in COLUMNS[kind]:
        if column.required and column.name not in seen:
            fail(1, column.name, N_("The column %(column)s is missing."), column=column.name)
            header_ok = False
    if not header_ok:
        return []

    rows: list[Row] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if _FIELD_TOO_LARGE in str(exc):
                fail(
                    reader.line_num,
                    None,
                    N_(
                        "A cell in this line is longer than %(max)s characters, or a quotation mark is not closed; "
                        "the lines after it were not checked."
                    ),
                    max=csv.field_size_limit(),
                )
            else:
                fail(
                    reader.line_num,
                    None,
                    N_("This line cannot be read as CSV (%(problem)s); the lines after it were not checked."),
                    problem=str(exc),
                )
            break
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_ROWS:
            fail(line, None, N_("The file has more than %(max)s rows. Please split it."), max=MAX_ROWS)
            break
        extra = cells[len(header) :]
        if len(cells) < len(header) or any(cell.strip() for cell in extra):
            fail(
                line,
                None,
                N_("This line has %(cells)s cells, but the first line names %(columns)s columns."),
                cells=len(cells),
                columns=len(header),
            )
            continue
        rows.append(Row(line, dict(zip(header, cells, strict=False))))
    return rows


# Checking the rows ------------------------------------------------------------------------------------------------


@dataclass
class _PartnerPlan:
    row: Row
    key: str
    organisation: services.OrganisationInput | None
    email: str | None
    locations: list[_LocationPlan] = field(default_factory=list)
    benefits: list[_BenefitPlan] = field(default_factory=list)


@dataclass
class _LocationPlan:
    row: Row
    key: str
    id: uuid.UUID
    checked: services.LocationInput | None


@dataclass
class _BenefitPlan:
    row: Row
    content: dict[str, Any] | None


@dataclass
class _Plan:
    partners: list[_PartnerPlan]
    rows: dict[str, int]
    errors: list[RowError]


def _field_errors(kind: str, row: Row, exc: InvalidInput, errors: list[RowError]) -> None:
    for problem in exc.errors:
        errors.append(RowError(kind, row.line, _column_of(kind, problem.field), problem.message, problem.params))


def _form(kind: str, row: Row) -> dict[str, str]:
    return {column.form_field: row.get(column.name) for column in COLUMNS[kind]}


def _key(kind: str, row: Row, column: str, seen: set[str], errors: list[RowError]) -> str:
    key = row.get(column).strip()
    if not key:
        errors.append(RowError(kind, row.line, column, N_("Please enter a key.")))
    elif len(key) > KEY_MAX:
        errors.append(
            RowError(kind, row.line, column, N_("Please use at most %(max)s characters here."), {"max": KEY_MAX})
        )
    elif services._has_control(key):
        errors.append(RowError(kind, row.line, column, N_("This field contains characters that cannot be used.")))
    elif key in seen:
        errors.append(RowError(kind, row.line, column, N_("The key %(key)s appears more than once."), {"key": key}))
    seen.add(key)
    return key


def _codes(raw: str) -> list[str]:
    return [code.strip() for code in raw.split(LIST_SEPARATOR) if code.strip()]


def _unknown_codes(kind: str, row: Row, column: str, allowed: Sequence[str], errors: list[RowError]) -> list[str]:
    codes = _codes(row.get(column))
    unknown = [code for code in codes if code not in allowed]
    if unknown:
        errors.append(
            RowError(
                kind,
                row.line,
                column,
                N_("Unknown codes: %(codes)s. Please use these: %(allowed)s."),
                {"codes": ", ".join(unknown), "allowed": ", ".join(allowed)},
            )
        )
    return [code for code in codes if code in allowed]


def _check_partners(rows: list[Row], errors: list[RowError]) -> dict[str, _PartnerPlan]:
    plans: dict[str, _PartnerPlan] = {}
    seen: set[str] = set()
    for row in rows:
        key = _key(PARTNERS, row, "partner_key", seen, errors)
        organisation: services.OrganisationInput | None = None
        try:
            organisation = services.read_organisation(_form(PARTNERS, row), phone_required=False)
        except InvalidInput as exc:
            _field_errors(PARTNERS, row, exc, errors)
        email: str | None = None
        if row.get("email").strip():
            email = normalise_email(row.get("email"))
            problem = email_problem(email)
            if problem:
                errors.append(RowError(PARTNERS, row.line, "email", problem.message, problem.params))
        if key and key not in plans:
            plans[key] = _PartnerPlan(row, key, organisation, email)
    return plans


def _check_locations(
    rows: list[Row], city: City, partners: Mapping[str, _PartnerPlan], errors: list[RowError]
) -> dict[str, _LocationPlan]:
    by_key: dict[str, _LocationPlan] = {}
    seen: set[str] = set()
    for row in rows:
        partner_key = row.get("partner_key").strip()
        partner = partners.get(partner_key)
        if partner is None:
            errors.append(_unknown_partner(LOCATIONS, row, partner_key))
        key = _key(LOCATIONS, row, "location_key", seen, errors)
        form = _form(LOCATIONS, row)
        for code in _unknown_codes(LOCATIONS, row, "accessibility", tuple(ACCESSIBILITY_FEATURES), errors):
            form[f"access-{code}"] = "on"
        checked: services.LocationInput | None = None
        try:
            checked = services.read_location(form, city)
        except InvalidInput as exc:
            _field_errors(LOCATIONS, row, exc, errors)
        plan = _LocationPlan(row, key, uuid.uuid4(), checked)
        if key and key not in by_key:
            by_key[key] = plan
        if partner is not None:
            partner.locations.append(plan)
    for partner in partners.values():
        if not partner.locations:
            errors.append(
                RowError(
                    PARTNERS,
                    partner.row.line,
                    "partner_key",
                    N_("No line of locations.csv names this partner; every partner needs at least one location."),
                )
            )
    return by_key


def _unknown_partner(kind: str, row: Row, key: str) -> RowError:
    if not key:
        return RowError(kind, row.line, "partner_key", N_("Please enter the key of the partner."))
    return RowError(kind, row.line, "partner_key", N_("No line of partners.csv has the key %(key)s."), {"key": key})


def _yes_no(row: Row, column: str, errors: list[RowError]) -> str:
    value = row.get(column).strip().lower()
    if value in YES:
        return "on"
    if value not in NO:
        errors.append(RowError(BENEFITS, row.line, column, N_("Please write yes or no, or leave the cell empty.")))
    return ""


def _title_key(content: Mapping[str, Any]) -> str:
    return " ".join(str(content["title"].get(i18n.DEFAULT_LOCALE, "")).split()).casefold()


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    first_a, last_a = a["valid_from"] or "0000-00-00", a["valid_until"] or "9999-99-99"
    first_b, last_b = b["valid_from"] or "0000-00-00", b["valid_until"] or "9999-99-99"
    return bool(first_a <= last_b and first_b <= last_a)


def _check_benefits(
    rows: list[Row],
    partners: Mapping[str, _PartnerPlan],
    locations: Mapping[str, _LocationPlan],
    today: dt.date,
    errors: list[RowError],
) -> None:
    for row in rows:
        partner_key = row.get("partner_key").strip()
        partner = partners.get(partner_key)
        if partner is None:
            errors.append(_unknown_partner(BENEFITS, row, partner_key))
        form = _form(BENEFITS, row)
        form.pop("locations", None)
        ids: list[str] = []
        for key in _codes(row.get("location_keys")):
            location = locations.get(key)
            if location is None:
                errors.append(
                    RowError(
                        BENEFITS,
                        row.line,
                        "location_keys",
                        N_("No line of locations.csv has the key %(key)s."),
                        {"key": key},
                    )
                )
            elif partner is not None and location not in partner.locations:
                errors.append(
                    RowError(
                        BENEFITS,
                        row.line,
                        "location_keys",
                        N_("The location %(key)s belongs to another partner."),
                        {"key": key},
                    )
                )
            else:
                ids.append(str(location.id))
        form["location_ids"] = " ".join(ids)
        if not form.get("category", "").strip() and partner is not None:
            form["category"] = partner.row.get("category").strip()
        weekdays = _unknown_codes(BENEFITS, row, "weekdays", tuple(WEEKDAYS), errors) or list(WEEKDAYS)
        form.update({f"weekday-{code}": "on" for code in weekdays})
        form["requires_entitlement"] = _yes_no(row, "requires_entitlement", errors)
        own = {loc.id for loc in partner.locations} if partner is not None else set()
        content: dict[str, Any] | None = None
        try:
            content = read_benefit(form, locations=own, today=today, languages=i18n.CONTENT_LOCALES)
        except InvalidInput as exc:
            # An unknown or foreign key is reported above, with its name; without a partner, no category is known.
            exc.errors[:] = [
                e
                for e in exc.errors
                if not (e.field == "locations" and row.get("location_keys").strip())
                and not (e.field == "category" and partner is None and not row.get("category").strip())
            ]
            _field_errors(BENEFITS, row, exc, errors)
        if partner is None:
            continue
        if content is not None:
            for other in partner.benefits:
                if (
                    other.content is not None
                    and _title_key(other.content) == _title_key(content)
                    and _overlap(other.content, content)
                ):
                    errors.append(
                        RowError(
                            BENEFITS,
                            row.line,
                            "title_de",
                            N_("Line %(line)s has a benefit of this partner with the same title in this period."),
                            {"line": other.row.line},
                        )
                    )
                    break
        partner.benefits.append(_BenefitPlan(row, content))


def _address(street: str | None, house_number: str | None, postal_code: str | None) -> str:
    street_text = " ".join((street or "").casefold().split())
    # "Hauptstr." and "Hauptstraße" are one street (casefold already turns ß into ss).
    if street_text.endswith("str."):
        street_text = street_text[:-4] + "strasse"
    house = "".join((house_number or "").casefold().split())
    return f"{street_text}|{house}|{(postal_code or '').strip()}"


def _name(text_value: str) -> str:
    return " ".join(text_value.casefold().split())


def _check_duplicates(session: Session, partners: Mapping[str, _PartnerPlan], errors: list[RowError]) -> None:
    """A partner whose name and one location's address match an existing partner (or an earlier row)."""
    names = {_name(p.organisation.name) for p in partners.values() if p.organisation is not None}
    existing: dict[str, set[str]] = {}
    name_list = sorted(names)
    for start in range(0, len(name_list), 500):
        chunk = name_list[start : start + 500]
        found = session.execute(
            select(Partner.name, Location.street, Location.house_number, Location.postal_code)
            .join(Location, Location.partner_id == Partner.id)
            .where(func.lower(Partner.name).in_(chunk))
        )
        for name, street, house, postal in found:
            existing.setdefault(_name(name), set()).add(_address(street, house, postal))
    earlier: dict[str, set[str]] = {}
    for plan in partners.values():
        if plan.organisation is None:
            continue
        name = _name(plan.organisation.name)
        addresses = {
            _address(loc.checked.street, loc.checked.house_number, loc.checked.postal_code)
            for loc in plan.locations
            if loc.checked is not None
        }
        if addresses & existing.get(name, set()):
            errors.append(
                RowError(
                    PARTNERS,
                    plan.row.line,
                    "name",
                    N_(
                        "A partner named %(name)s with a location at the same address exists already. "
                        "Was the file imported before?"
                    ),
                    {"name": plan.organisation.name},
                )
            )
        elif addresses & earlier.get(name, set()):
            errors.append(
                RowError(
                    PARTNERS,
                    plan.row.line,
                    "name",
                    N_("An earlier line names a partner %(name)s with a location at the same address."),
                    {"name": plan.organisation.name},
                )
            )
        earlier.setdefault(name, set()).update(addresses)


def _plan(session: Session, city: City, files: Mapping[str, bytes | None], today: dt.date) -> _Plan:
    errors: list[RowError] = []
    rows = {kind: read_rows(kind, files.get(kind), errors) for kind in KINDS}
    partners = _check_partners(rows[PARTNERS], errors)
    locations = _check_locations(rows[LOCATIONS], city, partners, errors)
    _check_benefits(rows[BENEFITS], partners, locations, today, errors)
    _check_duplicates(session, partners, errors)
    order = {kind: index for index, kind in enumerate(KINDS)}
    errors.sort(key=lambda e: (order[e.file], e.line or 0))
    return _Plan(list(partners.values()), {kind: len(found) for kind, found in rows.items()}, errors)


def _refuse_others(principal: Principal) -> None:
    if principal.role not in (Role.PARTNER_MANAGER, Role.ADMIN):
        raise PermissionDenied()


def check_import(
    session: Session,
    principal: Principal,
    city: City,
    files: Mapping[str, bytes | None],
    *,
    today: dt.date | None = None,
) -> ImportReport:
    """The dry run: every error of the files (``files`` maps a kind of :data:`KINDS` to its bytes); writes nothing."""
    _refuse_others(principal)
    plan = _plan(session, city, files, today or city.today())
    return ImportReport(plan.rows, plan.errors)


def run_import(
    session: Session,
    principal: Principal,
    city: City,
    files: Mapping[str, bytes | None],
    *,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
) -> ImportReport:
    """Check the files and, only if there is no error at all, import every partner, location and benefit.

    With an error, the report lists them and nothing is written. Everything is added in the caller's transaction,
    so a failure half-way leaves nothing behind either.
    """
    _refuse_others(principal)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})
    plan = _plan(session, city, files, today or city.today())
    if plan.errors:
        return ImportReport(plan.rows, plan.errors)
    import_id = uuid.uuid4().hex
    now = utcnow()
    status = BenefitStatus.PUBLISHED if city.auto_publish_benefits else BenefitStatus.SUBMITTED
    imported: list[ImportedPartner] = []
    for partner_plan in plan.partners:
        imported.append(_write_partner(session, principal, partner_plan, import_id, status, now, meta))
    audit.record(
        session,
        principal,
        "import.completed",
        "import",
        import_id,
        details={
            "partners": len(imported),
            "locations": plan.rows[LOCATIONS],
            "benefits": plan.rows[BENEFITS],
            "benefit_status": status.value,
            "by": principal.email,
        },
        meta=meta,
    )
    return ImportReport(plan.rows, [], imported, status.value, import_id)


def _write_partner(
    session: Session,
    principal: Principal,
    plan: _PartnerPlan,
    import_id: str,
    status: BenefitStatus,
    now: dt.datetime,
    meta: RequestMeta | None,
) -> ImportedPartner:
    assert plan.organisation is not None  # checked: no errors
    partner = Partner(
        status=PartnerStatus.APPROVED.value,
        contact_email=plan.email,
        status_changed_at=now,
        status_changed_by_id=principal.user_id,
    )
    plan.organisation.apply_to(partner)
    session.add(partner)
    session.flush()
    for location_plan in plan.locations:
        assert location_plan.checked is not None
        location = Location(id=location_plan.id, partner_id=partner.id)
        location_plan.checked.apply_to(location)
        session.add(location)
    session.flush()
    for benefit_plan in plan.benefits:
        assert benefit_plan.content is not None
        content = benefit_plan.content
        benefit = Benefit(
            partner_id=partner.id,
            status=status.value,
            submitted_at=now,
            published_at=now if status == BenefitStatus.PUBLISHED else None,
            **benefit_fields.column_values(content),
        )
        session.add(benefit)
        session.flush()
        benefit_fields.apply_content(session, benefit, content)
        audit.record(
            session,
            principal,
            "benefit.imported",
            "benefit",
            benefit.id,
            partner_id=partner.id,
            details={"import": import_id, "line": benefit_plan.row.line, "status": status.value},
            meta=meta,
        )
    audit.record(
        session,
        principal,
        "partner.imported",
        "partner",
        partner.id,
        partner_id=partner.id,
        details={
            "import": import_id,
            "line": plan.row.line,
            "key": plan.key,
            "by": principal.email,
            "locations": len(plan.locations),
            "benefits": len(plan.benefits),
        },
        meta=meta,
    )
    return ImportedPartner(partner.id, partner.name, len(plan.locations), len(plan.benefits))


# Writing CSV back -------------------------------------------------------------------------------------------------


def write_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """A CSV file as German Excel opens it: UTF-8 with a byte order mark, ``;`` separated, every cell safe."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in header])
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _example_postal_code(city: City) -> tuple[str, str]:
    for postal_code, districts in sorted(city.postal_codes.items()):
        if len(districts) == 1:
            return postal_code, districts[0]
    postal_code, districts = sorted(city.postal_codes.items())[0]
    return postal_code, districts[0]


def example_rows(kind: str, city: City) -> list[dict[str, str]]:
    """Example lines of one file that the import accepts as they are (tested)."""
    postal_code, district = _example_postal_code(city)
    if kind == PARTNERS:
        return [
            {
                "partner_key": "P1",
                "name": "Stadtbad Beispiel",
                "legal_form": "public",
                "category": "sport",
                "description_de": "Hallenbad mit Lehrschwimmbecken.",
                "description_en": "Indoor pool with a learners' pool.",
                "website": "https://www.example.org",
                "phone": "0221 123456",
                "email": "info@example.org",
            },
            {
                "partner_key": "P2",
                "name": "Buchhandlung Beispiel",
                "legal_form": "sole_trader",
                "category": "shopping",
                "description_de": "Kinderbücher und Spiele.",
            },
        ]
    if kind == LOCATIONS:
        return [
            {
                "partner_key": "P1",
                "location_key": "L1",
                "name": "Stadtbad Beispiel",
                "street": "Beispielstraße",
                "house_number": "1",
                "postal_code": postal_code,
                "district": district,
                "hours_mon": "",
                "hours_tue": "09:00-21:00",
                "hours_sat": "08:00-12:00, 14:00-18:00",
                "accessibility": "step_free|baby_changing",
            },
            {
                "partner_key": "P2",
                "location_key": "L2",
                "name": "Buchhandlung Beispiel",
                "street": "Beispielweg",
                "house_number": "12a",
                "postal_code": postal_code,
                "district": district,
                "hours_mon": "10:00-18:00",
            },
        ]
    if kind == BENEFITS:
        return [
            {
                "partner_key": "P1",
                "location_keys": "L1",
                "title_de": "Freier Eintritt für Kinder",
                "title_en": "Free entry for children",
                "kind": "free_entry",
                "child_age_max": "14",
                "weekdays": "sat|sun",
                "limit_count": "1",
                "limit_period": "day",
            },
            {
                "partner_key": "P2",
                "location_keys": "L2",
                "title_de": "10 % auf Kinderbücher",
                "kind": "percent_off",
                "value": "10",
            },
        ]
    raise ValueError(kind)


def example_csv(kind: str, city: City) -> bytes:
    columns = [column.name for column in COLUMNS[kind]]
    return write_csv(columns, [[row.get(name, "") for name in columns] for row in example_rows(kind, city)])


def report_csv(report: ImportReport) -> bytes:
    """The errors as a CSV file (file, line, column, problem) in the reader's language."""
    return write_csv(
        [i18n.gettext(N_("File")), i18n.gettext(N_("Line")), i18n.gettext(N_("Column")), i18n.gettext(N_("Problem"))],
        [
            [e.file_name, "" if e.line is None else e.line, e.column or "", i18n.gettext(e.message, **e.params)]
            for e in report.errors
        ],
    )


def example_file(filename: str, city: City) -> bytes:
    """The example file ``partners.csv``, ``locations.csv`` or ``benefits.csv``."""
    for kind, name in FILE_NAMES.items():
        if name == filename:
            return example_csv(kind, city)
    raise NotFound()
