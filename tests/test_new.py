"""`factsheet new`: a skeleton that passes the check, points at its schema, refuses clashes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jsonschema as validation
import pytest
import yaml12

from generator import cli
from generator.jsonschema import document
from generator.schema import KINDS, SINGULAR, STORY
from generator.skeleton import skeleton

SITE = "title: Test site\n"
ACTOR = "name: Ada\ntype: person\n"
LIST = "- id: ministry\n  name: The Ministry\n  type: organization\n"


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "content"
    (folder / "actors").mkdir(parents=True)
    (folder / "site.yaml").write_text(SITE, encoding="utf-8")
    (folder / "actors" / "ada.yaml").write_text(ACTOR, encoding="utf-8")
    (folder / "actors" / "bodies.yaml").write_text(LIST, encoding="utf-8")
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gets_a_file_the_check_accepts(
    content: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    word = SINGULAR[kind]
    assert cli.main(["new", word, f"new-{word}"]) == 0
    path = content / kind / (f"new-{word}.md" if kind == STORY else f"new-{word}.yaml")
    assert f"wrote content/{kind}/{path.name}" in capsys.readouterr().err
    assert cli.main(["check"]) == 0
    assert "check passed: 0 errors" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_the_first_line_points_at_a_schema_the_file_matches(content: Path, kind: str) -> None:
    assert cli.main(["new", kind, "fresh", "--content", str(content)]) == 0
    path = next((content / kind).glob("fresh.*"))
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    modeline = lines[1] if kind == STORY else lines[0]
    prefix = "# yaml-language-server: $schema="
    assert modeline.startswith(prefix)
    schema = (path.parent / modeline.removeprefix(prefix)).resolve()
    assert schema == (content.parent / "schemas" / f"{kind}.schema.json").resolve()
    assert schema.is_file()
    front = yaml12.front_matter(text) if kind == STORY else text
    validation.validate(yaml12.load(front), document(kind))


def test_a_name_from_the_id_and_the_optional_fields_as_hints() -> None:
    text = skeleton("actors", "hikmet-hajiyev", "s.json", date(2022, 12, 13), {})
    assert "\nname: Hikmet Hajiyev " in text
    assert "\ntype: person " in text
    assert "\n# country: " in text
    assert "\n# roles: " in text
    story = skeleton(STORY, "2022-protest", "s.json", date(2022, 12, 13), {})
    assert story.startswith("---\n# yaml-language-server: $schema=s.json\n")
    assert '\ntitle: "2022 Protest" ' in story
    assert "\ndate: 2022-12-13 " in story


def test_required_refs_name_an_existing_record() -> None:
    text = skeleton("notes", "n", "s.json", date(2022, 12, 13), {"actors": ["ada", "bob"]})
    assert "\nfrom: ada " in text
    assert "\nto: ada " in text


@pytest.mark.parametrize(
    ("args", "message", "unwritten"),
    [
        (
            ["actor", "ada"],
            "content/actors/ada.yaml:1:1: error[E0306]: the id 'ada' is already used",
            "actors/ada.yaml",
        ),
        (["deposit", "ada"], "content/actors/ada.yaml:1:1: error[E0306]", "deposits"),
        (
            ["actor", "ministry"],
            "content/actors/bodies.yaml:1:7: error[E0306]: the id 'ministry' is already used",
            "actors/ministry.yaml",
        ),
        (
            ["actor", "Hikmet_Hajiyev"],
            "content/actors/Hikmet_Hajiyev.yaml:1:1: error[E0305]: 'Hikmet_Hajiyev' is not",
            "actors/Hikmet_Hajiyev.yaml",
        ),
    ],
    ids=["existing file", "other kind", "list file", "invalid id"],
)
def test_a_taken_or_invalid_id_is_refused(
    content: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
    unwritten: str,
) -> None:
    before = (content / "actors" / "ada.yaml").read_text(encoding="utf-8")
    assert cli.main(["new", *args]) == 1
    assert message in capsys.readouterr().err
    assert (content / "actors" / "ada.yaml").read_text(encoding="utf-8") == before
    assert not (content / unwritten).exists() or unwritten == "actors/ada.yaml"


def test_an_unknown_kind_is_a_usage_error(
    content: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["new", "person", "ada-2"]) == 2
    err = capsys.readouterr().err
    assert "unknown kind 'person'" in err
    assert "story, actor, deposit, place, event, note, quote, source" in err


def test_a_missing_content_folder_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["new", "actor", "ada", "--content", "nowhere"]) == 1
    assert "nowhere:1:1: error[E0101]: no content folder here" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
