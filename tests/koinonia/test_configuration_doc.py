"""docs/configuration.md's settings table names every environment variable the settings read, and nothing else.

The variables are collected from the source (``ast``), not from a list kept by hand: every ``env("NAME")``
and ``env.<cast>("NAME", ...)`` call in ``koinonia/settings/*.py``. Adding a setting without its row, or
removing one and leaving its row, fails here with the names to add or remove."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = ROOT / "koinonia" / "settings"
DOC = ROOT / "docs" / "configuration.md"
TABLE_HEADING = "## Settings"
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|")


def variables_read_by_settings() -> dict[str, set[str]]:
    """Variable name → the settings files that read it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SETTINGS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            is_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
            )
            first = node.args[0]
            if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, set()).add(path.name)
    return found


def settings_rows() -> list[str]:
    """The rows of the table under '## Settings' (up to the next section)."""
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(TABLE_HEADING))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if ROW.match(line):
            rows.append(line)
    return rows


def variables_in_table() -> list[str]:
    return [ROW.match(row).group(1) for row in settings_rows()]


def test_the_collector_sees_reads_of_every_shape():
    read = variables_read_by_settings()
    assert {"DATABASE_URL", "DEBUG", "SEND_BATCH_SIZE", "FIELD_ENCRYPTION_KEYS"} <= set(read)  # db_url, bool, int, list
    assert read["SECRET_KEY"] == {"base.py", "production.py"}
    assert len(read) >= 40


def test_every_setting_is_documented_once_and_nothing_else():
    read = variables_read_by_settings()
    listed = variables_in_table()
    missing = sorted(set(read) - set(listed))
    stale = sorted(set(listed) - set(read))
    duplicated = sorted({name for name in listed if listed.count(name) > 1})
    problems = []
    if missing:
        problems.append(
            "read in koinonia/settings but missing from the table in docs/configuration.md "
            "(add a row: name, default, meaning, production requirement): "
            + ", ".join(f"{name} ({'/'.join(sorted(read[name]))})" for name in missing)
        )
    if stale:
        problems.append("listed in docs/configuration.md but no longer read by the settings: " + ", ".join(stale))
    if duplicated:
        problems.append("listed twice in docs/configuration.md: " + ", ".join(duplicated))
    assert not problems, "\n".join(problems)


def test_every_row_says_what_production_needs():
    """Four cells: name, default, meaning, production requirement (which may be blank)."""
    for row in settings_rows():
        cells = [cell.strip() for cell in row.strip().strip("|").split(" | ")]
        assert len(cells) == 4, row
        assert cells[1] and cells[2], row  # a default and a meaning


def test_readme_links_the_configuration_reference():
    assert "docs/configuration.md" in (ROOT / "README.md").read_text()
