"""`factsheet schema`: a JSON Schema per kind that accepts every real file and what the
generator accepts, and rejects what it rejects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema as validation
import pytest
import yaml12

from generator import cli
from generator.jsonschema import NAMES, SITE, documents, dumps, file_name
from generator.parse import parse_documents
from generator.reading import Document
from generator.schema import RECORD_KINDS

ROOT = Path(__file__).resolve().parent.parent
CONTENT_FOLDERS = [ROOT / "content", ROOT / "tests" / "fixtures" / "full" / "content"]
DOCUMENTS = documents()


def _validator(name: str) -> validation.Draft202012Validator:
    return validation.Draft202012Validator(DOCUMENTS[file_name(name)])


def _problems(name: str, record: Any) -> list[str]:
    return [error.message for error in _validator(name).iter_errors(record)]


def _content_files() -> list[tuple[Path, str]]:
    found = []
    for folder in CONTENT_FOLDERS:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.suffix not in (".yaml", ".yml", ".md"):
                continue
            kind = SITE if len(relative.parts) == 1 else relative.parts[0]
            found.append((path, kind))
    return found


def test_every_document_is_a_valid_draft_2020_12_schema() -> None:
    assert list(DOCUMENTS) == [f"{name}.schema.json" for name in NAMES]
    assert {"actors.schema.json", "stories.schema.json", "site.schema.json"} <= set(DOCUMENTS)
    for document in DOCUMENTS.values():
        validation.Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["additionalProperties"] is False


@pytest.mark.parametrize(
    ("path", "kind"),
    _content_files(),
    ids=lambda value: value.relative_to(ROOT).as_posix() if isinstance(value, Path) else value,
)
def test_every_content_file_matches_its_schema(path: Path, kind: str) -> None:
    text = path.read_text(encoding="utf-8-sig")
    data = yaml12.load(yaml12.front_matter(text) if path.suffix == ".md" else text)
    # A file of a list of records is not the schema's form: each record in it is.
    records = data if isinstance(data, list) else [data]
    for record in records:
        assert _problems(kind, record) == []


def test_the_fixtures_use_every_kind() -> None:
    kinds = {kind for _, kind in _content_files()}
    assert kinds == set(NAMES)


@pytest.mark.parametrize(
    ("kind", "text", "keyword"),
    [
        ("actors", "name: Ada\ntype: person\nnmae: Ada\n", "additionalProperties"),
        ("actors", "name: Ada\n", "required"),
        ("actors", "name: Ada\ntype: persn\n", "enum"),
        ("events", "name: E\ndate: 2022-13-01\n", "pattern"),
        ("events", "name: E\ndate: 10.12.2022\n", "pattern"),
        ("events", "name: E\ndate: 22\n", "minimum"),
        ("notes", "name: N\ndate: 2022\nfrom: a\nto: Not An Id\n", "pattern"),
        ("deposits", "name: D\nminerals: [gold]\ncoordinates: [91, 46]\n", "maximum"),
        ("sources", "name: S\nurl: ftp://example.org\n", "pattern"),
        ("stories", "title: T\ndate: 2022\ndraft: yes\n", "type"),
        ("stories", "title: T\ndate: 2022\nid: t\n", "additionalProperties"),
        (SITE, "title: T\nbase_url: example.org\n", "pattern"),
    ],
)
def test_broken_records_are_rejected(kind: str, text: str, keyword: str) -> None:
    errors = list(_validator(kind).iter_errors(yaml12.load(text)))
    assert errors, text
    assert keyword in {e.validator for e in errors} | {
        c.validator for e in errors for c in e.context or ()
    }


# Each record is checked by the generator's own parser and by the JSON Schema: they must agree.
AGREEMENT = [
    ("actors", "name: Ada\ntype: person\n"),
    ("actors", "name: 1984\ntype: group\n"),
    ("actors", "name: Ada\ntype: person\nsummary:\n"),
    ("actors", "name:\ntype: person\n"),
    ("actors", "name: Ada\ntype: person\nid: x\n"),
    ("actors", "name: Ada\ntype: person\ntags: free\n"),
    ("actors", "name: Ada\ntype: person\naliases: {az: Ada, ru: [Ада, Адa]}\n"),
    ("actors", "name: Ada\ntype: person\naliases: Ada\n"),
    ("actors", "name: Ada\ntype: person\nroles: [{title: Aide, of: x, from: 2020}]\n"),
    ("actors", "name: Ada\ntype: person\nroles: [Aide]\n"),
    ("actors", "name: Ada\ntype: person\nroles: [{of: x}]\n"),
    ("actors", "name: Ada\ntype: person\nsources: [s, {source: s, page: 2}]\n"),
    ("actors", "name: Ada\ntype: person\nsources: [{page: 2}]\n"),
    ("actors", "name: Ada\ntype: person\nextra: {anything: [1, {a: b}]}\n"),
    ("actors", "name: Ada\ntype: person\nextra: text\n"),
    ("actors", "name: Ada\ntype: person\nidentifiers: {wikidata: Q42}\n"),
    ("actors", "name: Ada\ntype: person\nidentifiers: {wikidata: 42}\n"),
    ("actors", "name: Ada\ntype: person\nidentifiers: {geonames: 587116}\n"),
    ("actors", "name: Ada\ntype: person\nidentifiers: [https://example.org/ada]\n"),
    ("events", "name: E\ndate: 2022\n"),
    ("events", "name: E\ndate: '2022'\n"),
    ("events", "name: E\ndate: ~2022-12\n"),
    ("events", "name: E\ndate: 2022-12-10T14:30\n"),
    ("events", "name: E\ndate: 2022-12-10T14:30:05+04:00\n"),
    ("events", "name: E\ndate: 2022-12-10T14:30Z\n"),
    ("events", "name: E\ndate: 2022-12-10T14:30+15:00\n"),
    ("events", "name: E\ndate: 2022-12-10t14:30\n"),
    ("events", "name: E\ndate: 2022-12T14:30\n"),
    ("events", "name: E\ndate: 0000\n"),
    ("events", "name: E\ndate: 2022-1-5\n"),
    ("events", "name: E\ndate: 2022\norder: 2\n"),
    ("events", "name: E\ndate: 2022\norder: '-2'\n"),
    ("events", "name: E\ndate: 2022\norder: 1.5\n"),
    ("events", "name: E\ndate: 2022\nactors: [a, {actor: b, role: host}]\n"),
    ("deposits", "name: D\nminerals: [gold, 1]\ncoordinates: [40.1, 46.6]\n"),
    ("deposits", "name: D\nminerals: [gold]\ncoordinates: ['40.1', '-46']\n"),
    ("deposits", "name: D\nminerals: [gold]\ncoordinates: [40.1]\n"),
    ("deposits", "name: D\nminerals: [gold]\ncoordinates: [40.1, 181]\n"),
    ("deposits", "name: D\nminerals: [gold]\ncontrolled_by: [a, {actor: b, to: 2023}]\n"),
    ("places", "name: P\ntype: road\npath: [[1, 2], [3, 4]]\n"),
    ("places", "name: P\npath: [[1, 2]]\n"),
    ("places", "name: P\ntype: river\n"),
    ("quotes", "by: a\ntext: Words.\nabout: [b, c]\n"),
    ("quotes", "by: a\n"),
    ("sources", "name: S\nurl: https://example.org/a?b=c\npublisher: TASS\n"),
    ("sources", "name: S\nurl: HTTPS://EXAMPLE.ORG\n"),
    ("sources", "name: S\nurl: https://\n"),
    ("stories", "title: T\ndate: 2022-12-13\ndraft: true\nactors: [a]\n"),
    ("stories", "title: T\ndate: 2022-12-13\ndraft: no\n"),
    ("stories", "title: T\ndate: 2022-12-13\nauthors: A\n"),
    (SITE, "title: T\nallow_html: false\nbase_url: https://example.org/x/\n"),
    (SITE, "title: T\nlanguage: [en]\n"),
]


def _generator_accepts(kind: str, text: str) -> bool:
    site = Document("content/site.yaml", "site", "site", "title: Test\n")
    if kind == SITE:
        document = Document("content/site.yaml", "site", "site", text)
        documents = [document]
    elif kind == "stories":
        documents = [site, Document("content/stories/t.md", kind, "t", f"---\n{text}---\n")]
    else:
        documents = [site, Document(f"content/{kind}/x.yaml", kind, "x", text)]
    _, diagnostics = parse_documents(documents)
    return not [d for d in diagnostics if d.severity.value == "error"]


@pytest.mark.parametrize(("kind", "text"), AGREEMENT)
def test_the_schema_agrees_with_the_generator(kind: str, text: str) -> None:
    by_schema = not _problems(kind, yaml12.load(text))
    assert by_schema == _generator_accepts(kind, text)


def test_what_only_the_generator_can_tell() -> None:
    """Real calendar days and resolved ids are left to `factsheet check`."""
    text = "name: E\ndate: 2022-02-30\n"
    assert not _problems("events", yaml12.load(text))
    assert not _generator_accepts("events", text)


def test_schema_command_writes_one_file_per_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schemas"
    assert cli.main(["schema", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(DOCUMENTS)
    for name, document in DOCUMENTS.items():
        assert json.loads((out / name).read_text(encoding="utf-8")) == document
    assert "wrote 9 JSON Schemas" in capsys.readouterr().err
    assert cli.main(["schema", "--out", str(out)]) == 0
    assert "wrote 0 JSON Schemas" in capsys.readouterr().err


def test_schema_command_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["schema"]) == 0
    assert (tmp_path / "schemas" / "actors.schema.json").is_file()


def test_an_unwritable_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert cli.main(["schema", "--out", str(tmp_path / "file")]) == 2


def test_committed_schemas_are_current() -> None:
    """schemas/ is what `make docs` writes; a change to the schema needs `make docs`."""
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "schemas").iterdir()}
    assert committed == {name: dumps(d) for name, d in DOCUMENTS.items()}, "run `make docs`"


def test_fact_kinds_allow_an_id_and_stories_do_not() -> None:
    for kind in RECORD_KINDS:
        assert "id" in DOCUMENTS[file_name(kind)]["properties"]
    assert "id" not in DOCUMENTS["stories.schema.json"]["properties"]
