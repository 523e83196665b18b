"""The editor's guide is generated from the declared schema, so it cannot drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from generator import guide
from generator.diagnostics import CATALOGUE
from generator.schema import KIND_HELP, KINDS, SCHEMAS, SITE_FIELDS, TITLES

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "editors-guide.md"


def test_the_committed_guide_is_the_generated_one() -> None:
    assert GUIDE.read_text(encoding="utf-8") == guide.render(), "run `make docs`"


def test_every_kind_and_field_is_in_the_guide() -> None:
    text = guide.render()
    for kind in KINDS:
        assert f"### {TITLES[kind]}\n\n{KIND_HELP[kind]}" in text
        for field in SCHEMAS[kind]:
            assert f"| `{field.name}` |" in text
            assert field.help.replace("|", "\\|") in text
            for part in field.fields:
                assert f"| `{part.name}` |" in text
    for field in SITE_FIELDS:
        assert field.help in text


def test_every_diagnostic_code_has_a_fix() -> None:
    assert set(guide.FIXES) == set(CATALOGUE)
    text = guide.render()
    for code, meaning in CATALOGUE.items():
        row = f"| {code} | {meaning} | {guide.FIXES[code]} |"
        assert row in text


def test_the_guide_has_the_rules_an_editor_needs() -> None:
    text = guide.render()
    for heading in ("## Dates", "## Cross-links", "## Common errors and their fixes"):
        assert heading in text
    assert '"yaml.schemas"' in text
    assert '"schemas/actors.schema.json": "content/actors/*.yaml"' in text
    assert ".git/hooks/pre-commit" in text
    assert "exec .venv/bin/factsheet check" in text


def test_make_docs_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "guide.md"
    subprocess.run([sys.executable, "-m", "generator.guide", str(out)], check=True, cwd=ROOT)
    assert out.read_text(encoding="utf-8") == guide.render()
