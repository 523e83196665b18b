"""The facts as open data: each record as JSON, the fact graph, a CSV per kind, and each
story's chronology in TimelineJS's format.

Input: the Corpus and its Links; output: file path -> bytes, deterministic (sorted keys,
stable order, nothing from the clock). The formats are documented in docs/data.md.
"""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import Any

import orjson

from . import chronology
from .chronology import Entry
from .dates import PartialDate, display_range
from .jsonld import plain_texts
from .links import Edge, Links
from .model import Alias, Citation, Corpus, Identifier, Publisher, Record, Ref, Text
from .schema import SCHEMAS, STORY, TITLES, Field
from .urls import absolute, record_url

FORMAT = 1  # bumped when a change to the export would break a reader
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Flat(dict[str, Any]):
    """A dict the exporter makes whose values are all text, bools or None (a reference to a
    record, a date, an edge): nothing in it for `_agrees` to look at. Written as a dict by
    orjson and json.dumps alike."""

    __slots__ = ()


# Types orjson writes byte for byte as json.dumps does (or refuses: a 65-bit integer).
_PLAIN = frozenset({str, int, bool, type(None), _Flat})


def to_json(data: Any) -> bytes:
    """`data` as indented JSON with sorted keys, as `json.dumps(..., indent=2)` writes it.

    Written by orjson: with `indent` set, json.dumps runs CPython's pure-Python encoder, most
    of the export's time. orjson writes the same bytes for every plain JSON value except a few
    floats (1e-05, NaN, ...) and the values it refuses (integers beyond 64 bits, keys that are
    not text, nesting deeper than 254); those files fall back to json.dumps.
    """
    if _orjson_agrees(data):
        try:
            # (the newline written by orjson: added after, it would copy the file's bytes)
            return orjson.dumps(data, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            pass
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


_ORJSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def _orjson_agrees(data: Any) -> bool:
    """False if `data` holds a float orjson writes differently, or a type json.dumps refuses."""
    try:
        return _agrees(data)
    except RecursionError:  # nested deeper than orjson goes anyway (or circular)
        return False


def _agrees(value: Any) -> bool:
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list | tuple):
        if type(value) is float:  # orjson refuses a subclass: json.dumps writes that file
            return orjson.dumps(value) == float.__repr__(value).encode()
        return isinstance(value, str | int) or value is None
    # A loop, not all(): this walk costs about as much as orjson itself, all() half as much more.
    for item in value:  # noqa: SIM110
        if type(item) not in _PLAIN and not _agrees(item):  # no call for each text
            return False
    return True


