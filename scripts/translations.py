"""The translators' tool for the catalogues under familienkarte/locale (see the README's section on languages).

    python -m scripts.translations status
    python -m scripts.translations export LOCALE [--family] [--with-german] > todo.json
    python -m scripts.translations import LOCALE FILE.json [FILE.json ...] [--overwrite]
    python -m scripts.translations update LOCALE

``export`` writes the messages still to translate (empty or fuzzy) as JSON: ``{"msgid": ""}``, or a list of empty
forms for a message with a plural (as many as the language has). ``--family`` keeps the family-facing ones only
(familienkarte.i18n.FAMILY_SOURCES); ``--with-german`` writes ``{"msgid": {"de": "...", "translation": ""}}``.

``import`` fills the catalogue's empty and fuzzy entries from such files (either shape), clears the fuzzy flag of
what it filled, and refuses a translation whose placeholders (``%(name)s``, ``%%``) differ from the message's;
it never replaces a finished translation unless ``--overwrite`` is given. It reports what it filled, kept and
refused, and exits with 1 when it refused something.

``update`` merges messages.pot into one catalogue with Babel's API, creating it when missing; ``make messages``
runs it for Leichte Sprache (``ls``), a locale Babel does not know.

Catalogues are written as ``make messages`` writes them (line width 76, the order of messages.pot), so that a
diff shows the translations only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from familienkarte import i18n

WIDTH = 76
# A message with a context is written "context\x04msgid", as gettext keys it.
CONTEXT_SEPARATOR = "\x04"
_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa%])")
# The number of a plural message: a language may spell it out in some forms ("one child", "two children").
PLURAL_NUMBER = "num"

Translation = str | list[str]


def catalogue_path(locale: str, locale_dir: Path = i18n.LOCALE_DIR) -> Path:
    return locale_dir / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def load(path: Path, locale: str) -> Catalog:
    with path.open("rb") as fh:
        catalog: Catalog = read_po(fh, locale=locale)
    return catalog


def save(catalog: Catalog, path: Path) -> None:
    """Write a catalogue as ``pybabel update`` does, through a temporary file so a failure leaves the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as fh:
        write_po(fh, catalog, width=WIDTH, ignore_obsolete=True, include_previous=False)
    temporary.replace(path)


def key_of(message: Message) -> str:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return f"{message.context}{CONTEXT_SEPARATOR}{msgid}" if message.context else msgid


def is_family_facing(message: Message) -> bool:
    return i18n.is_family_facing(message.locations)


def to_translate(catalog: Catalog, family_only: bool = False) -> list[Message]:
    """The messages without a finished translation: empty (a plural form included) or fuzzy."""
    return [
        message
        for message in catalog
        if message.id
        and (message.fuzzy or not i18n.is_translated(message.string))
        and (not family_only or is_family_facing(message))
    ]


def export(
    catalog: Catalog, family_only: bool = False, german: Catalog | None = None
) -> dict[str, Translation | dict[str, Any]]:
    """The messages to translate as JSON, each with empty forms (and with the German text if given)."""
    forms = catalog.num_plurals
    out: dict[str, Translation | dict[str, Any]] = {}
    for message in to_translate(catalog, family_only):
        empty: Translation = [""] * forms if message.pluralizable else ""
        if german is None:
            out[key_of(message)] = empty
            continue
        original = german.get(message.id, context=message.context)
        hint = original.string if original is not None and i18n.is_translated(original.string) else None
        out[key_of(message)] = {
            "de": list(hint) if isinstance(hint, tuple | list) else hint,
            "plural": message.id[1] if message.pluralizable else None,
            "translation": empty,
        }
    return out


def placeholders(text: str) -> Counter[str]:
    """The format placeholders of a text, each counted: named ones by name, %% as "%%", others by conversion."""
    found: Counter[str] = Counter()
    for match in _PLACEHOLDER.finditer(text):
        name, conversion = match.groups()
        found["%%" if conversion == "%" else f"%({name})" if name else f"%{conversion}"] += 1
    return found


def placeholder_problem(message: Message, translation: Translation) -> str | None:
    """Why the translation does not fit the message's placeholders, or None when it does."""
    if not isinstance(message.id, str):
        singular, plural = message.id[0], message.id[1]
        allowed = set(placeholders(singular)) | set(placeholders(plural))
        needed = (set(placeholders(singular)) & set(placeholders(plural))) - {f"%({PLURAL_NUMBER})"}
        for index, form in enumerate(translation):
            have = set(placeholders(form))
            if have - allowed:
                return f"form {index}: unknown placeholder {', '.join(sorted(have - allowed))}"
            if needed - have:
                return f"form {index}: missing placeholder {', '.join(sorted(needed - have))}"
        return None
    assert isinstance(translation, str)
    wanted, written = placeholders(message.id), placeholders(translation)
    if wanted != written:
        missing = sorted((wanted - written).elements())
        unknown = sorted((written - wanted).elements())
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        return "placeholders differ: " + "; ".join(parts)
    return None


def _translation_of(value: Any) -> Translation | None:
    """The translation in an imported value: a text, a list of forms, or {"translation": ...}; None if empty."""
    if isinstance(value, Mapping):
        value = value.get("translation")
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list) and all(isinstance(form, str) for form in value):
        return value if any(form.strip() for form in value) else None
    return None


@dataclass
class ImportReport:
    filled: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def lines(self, locale: str) -> list[str]:
        out = [f"{locale}: filled {len(self.filled)}, kept {len(self.kept)} finished translations"]
        out += [f"refused {key!r}: {why}" for key, why in self.refused]
        out += [f"not in the catalogue (run `make messages`?): {key!r}" for key in self.unknown]
        return out


