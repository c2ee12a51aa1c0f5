"""The translators' tool (scripts/translations.py) on small catalogues of its own: export, import, update."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from scripts import translations as tool

FAMILY = ("familienkarte/templates/cards/apply.html", 3)
STAFF = ("familienkarte/templates/staff/home.html", 7)


def template() -> Catalog:
    pot = Catalog(project="Familienkarte")
    pot.add("Apply for the card", locations=[FAMILY])
    pot.add("Hello %(name)s", locations=[FAMILY])
    pot.add(("%(num)s child", "%(num)s children"), locations=[FAMILY])
    pot.add("Done: %(progress)s %% of %(total)s", locations=[FAMILY])
    pot.add("Approve the application", locations=[STAFF])
    return pot


@pytest.fixture
def locale_dir(tmp_path: Path) -> Path:
    with (tmp_path / "messages.pot").open("wb") as fh:
        write_po(fh, template())
    for locale in ("de", "ar", "tr"):
        tool.update(locale, tmp_path / "messages.pot", tool.catalogue_path(locale, tmp_path))
    german = tool.load(tool.catalogue_path("de", tmp_path), "de")
    german["Apply for the card"].string = "Karte beantragen"
    german["Hello %(name)s"].string = "Hallo %(name)s"
    tool.save(german, tool.catalogue_path("de", tmp_path))
    return tmp_path


def run(locale_dir: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = tool.main(["--locale-dir", str(locale_dir), *args], out=out)
    return code, out.getvalue()


def catalogue(locale_dir: Path, locale: str) -> Catalog:
    with tool.catalogue_path(locale, locale_dir).open("rb") as fh:
        found: Catalog = read_po(fh, locale=locale)
    return found


def test_export_lists_what_is_left_with_the_languages_plural_forms(locale_dir: Path) -> None:
    code, out = run(locale_dir, "export", "ar")
    assert code == 0
    exported = json.loads(out)
    assert exported["Apply for the card"] == ""
    # Arabic has six plural forms.
    assert exported["%(num)s child"] == [""] * 6
    assert "Approve the application" in exported
    _code, family = run(locale_dir, "export", "ar", "--family")
    assert "Approve the application" not in json.loads(family)
    assert "Apply for the card" in json.loads(family)
    _code, hinted = run(locale_dir, "export", "tr", "--family", "--with-german")
    entry = json.loads(hinted)["Hello %(name)s"]
    assert entry == {"de": "Hallo %(name)s", "plural": None, "translation": ""}
    assert json.loads(hinted)["%(num)s child"]["translation"] == [""]


def test_import_fills_empty_entries_and_checks_placeholders(locale_dir: Path, tmp_path: Path) -> None:
    answers = tmp_path / "ar.json"
    answers.write_text(
        json.dumps(
            {
                "Apply for the card": "قدّم طلب البطاقة",
                "Hello %(name)s": "مرحبًا %(nam)s",
                "%(num)s child": ["لا أطفال", "طفل واحد", "طفلان", "%(num)s أطفال", "%(num)s طفلًا", "%(num)s طفل"],
                "Done: %(progress)s %% of %(total)s": {"translation": "تمّ: %(progress)s %% من %(total)s"},
                "Approve the application": "",
                "Not in the catalogue": "x",
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    code, _out = run(locale_dir, "import", "ar", str(answers))
    # A refused entry makes the run fail, so that a script notices.
    assert code == 1
    arabic = catalogue(locale_dir, "ar")
    assert arabic["Apply for the card"].string == "قدّم طلب البطاقة"
    assert arabic["%(num)s child"].string == (
        "لا أطفال",
        "طفل واحد",
        "طفلان",
        "%(num)s أطفال",
        "%(num)s طفلًا",
        "%(num)s طفل",
    )
    assert arabic["Done: %(progress)s %% of %(total)s"].string == "تمّ: %(progress)s %% من %(total)s"
    # The wrong placeholder is refused and the entry stays empty; an empty answer changes nothing.
    assert arabic["Hello %(name)s"].string == ""
    assert arabic["Approve the application"].string == ""
    assert list(arabic.check()) == []


def test_import_reports_refusals_by_name(locale_dir: Path) -> None:
    arabic = catalogue(locale_dir, "ar")
    report = tool.fill(
        arabic,
        {
            "Hello %(name)s": "مرحبًا",
            "%(num)s child": ["طفل", "أطفال"],
            "Done: %(progress)s %% of %(total)s": "تمّ %(progress)s من %(total)s",
        },
    )
    refused = dict(report.refused)
    assert refused["Hello %(name)s"] == "placeholders differ: missing %(name)"
    assert refused["%(num)s child"] == "2 forms given, the language has 6"
    assert "missing %%" in refused["Done: %(progress)s %% of %(total)s"]
    assert report.filled == []


def test_import_keeps_finished_translations_unless_told_and_clears_fuzzy(locale_dir: Path) -> None:
    german = catalogue(locale_dir, "de")
    german["Approve the application"].string = "Antrag genehmigen (alt)"
    german["Approve the application"].flags.add("fuzzy")
    report = tool.fill(german, {"Apply for the card": "Beantragen", "Approve the application": "Antrag genehmigen"})
    assert report.kept == ["Apply for the card"]
    assert german["Apply for the card"].string == "Karte beantragen"
    assert german["Approve the application"].string == "Antrag genehmigen"
    assert not german["Approve the application"].fuzzy
    tool.fill(german, {"Apply for the card": "Beantragen"}, overwrite=True)
    assert german["Apply for the card"].string == "Beantragen"


def test_import_writes_the_catalogue_as_make_messages_does(locale_dir: Path, tmp_path: Path) -> None:
    path = tool.catalogue_path("tr", locale_dir)
    before = path.read_text(encoding="utf-8")
    answers = tmp_path / "tr.json"
    answers.write_text(json.dumps({"Apply for the card": "Kart için başvurun"}), encoding="utf-8")
    assert run(locale_dir, "import", "tr", str(answers))[0] == 0
    after = path.read_text(encoding="utf-8")
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == ['msgstr "Kart için başvurun"']


def test_update_keeps_leichte_sprache_as_german_with_its_own_entries(locale_dir: Path) -> None:
    pot = locale_dir / "messages.pot"
    path = tool.catalogue_path("ls", locale_dir)
    easy = tool.update("ls", pot, path)
    assert easy.num_plurals == 2
    easy["Apply for the card"].string = "Die Karte beantragen. So geht es."
    tool.save(easy, path)
    bigger = template()
    bigger.add("A new text", locations=[FAMILY])
    with pot.open("wb") as fh:
        write_po(fh, bigger)
    again = tool.update("ls", pot, path)
    assert again["Apply for the card"].string == "Die Karte beantragen. So geht es."
    assert again["A new text"] is not None
    assert not again["A new text"].fuzzy
    assert "Language: ls" in path.read_text(encoding="utf-8")


def test_status_counts_what_is_left(locale_dir: Path) -> None:
    lines = tool.status(locale_dir)
    assert "de: 5 messages, 3 to translate, 2 of them family-facing" in lines
    assert any(line.startswith("ls: no catalogue") for line in lines)