class Exporter:
    def __init__(self, corpus: Corpus, links: Links) -> None:
        self.corpus = corpus
        self.links = links
        self.tz = corpus.site.tz
        self.plain = plain_texts(links)
        self._dates: dict[PartialDate, dict[str, Any]] = {}
        self._described: dict[str, dict[str, str]] = {}

    # --- JSON per record -----------------------------------------------------------------

    def ref(self, record_id: str) -> dict[str, str] | None:
        """A reference as {id, kind, name, url}; None for a record left out (a draft)."""
        record = self.corpus.records.get(record_id)
        return self.describe(record) if record is not None else None

    def describe(self, record: Record) -> dict[str, str]:
        """The record as {id, kind, name, url}: made once per record (many files refer to
        it), and read only (the files embed it as it is)."""
        found = self._described.get(record.id)
        if found is None:
            url = absolute(self.corpus.site.base_url, record_url(record))
            found = _Flat(id=record.id, kind=record.kind, name=record.name, url=url)
            self._described[record.id] = found
        return found

    def record(self, record: Record) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            **self.describe(record),
            "fields": {
                declared.name: self.value(record, declared, record.fields[declared.name])
                for declared in SCHEMAS[record.kind]
                if declared.name in record.fields
            },
            "backlinks": [
                {"label": label, "records": [r for i in ids if (r := self.ref(i))]}
                for label, ids in self.links.backlinks.get(record.id, ())
            ],
            "edges": _edges(self.links.outgoing(record.id), self.links.incoming(record.id)),
        }
        if record.body is not None:
            data["body"] = self.text(record, "body", record.body)
        if record.kind == STORY:
            entries = chronology.story_chronology(record, self.corpus, self.links)
            data["chronology"] = [self.entry(e) for e in entries]
        return data

    def entry(self, entry: Entry) -> dict[str, Any]:
        found = {"record": self.describe(entry.record), "date": self.date(entry.date)}
        if entry.end is not None:
            found["end"] = self.date(entry.end)
        return found

    def value(self, record: Record, declared: Field, value: Any) -> Any:
        """A field's value as JSON: refs resolved, dates as written and as machine values."""
        kind = declared.type
        if isinstance(value, PartialDate):
            return self.date(value)
        if isinstance(value, Text):
            return self.text(record, declared.name, value)
        if isinstance(value, Ref):
            return self.ref(value.id)
        if isinstance(value, Publisher):
            actor = self.links.publishers.get(record.id)
            return self.ref(actor) if actor else {"name": value.text}
        if kind == "coordinates":
            return _point(value)
        if kind == "path":
            return [_point(p) for p in value]
        if kind == "records":
            fields = {f.name: f for f in declared.fields}
            return [
                {k: self.value(record, fields[k], v) for k, v in entry.items()} for entry in value
            ]
        if isinstance(value, tuple):
            return [x for item in value if (x := self.item(item)) is not None]
        return value

    def item(self, item: Any) -> Any:
        if isinstance(item, Alias):
            return {"name": item.name, "language": item.language}
        if isinstance(item, Citation):
            citation: dict[str, Any] = {"source": self.ref(item.source.id)}
            for key in ("quote", "page"):
                if getattr(item, key) is not None:
                    citation[key] = getattr(item, key)
            if item.accessed is not None:
                citation["accessed"] = self.date(item.accessed)
            return citation
        if isinstance(item, Identifier):
            return {"scheme": item.scheme, "id": item.value, "url": item.url}
        if isinstance(item, Ref):
            return self.ref(item.id)
        return item

    def text(self, record: Record, name: str, text: Text) -> dict[str, str]:
        return _Flat(markdown=text.value, text=self.plain(record.id, name))

    def date(self, date: PartialDate) -> dict[str, Any]:
        # Made once per date: many files have the same dates (of the items of a chronology).
        found = self._dates.get(date)
        if found is None:
            found = self._dates[date] = _Flat(
                value=date.iso(),
                iso=date.machine(),
                display=date.display(),
                precision=date.precision.name.lower(),
                approximate=date.approximate,
                start=date.start(self.tz).isoformat(),
            )
        return found

    # --- the graph -----------------------------------------------------------------------

    def graph(self) -> dict[str, Any]:
        site = self.corpus.site
        return {
            "format": FORMAT,
            "site": {"title": site.title, "base_url": site.base_url or None},
            "nodes": [self.describe(r) for r in self.corpus],
            "edges": [_edge(e) for e in self.links.edges],
        }

    def graph_json(self) -> bytes:
        """`to_json(self.graph())`, its edges made and written a batch at a time: at 10,000
        stories the file is 65 MB, and its 330,000 edges as dicts are more than that again,
        all held at once with the file's bytes in the worker that writes it (its peak of
        memory, and the build's)."""
        site = self.corpus.site
        rest = to_json(
            {
                "format": FORMAT,
                "site": {"title": site.title, "base_url": site.base_url or None},
                "nodes": [self.describe(r) for r in self.corpus],
            }
        )
        edges = self.links.edges
        # The keys in order: "edges" first, then the rest's ('{\n  "format": ...'). Written
        # into one buffer whose bytes are the file's (`getvalue` hands them over): no copy
        # of the whole file beside it at the end (96 MiB at 10,000 stories).
        out = io.BytesIO()
        out.write(b'{\n  "edges": [\n' if edges else b'{\n  "edges": []')
        for start in range(0, len(edges), _EDGES_AT_ONCE):
            batch = to_json([_edge(e) for e in edges[start : start + _EDGES_AT_ONCE]])
            if start:
                out.write(b",\n")
            # '[\n  {...},\n  {...}\n]\n': its items, one level deeper (no text in JSON
            # holds a line break: it is written as the escape \n)
            out.write(b"  ")
            out.write(batch[2:-3].replace(b"\n", b"\n  "))
        if edges:
            out.write(b"\n  ]")
        out.write(b",\n")
        out.write(memoryview(rest)[2:])
        return out.getvalue()

    # --- CSV per kind --------------------------------------------------------------------

    def table(self, kind: str, records: list[Record]) -> bytes:
        """One row per record, one column per field (coordinates as two); lists joined."""
        declared = [f for f in SCHEMAS[kind] if f.name != "name"]  # it is the second column
        header = ["id", "name", "url"]
        for field in declared:
            header += ["latitude", "longitude"] if field.type == "coordinates" else [field.name]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for record in records:
            row = [record.id, record.name, absolute(self.corpus.site.base_url, record_url(record))]
            for field in declared:
                value = record.fields.get(field.name)
                if field.type == "coordinates":
                    row += [str(value[0]), str(value[1])] if value else ["", ""]
                else:
                    row.append(self.cell(record, field, value))
            writer.writerow([_safe_cell(c) for c in row])
        return out.getvalue().encode("utf-8")

    def cell(self, record: Record, declared: Field, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, PartialDate):
            return value.iso()
        if isinstance(value, Text):
            return self.plain(record.id, declared.name)
        if isinstance(value, Ref):
            return value.id
        if isinstance(value, Publisher):
            return value.text
        if isinstance(value, bool):
            return "true" if value else "false"
        if declared.type == "path":
            return "; ".join(f"{lat} {lon}" for lat, lon in value)
        if declared.type == "mapping":
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        if declared.type == "records":
            fields = {f.name: f for f in declared.fields}
            return "; ".join(
                ", ".join(f"{k}: {self.cell(record, fields[k], v)}" for k, v in entry.items())
                for entry in value
            )
        if isinstance(value, tuple):
            return "; ".join(_cell_item(item) for item in value)
        return str(value)

    # --- TimelineJS ----------------------------------------------------------------------

    def timeline(self, story: Record) -> dict[str, Any]:
        """The story's chronology as TimelineJS3 JSON; each date at its precision."""
        entries = chronology.story_chronology(story, self.corpus, self.links)
        return {
            "title": {
                "text": {
                    "headline": escape(story.name),
                    "text": _paragraph(self.plain(story.id, "summary")),
                }
            },
            "events": [self.slide(entry) for entry in entries],
        }

    def slide(self, entry: Entry) -> dict[str, Any]:
        record = entry.record
        slide: dict[str, Any] = {
            "unique_id": record.id,
            "group": TITLES[record.kind],
            "start_date": _timeline_date(entry.date),
            "display_date": display_range(entry.date, entry.end),
            "text": {"headline": escape(record.name), "text": self.slide_text(record)},
        }
        if entry.end is not None:
            slide["end_date"] = _timeline_date(entry.end)
        return slide

    def slide_text(self, record: Record) -> str:
        parts = []
        if record.kind == "quotes":
            parts.append(f"<blockquote>{escape(record.get('text', ''))}</blockquote>")
            by = self.ref(record.get("by").id)
            if by:
                parts.append(_paragraph(f"— {by['name']}"))
        summary = self.plain(record.id, "summary")
        if summary:
            parts.append(_paragraph(summary))
        elif record.kind == "notes":
            sender, receiver = self.ref(record.get("from").id), self.ref(record.get("to").id)
            if sender and receiver:
                parts.append(_paragraph(f"From {sender['name']} to {receiver['name']}"))
        if self.corpus.site.base_url:
            url = absolute(self.corpus.site.base_url, record_url(record))
            parts.append(f'<p><a href="{escape(url)}">Fact sheet</a></p>')
        return "".join(parts)


