"""The data export: each record as JSON (checked against docs/export.schema.json with a
JSON Schema validator), the fact graph, a CSV per kind read back with the csv module, and
each story's chronology in TimelineJS's format."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from opendata import (
    BASE_URL,
    BREAKOUT,
    FULL,
    TESTS,
    page_file,
)

from generator import data
from generator.pipeline import Options, load
from generator.schema import KINDS, SCHEMAS

SCHEMA = json.loads((TESTS.parent / "docs" / "export.schema.json").read_text("utf-8"))


def read_json(site: Path, path: str) -> Any:
    return json.loads((site / path).read_text("utf-8"))


def read_csv(site: Path, kind: str) -> list[dict[str, str]]:
    with (site / "data" / f"{kind}.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_the_schema_is_a_valid_json_schema_and_knows_every_field() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    declared = {f.name for fields in SCHEMAS.values() for f in fields}
    assert declared == set(SCHEMA["$defs"]["fields"]["properties"])


@pytest.mark.parametrize("variant", ["full_site", "shipped_site_based", "hostile_site"])
def test_every_record_is_exported_and_valid(variant: str, request: pytest.FixtureRequest) -> None:
    folder: Path = request.getfixturevalue(variant)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    pages = {p.parent.relative_to(folder).as_posix() for p in folder.glob("*/*/index.html")}
    exported = set()
    for file in sorted((folder / "data").glob("*/*.json")):
        if file.parent.name == "timeline":
            continue
        data = json.loads(file.read_text("utf-8"))
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], file
        assert (data["kind"], data["id"]) == (file.parent.name, file.stem)
        exported.add(f"{data['kind']}/{data['id']}")
    assert exported == pages - {"search/index.html"}


def test_refs_resolve_and_urls_lead_to_pages(shipped_site_based: Path) -> None:
    def refs(value: Any) -> list[dict[str, str]]:
        if isinstance(value, dict):
            if set(value) == {"id", "kind", "name", "url"}:
                return [value]
            return [r for item in value.values() for r in refs(item)]
        if isinstance(value, list):
            return [r for item in value for r in refs(item)]
        return []

    found = 0
    for file in (shipped_site_based / "data").glob("*/*.json"):
        for ref in refs(json.loads(file.read_text("utf-8"))):
            assert page_file(shipped_site_based, ref["url"], BASE_URL).is_file(), (file, ref)
            assert (shipped_site_based / "data" / ref["kind"] / f"{ref['id']}.json").is_file()
            found += 1
    assert found > 100


def test_a_record_has_its_fields_backlinks_and_edges(full_site: Path) -> None:
    note = read_json(full_site, "data/notes/kestria-note-to-norvalia.json")
    assert note["url"] == "notes/kestria-note-to-norvalia/"
    fields = note["fields"]
    assert fields["from"] == {
        "id": "kestria",
        "kind": "actors",
        "name": "Kestria",
        "url": "actors/kestria/",
    }
    assert fields["date"]["value"] == fields["date"]["iso"]
    assert fields["date"]["precision"] == "day"
    norvalia = read_json(full_site, "data/actors/norvalia.json")
    labels = {
        group["label"]: [r["id"] for r in group["records"]] for group in norvalia["backlinks"]
    }
    assert "kestria-note-to-norvalia" in labels["Notes received"]
    assert {
        "source": "kestria-note-to-norvalia",
        "target": "norvalia",
        "relation": "notes.to",
        "label": "Notes received",
    } in norvalia["edges"]
    story = read_json(full_site, "data/stories/concession-dispute.json")
    assert "[[norvalia]]" in story["body"]["markdown"]
    assert "Norvalia" in story["body"]["text"] and "<a " not in story["body"]["text"]
    assert "concession-dispute" in [e["record"]["id"] for e in story["chronology"]]


def test_dates_keep_what_was_written(shipped_site_based: Path) -> None:
    event = read_json(shipped_site_based, "data/events/defence-ministry-raises-mining-issue.json")
    date = event["fields"]["date"]
    assert date == {
        "value": "~2022-12",
        "iso": "2022-12",
        "display": "c. December 2022",
        "precision": "month",
        "approximate": True,
        "start": "2022-12-01T00:00:00+04:00",  # the first moment, in the site's time zone
    }


def test_graph_has_every_record_and_every_typed_edge(full_site: Path, tmp_path: Path) -> None:
    graph = read_json(full_site, "data/graph.json")
    corpus, links, _ = load(Options(content=FULL))
    assert corpus is not None and links is not None
    assert [n["id"] for n in graph["nodes"]] == sorted(corpus.records)
    assert len(graph["edges"]) == len(links.edges)
    nodes = {n["id"] for n in graph["nodes"]}
    for edge in graph["edges"]:
        assert {edge["source"], edge["target"]} <= nodes
    assert {"relation": "notes.to", "label": "Notes received"}.items() <= next(
        e for e in graph["edges"] if e["relation"] == "notes.to"
    ).items()


def test_csv_per_kind_reads_back(full_site: Path) -> None:
    corpus, _, _ = load(Options(content=FULL))
    assert corpus is not None
    for kind in KINDS:
        rows = read_csv(full_site, kind)
        assert [r["id"] for r in rows] == [r.id for r in corpus.of_kind(kind)]
        assert list(rows[0])[:3] == ["id", "name", "url"]
    deposits = {r["id"]: r for r in read_csv(full_site, "deposits")}
    cerro = deposits["cerro-alto"]
    assert float(cerro["latitude"]) < 0 and float(cerro["longitude"]) < 0
    assert "; " in cerro["minerals"] or cerro["minerals"]
    actors = {r["id"]: r for r in read_csv(full_site, "actors")}
    assert actors["kestria"]["type"] == "state"


def test_csv_cells_never_run_as_formulas_and_keep_the_text(hostile_site: Path) -> None:
    raw = (hostile_site / "data" / "actors.csv").read_text("utf-8")
    (row,) = csv.DictReader(io.StringIO(raw))
    assert row["name"] == BREAKOUT
    assert row["summary"].startswith("'=HYPERLINK(")
    assert row["aliases"] == "]]>; -2+3+cmd|x"  # not at the start of the cell: left as is
    assert row["identifiers"] == (
        "https://www.wikidata.org/wiki/Q4115189; https://example.org/breakout"
    )
    (event,) = read_csv(hostile_site, "events")
    assert event["name"].startswith("'@SUM")


def test_timeline_js_keeps_the_precision_of_each_date(shipped_site_based: Path) -> None:
    timeline = read_json(shipped_site_based, "data/timeline/baku-demands-halt-to-mining.json")
    assert timeline["title"]["text"]["headline"]
    slides = {s["unique_id"]: s for s in timeline["events"]}
    approximate = slides["defence-ministry-raises-mining-issue"]
    assert approximate["start_date"] == {
        "year": 2022,
        "month": 12,
        "display_date": "c. December 2022",
    }
    assert approximate["group"] == "Events"
    assert slides["azerbaijan-note-to-russia"]["start_date"] == {
        "year": 2022,
        "month": 12,
        "day": 11,
        "display_date": "11 December 2022",
    }
    own = slides["baku-demands-halt-to-mining"]
    assert own["group"] == "Stories"
    assert f'href="{BASE_URL}stories/baku-demands-halt-to-mining/"' in own["text"]["text"]
    story = read_json(shipped_site_based, "data/stories/baku-demands-halt-to-mining.json")
    assert [s["unique_id"] for s in timeline["events"]] == [
        e["record"]["id"] for e in story["chronology"]
    ]


def test_timeline_text_is_escaped_html(hostile_site: Path) -> None:
    timeline = read_json(hostile_site, "data/timeline/breakout-story.json")
    slides = {s["unique_id"]: s for s in timeline["events"]}
    vote = slides["vote"]
    assert vote["end_date"] == {"year": 2023, "month": 1, "display_date": "January 2023"}
    assert vote["display_date"].startswith("c. December 2022")
    assert "<" not in timeline["title"]["text"]["headline"]
    assert "<b>" not in json.dumps(timeline)


def test_a_records_edges_are_each_once_in_edge_order() -> None:
    import random

    from generator.data import _edge, _edges
    from generator.links import Edge

    rng = random.Random(3)
    names = ["a", "b", "ab", "a-1", "B", ""]
    for _ in range(200):
        edges = [Edge(*(rng.choice(names) for _ in range(4))) for _ in range(rng.randint(0, 12))]
        outgoing, incoming = tuple(edges[::2]), tuple(edges[1::2] + edges[:3])
        expected = [_edge(e) for e in sorted({*outgoing, *incoming})]
        assert _edges(outgoing, incoming) == expected


@pytest.mark.parametrize("at_once", [1, 2, 3, 10_000])
def test_the_graph_written_a_batch_of_edges_at_a_time_is_the_graph_as_json(
    at_once: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, links, _ = load(Options(content=FULL))
    assert corpus is not None and links is not None and len(links.edges) > 3
    monkeypatch.setattr(data, "_EDGES_AT_ONCE", at_once)
    exporter = data.Exporter(corpus, links)
    assert exporter.graph_json() == data.to_json(exporter.graph())


def test_a_graph_without_edges_is_written_as_json_too() -> None:
    corpus, links, _ = load(Options(content=FULL))
    assert corpus is not None and links is not None
    exporter = data.Exporter(corpus, dataclasses.replace(links, edges=()))
    written = exporter.graph_json()
    assert written == data.to_json(exporter.graph())
    assert json.loads(written)["edges"] == []