def fill(catalog: Catalog, translations: Mapping[str, Any], overwrite: bool = False) -> ImportReport:
    """Put the translations into the catalogue's empty and fuzzy entries (all entries with ``overwrite``)."""
    report = ImportReport()
    by_key = {key_of(message): message for message in catalog if message.id}
    for key, value in translations.items():
        message = by_key.get(key)
        if message is None:
            report.unknown.append(key)
            continue
        translation = _translation_of(value)
        if translation is None:
            continue
        finished = not message.fuzzy and i18n.is_translated(message.string)
        if finished and not overwrite:
            report.kept.append(key)
            continue
        problem = _shape_problem(catalog, message, translation) or placeholder_problem(message, translation)
        if problem is None:
            problem = _babel_problem(catalog, message, translation)
        if problem:
            report.refused.append((key, problem))
            continue
        message.string = tuple(translation) if message.pluralizable else translation
        message.flags.discard("fuzzy")
        report.filled.append(key)
    return report


def _shape_problem(catalog: Catalog, message: Message, translation: Translation) -> str | None:
    if message.pluralizable:
        if not isinstance(translation, list):
            return f"a plural message needs a list of {catalog.num_plurals} forms"
        if len(translation) != catalog.num_plurals:
            return f"{len(translation)} forms given, the language has {catalog.num_plurals}"
        if not all(form.strip() for form in translation):
            return "a plural form is empty"
        return None
    if not isinstance(translation, str):
        return "one text expected, not a list"
    return None


def _babel_problem(catalog: Catalog, message: Message, translation: Translation) -> str | None:
    """Babel's own checks (those the tests run on every catalogue)."""
    trial = Message(
        message.id,
        tuple(translation) if message.pluralizable else translation,
        flags=message.flags,
        context=message.context,
    )
    errors = trial.check(catalog)
    return "; ".join(str(error) for error in errors) or None


def update(locale: str, template_path: Path, path: Path) -> Catalog:
    """Merge the template into the catalogue (created when missing) without fuzzy guesses, as ``pybabel update
    --no-fuzzy-matching --ignore-obsolete`` does; a locale Babel does not know takes German plural rules."""
    with template_path.open("rb") as fh:
        template: Catalog = read_po(fh)
    if path.exists():
        catalog = load(path, locale)
    else:
        catalog = Catalog(locale=locale, domain=i18n.DOMAIN)
        catalog.project, catalog.version = template.project, template.version
        catalog.copyright_holder = template.copyright_holder
        catalog.msgid_bugs_address = template.msgid_bugs_address
    catalog.update(template, no_fuzzy_matching=True)
    save(catalog, path)
    return catalog


def status(locale_dir: Path = i18n.LOCALE_DIR) -> list[str]:
    """Per catalogue: how many messages (and family-facing ones) are still to translate."""
    lines = []
    for locale in i18n.SUPPORTED_LOCALES:
        path = catalogue_path(locale, locale_dir)
        if not path.exists():
            lines.append(f"{locale}: no catalogue (run `make messages`)")
            continue
        catalog = load(path, locale)
        total = sum(1 for message in catalog if message.id)
        open_all = len(to_translate(catalog))
        open_family = len(to_translate(catalog, family_only=True))
        lines.append(f"{locale}: {total} messages, {open_all} to translate, {open_family} of them family-facing")
    return lines


def _read_json(name: str) -> dict[str, Any]:
    with Path(name).open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise SystemExit(f"{name}: expected a JSON object {{msgid: translation}}")
    return data


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.translations", description=__doc__.split("\n\n")[0])
    parser.add_argument("--locale-dir", type=Path, default=i18n.LOCALE_DIR, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="how much each catalogue still lacks")
    exporting = commands.add_parser("export", help="the messages to translate, as JSON on stdout")
    exporting.add_argument("locale", choices=i18n.SUPPORTED_LOCALES)
    exporting.add_argument("--family", action="store_true", help="family-facing messages only")
    exporting.add_argument("--with-german", action="store_true", help="add the German text of each message")
    importing = commands.add_parser("import", help="fill a catalogue from JSON files")
    importing.add_argument("locale", choices=i18n.SUPPORTED_LOCALES)
    importing.add_argument("files", nargs="+", metavar="FILE.json")
    importing.add_argument("--overwrite", action="store_true", help="replace finished translations too")
    updating = commands.add_parser("update", help="merge messages.pot into a catalogue (make messages)")
    updating.add_argument("locale", choices=i18n.SUPPORTED_LOCALES)
    args = parser.parse_args(argv)
    locale_dir: Path = args.locale_dir

    if args.command == "status":
        print("\n".join(status(locale_dir)), file=out)
        return 0
    path = catalogue_path(args.locale, locale_dir)
    if args.command == "update":
        update(args.locale, locale_dir / f"{i18n.DOMAIN}.pot", path)
        return 0
    if not path.exists():
        print(f"{path}: no catalogue; run `make messages` first", file=sys.stderr)
        return 1
    catalog = load(path, args.locale)
    if args.command == "export":
        german = load(catalogue_path(i18n.DEFAULT_LOCALE, locale_dir), i18n.DEFAULT_LOCALE)
        found = export(catalog, family_only=args.family, german=german if args.with_german else None)
        json.dump(found, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return 0
    merged: dict[str, Any] = {}
    for name in args.files:
        merged.update(_read_json(name))
    report = fill(catalog, merged, overwrite=args.overwrite)
    if report.filled:
        save(catalog, path)
    print("\n".join(report.lines(args.locale)), file=sys.stderr)
    return 1 if report.refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
