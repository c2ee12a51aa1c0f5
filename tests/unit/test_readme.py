"""The README tells the truth: its settings table, commands, paths and settings are those of the code.

``make readme-settings`` (``python -m tests.unit.test_readme``) prints the settings table to paste into the
README between the ``settings-table`` markers.
"""

from __future__ import annotations

import re
from pathlib import Path

from familienkarte.settings import SETTING_NAMES, TEST_ONLY, settings_table

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TABLE_START = "<!-- settings-table:start (generated: make readme-settings) -->"
TABLE_END = "<!-- settings-table:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_settings_table() -> str:
    """The README's table of settings, generated from familienkarte.settings."""
    lines = ["| setting | default | what it does |", "| --- | --- | --- |"]
    for name, default, doc in settings_table():
        shown = {"True": "true", "False": "false"}.get(default, default)
        lines.append(f"| `{name}` | {f'`{_cell(shown)}`' if shown else ''} | {_cell(doc)} |")
    return "\n".join(lines)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the README section with this heading (up to the next heading of the same level)."""
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^\1 |\Z)", readme(), re.MULTILINE | re.DOTALL)
    assert match, f"README has no section {title!r}"
    return match.group(2)


def test_the_settings_table_is_the_one_of_the_code() -> None:
    text = readme()
    assert TABLE_START in text
    assert TABLE_END in text
    documented = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert documented == render_settings_table(), (
        "the README's settings table is out of date: run `make readme-settings` and paste its output"
    )


def test_the_settings_table_has_a_row_for_every_setting() -> None:
    rows = re.findall(r"^\| `(FK_[A-Z0-9_]+)` \|", render_settings_table(), re.MULTILINE)
    assert rows == list(SETTING_NAMES)


def test_a_newcomer_needs_two_commands() -> None:
    # The section's own text, before its subsections that explain the two commands.
    commands = re.findall(r"`([^`]+)`", section("Two commands").split("\n### ", 1)[0])
    runnable = [command for command in commands if command.startswith("make ")]
    assert runnable == ["make demo", "make test"]


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.MULTILINE))


def test_every_make_command_in_the_readme_exists() -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", readme()))
    assert {"demo", "test"} <= named
    assert sorted(named - _makefile_targets()) == []


def test_every_setting_the_readme_mentions_exists() -> None:
    named = set(re.findall(r"\bFK_[A-Z0-9_]*[A-Z0-9]", readme()))
    assert sorted(named - set(SETTING_NAMES) - TEST_ONLY) == []


def test_every_cli_command_in_the_readme_exists() -> None:
    import click

    from familienkarte.cli import main

    # In inline code, and at the start of a line in a shell example.
    pattern = r"(?:`|^)familienkarte ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)"
    named = set(re.findall(pattern, readme(), re.MULTILINE))
    assert named, "the README shows no command"
    missing = []
    for words in sorted(named):
        command: click.Command | None = main
        for word in words.split():
            if not isinstance(command, click.Group):
                break
            command = command.get_command(click.Context(command), word)
            if command is None:
                missing.append(words)
                break
    assert missing == []


def test_every_path_in_the_layout_exists() -> None:
    paths = re.findall(r"^(\S+?)/?\s{2,}", section("Repository layout").split("```")[1], re.MULTILINE)
    assert len(paths) > 10
    assert sorted(path for path in paths if not (ROOT / path).exists()) == []


if __name__ == "__main__":
    print(render_settings_table())