# Edges made into dicts and written at a time by `graph_json`.
_EDGES_AT_ONCE = 10_000


def _edge(edge: Edge) -> dict[str, str]:
    return _Flat(source=edge.source, target=edge.target, relation=edge.relation, label=edge.label)


def _edges(*groups: tuple[Edge, ...]) -> list[dict[str, str]]:
    """The edges of `groups`, each once, in Edge order: as tuples of their fields, which
    hash and compare in C (an Edge's dataclass methods are Python, called 300,000 times at
    1,000 stories)."""
    fields = sorted({(e.source, e.target, e.relation, e.label) for group in groups for e in group})
    return [
        _Flat(source=source, target=target, relation=relation, label=label)
        for source, target, relation, label in fields
    ]


def _point(point: tuple[float, float]) -> dict[str, float]:
    return {"latitude": point[0], "longitude": point[1]}


def _cell_item(item: Any) -> str:
    if isinstance(item, Alias):
        return f"{item.name} ({item.language})" if item.language else item.name
    if isinstance(item, Citation):
        return item.source.id
    if isinstance(item, Identifier):
        return item.url
    if isinstance(item, Ref):
        return item.id
    return str(item)


def _safe_cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula: a leading quote where it would."""
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>" if text else ""


def _timeline_date(date: PartialDate) -> dict[str, Any]:
    """A TimelineJS date: only the parts that are known, and the date as written."""
    parts = {
        "year": date.year,
        "month": date.month,
        "day": date.day,
        "hour": date.hour,
        "minute": date.minute,
        "second": date.second,
    }
    return {k: v for k, v in parts.items() if v is not None} | {"display_date": date.display()}
