"""Resolve every reference and [[link]], render the Markdown, and compute typed backlinks.

Input: the Corpus. Output: `Links` (the typed edges of the fact graph, the backlinks of every
record grouped by relation, the rendered HTML of every Markdown field, the records tied to
each story) and a diagnostic for every reference that names no record or the wrong kind.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, cast

from markupsafe import Markup

from .cache import Memo, fingerprint
from .diagnostics import Diagnostic, Diagnostics, Location, clip, did_you_mean
from .markup import MarkupTooComplex, Rendered, find_links, render_inline, render_markdown
from .model import Citation, Corpus, Publisher, Record, Ref, Text
from .schema import ANY, RECORD_KINDS, SCHEMAS, SINGULAR, STORY, TITLES, Field
from .urls import output_path, record_url
from .workers import run_all, slices

MENTIONS = "Mentioned in"
CITED_BY = "Cited by"
STORY_LINKS = f"{MENTIONS} {TITLES[STORY].lower()}"
# Ids the story page itself uses; headings in a story body must not take them.
RESERVED_IDS = frozenset({"main", "facts", "chronology", "sources", "backlinks", "story", "search"})


@dataclass(frozen=True, order=True)
class Edge:
    """`source` refers to `target`; `relation` names how ('notes.to', 'mentions')."""

    source: str
    target: str
    relation: str
    label: str


@dataclass(frozen=True)
class Links:
    edges: tuple[Edge, ...]
    # target id -> ((label, (source ids, sorted)), ...) in the order labels are first declared
    backlinks: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]
    # (record id, field name) -> rendered HTML; a story's body is field "body"
    html: Mapping[tuple[str, str], str]
    # story id -> ids of the records tied to it (by its lists, their `stories`, body links)
    story_members: Mapping[str, tuple[str, ...]]
    # source id -> actor id, when a source's publisher names an actor
    publishers: Mapping[str, str]

    def plain(self, record_id: str, name: str) -> str:
        """A Markdown field as plain text ([[links]] become their names), for machines."""
        return str(Markup(self.html.get((record_id, name), "")).striptags())

    def outgoing(self, source: str) -> tuple[Edge, ...]:
        return self._by_source.get(source, ())

    def incoming(self, target: str) -> tuple[Edge, ...]:
        return self._by_target.get(target, ())

    @cached_property
    def _by_source(self) -> dict[str, tuple[Edge, ...]]:
        return _index(self.edges, lambda e: e.source)

    @cached_property
    def _by_target(self) -> dict[str, tuple[Edge, ...]]:
        return _index(self.edges, lambda e: e.target)


def _index(edges: tuple[Edge, ...], key: Callable[[Edge], str]) -> dict[str, tuple[Edge, ...]]:
    grouped: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        grouped[key(edge)].append(edge)
    return {k: tuple(v) for k, v in grouped.items()}


def link_corpus(
    corpus: Corpus, hidden: frozenset[str] = frozenset(), jobs: int = 1, memo: Memo | None = None
) -> tuple[Links, list[Diagnostic]]:
    """Resolve and render. `hidden` ids (draft stories left out) are not errors to link to.

    With jobs > 1, forked workers visit slices of the records; their findings are merged in
    the records' order, so the result is the same as visiting them here one by one. A memo
    of earlier builds gives the rendering of a text when every record it links to has the
    same name and address as then.
    """
    records = list(corpus)
    memo = memo if memo is not None else Memo()

    def visit(start: int, stop: int) -> _Found:
        # The findings only: a _Linker holds the corpus, which must not cross the pipe.
        linker = _Linker(corpus, hidden, memo)
        for record in records[start:stop]:
            linker.visit(record)
        found = linker.diagnostics.items, linker.found
        return linker.edges, linker.html, linker.publishers, *found

    linker = _Linker(corpus, hidden, memo)
    tasks = [partial(visit, a, b) for a, b in slices(len(records), jobs * 4)]
    for edges, html, publishers, diagnostics, rendered in run_all(tasks, jobs):
        linker.edges |= edges
        linker.html.update(html)
        linker.publishers.update(publishers)
        linker.diagnostics.extend(diagnostics)
        memo.new.update(rendered)
    return linker.result(), linker.diagnostics.items


# What a linker finds: edges, rendered Markdown, publishers, diagnostics, memo entries.
_Found = tuple[
    set["Edge"], dict[tuple[str, str], str], dict[str, str], list[Diagnostic], dict[str, Any]
]


class _Linker:
    def __init__(self, corpus: Corpus, hidden: frozenset[str], memo: Memo) -> None:
        self.corpus = corpus
        self.hidden = hidden
        self.memo = memo
        # Renderings this build used: Markdown text -> (Rendered, every lookup it made).
        self.found: dict[str, tuple[Rendered, tuple[tuple[str, Any], ...]]] = {}
        self.diagnostics = Diagnostics()
        self.edges: set[Edge] = set()
        self.html: dict[tuple[str, str], str] = {}
        self.publishers: dict[str, str] = {}
        self.ids_by_kind: dict[str, list[str]] = defaultdict(list)
        for record in corpus:
            self.ids_by_kind[record.kind].append(record.id)

    # --- references ----------------------------------------------------------------------

    def resolve(self, ref: Ref, kind: str, field: str) -> Record | None:
        target = self.corpus.records.get(ref.id)
        if target is None:
            if ref.id in self.hidden:
                return None
            candidates = self.corpus.records if kind == ANY else self.ids_by_kind[kind]
            what = "record" if kind == ANY else SINGULAR[kind]
            self.diagnostics.error(
                ref.location,
                "E0401",
                f"'{field}' names no {what} '{clip(ref.id)}'{did_you_mean(ref.id, candidates)}",
            )
            return None
        if kind not in (ANY, target.kind):
            self.diagnostics.error(
                ref.location,
                "E0402",
                f"'{field}' must name {_article(SINGULAR[kind])}, but '{ref.id}' is "
                f"{_article(SINGULAR[target.kind])}"
                f"{did_you_mean(ref.id, self.ids_by_kind[kind])}",
            )
            return None
        return target

    def connect(self, record: Record, ref: Ref, field: Field, relation: str) -> None:
        kind = field.ref or ANY
        target = self.resolve(ref, kind, field.name)
        if target is not None and field.ref_types and target.get("type") not in field.ref_types:
            self.diagnostics.error(
                ref.location,
                "E0402",
                f"'{field.name}' must name {' or '.join(_article(t) for t in field.ref_types)}, "
                f"but '{ref.id}' is {_article(target.get('type') or SINGULAR[target.kind])}",
            )
            return
        if target is not None and field.backlink:
            self.edges.add(Edge(record.id, target.id, relation, field.backlink))

    def visit(self, record: Record) -> None:
        for field in SCHEMAS[record.kind]:
            value = record.fields.get(field.name)
            if value is None:
                continue
            relation = f"{record.kind}.{field.name}"
            if field.type in ("ref", "refs"):
                for ref in value if isinstance(value, tuple) else (value,):
                    self.connect(record, ref, field, relation)
            elif field.type == "records":
                self.visit_entries(record, field, value, relation)
            elif field.type == "citations":
                self.visit_citations(record, value)
            elif field.type == "publisher":
                self.visit_publisher(record, value)
            elif field.type in ("inline", "markdown"):
                self.render(record, field.name, value, inline=field.type == "inline")
        if record.body is not None:
            self.render(record, "body", record.body, inline=False)

    def visit_entries(
        self, record: Record, field: Field, entries: tuple[dict[str, Any], ...], relation: str
    ) -> None:
        declared = {f.name: f for f in field.fields}
        for entry in entries:
            for name, value in entry.items():
                if isinstance(value, Ref):
                    self.connect(record, value, declared[name], f"{relation}.{name}")

    def visit_citations(self, record: Record, citations: tuple[Citation, ...]) -> None:
        for citation in citations:
            target = self.resolve(citation.source, "sources", "sources")
            if target is not None:
                label = f"{CITED_BY} {TITLES[record.kind].lower()}"
                self.edges.add(Edge(record.id, target.id, "cites", label))

    def visit_publisher(self, record: Record, publisher: Publisher) -> None:
        target = self.corpus.records.get(publisher.text)
        if target is not None and target.kind == "actors":
            self.publishers[record.id] = target.id
            self.edges.add(Edge(record.id, target.id, "sources.publisher", "Sources published"))

    # --- Markdown ------------------------------------------------------------------------

    def lookup(self, target_id: str) -> tuple[str, str] | None:
        target = self.corpus.records.get(target_id)
        if target is None:
            return None
        return output_path(record_url(target)), target.name

    def render(self, record: Record, name: str, text: Text, *, inline: bool) -> None:
        try:
            rendered = self.rendered(text.value, inline=inline)
        except MarkupTooComplex as error:
            self.too_complex(text, error, body=name == "body")
            return
        self.html[(record.id, name)] = rendered.html
        broken = [i for i in rendered.unresolved if i not in self.hidden]
        positions = dict(_positions(link_locations(text, inline=inline))) if broken else {}
        for target_id in rendered.links:
            if target_id in self.corpus.records:
                label = f"{MENTIONS} {TITLES[record.kind].lower()}"
                self.edges.add(Edge(record.id, target_id, "mentions", label))
        for index, target_id in enumerate(rendered.unresolved):
            if target_id in self.hidden:
                continue
            where = positions.get((target_id, _nth(rendered.unresolved, index)), text.location)
            self.diagnostics.error(
                where,
                "E0403",
                f"[[{clip(target_id)}]] names no record"
                f"{did_you_mean(target_id, self.corpus.records)}; write \\[[ for literal brackets",
            )
        searched_from = 0
        for url in rendered.rejected_urls:
            where, searched_from = _find(text, url, searched_from, exact=name == "body")
            self.diagnostics.error(
                where,
                "E0404",
                f"the link target '{clip(url)}' is not allowed: use http, https or mailto "
                "links, or a [[link]] to a record",
            )

    def too_complex(self, text: Text, error: MarkupTooComplex, *, body: bool) -> None:
        """Python-markdown gave up where parse's cost check did not (its own recursion)."""
        if body:
            where = text.location.at(text.location.line + (error.line or 1) - 1, 1)
            self.diagnostics.error(where, "E0106", f"the story's Markdown is too complex: {error}")
        else:
            self.diagnostics.error(text.location, "E0106", f"the Markdown is too complex: {error}")

    def rendered(self, value: str, *, inline: bool) -> Rendered:
        """The text rendered, from the memo when every record it looked up looks the same."""
        allow_html = self.corpus.site.allow_html
        key = fingerprint(value, inline, allow_html)
        known = self.memo.old.get(key)
        if known is not None and all(self.lookup(i) == seen for i, seen in known[1]):
            self.found[key] = known
            return cast(Rendered, known[0])
        looked_up: dict[str, tuple[str, str] | None] = {}

        def lookup(target_id: str) -> tuple[str, str] | None:
            looked_up[target_id] = self.lookup(target_id)
            return looked_up[target_id]

        if inline:
            rendered = render_inline(value, lookup, allow_html=allow_html)
        else:
            rendered = render_markdown(
                value, lookup, allow_html=allow_html, reserved_ids=RESERVED_IDS
            )
        self.found[key] = (rendered, tuple(looked_up.items()))
        return rendered

    # --- result --------------------------------------------------------------------------

    def result(self) -> Links:
        edges = tuple(sorted(self.edges))
        members = _story_members(self.corpus, edges)
        return Links(
            edges=edges,
            backlinks=_backlinks(edges, members),
            html=self.html,
            story_members=members,
            publishers=self.publishers,
        )


def _find(text: Text, needle: str, start: int, *, exact: bool) -> tuple[Location, int]:
    """Where `needle` stands in the text, searching from `start`; the text's start if unsure.

    A story body maps line for line onto its file; a YAML value may be folded or indented,
    so there the value's own position is the honest answer.
    """
    index = text.value.find(needle, start)
    if index < 0 or not exact:
        return text.location, start
    line = text.value.count("\n", 0, index)
    column = index - (text.value.rfind("\n", 0, index) + 1) + 1
    return text.location.at(text.location.line + line, column), index + len(needle)


def link_locations(text: Text, *, inline: bool) -> list[tuple[str, Location]]:
    """Each [[link]] of the text, in the renderer's order, with its position in the file.

    A story body maps line for line onto its file. A YAML value is searched for in its file,
    on from where the value starts, so quoting and block styles cannot shift the position.
    """
    try:
        found = find_links(text.value, inline=inline)
    except MarkupTooComplex:
        return []
    start = text.location
    if text.origin is None:
        return [(target, start.at(start.line + line - 1, column)) for target, line, column in found]
    source = text.origin
    line_starts = [0, *(m.end() for m in re.finditer("\n", source))]
    offset = line_starts[min(start.line, len(line_starts)) - 1] + start.column - 1
    located: list[tuple[str, Location]] = []
    for target, _, _ in found:
        match = re.compile(r"(?<!\\)\[\[\s*" + re.escape(target)).search(source, offset)
        if match is None:
            located.append((target, start))
            continue
        offset = match.end()
        line = bisect.bisect_right(line_starts, match.start())
        located.append((target, start.at(line, match.start() - line_starts[line - 1] + 1)))
    return located


def _positions(
    located: list[tuple[str, Location]],
) -> Iterator[tuple[tuple[str, int], Location]]:
    """(id, n) -> location of the n-th link to that id in the text."""
    seen: dict[str, int] = defaultdict(int)
    for target_id, location in located:
        yield (target_id, seen[target_id]), location
        seen[target_id] += 1


def _nth(items: tuple[str, ...], index: int) -> int:
    return items[:index].count(items[index])


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _label_order() -> dict[str, int]:
    order: dict[str, int] = {"Stories": 0, "Chronology items": 1}
    for kind in (STORY, *RECORD_KINDS):
        for field in SCHEMAS[kind]:
            for sub in (field, *field.fields):
                if sub.backlink and sub.backlink not in order:
                    order[sub.backlink] = len(order)
    # Mentions and citations are grouped by the kind of the record they come from.
    for base in (MENTIONS, CITED_BY):
        for kind in (STORY, *RECORD_KINDS):
            order[f"{base} {TITLES[kind].lower()}"] = len(order)
    return order


_LABEL_ORDER = _label_order()


def _backlinks(
    edges: tuple[Edge, ...], story_members: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """Backlinks grouped by label. "Stories" lists every story a record belongs to, however
    it is tied (the story's lists, its links, or the record's own `stories`), so links from
    stories need no group of their own."""
    grouped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for edge in edges:
        if edge.source != edge.target and edge.label not in (STORY_LINKS, "Stories"):
            grouped[edge.target][edge.label].add(edge.source)
    for story, members in story_members.items():
        for member in members:
            grouped[member]["Stories"].add(story)
    return {
        target: tuple(
            (label, tuple(sorted(sources)))
            for label, sources in sorted(labels.items(), key=lambda kv: _LABEL_ORDER[kv[0]])
        )
        for target, labels in sorted(grouped.items())
    }


def _story_members(corpus: Corpus, edges: tuple[Edge, ...]) -> dict[str, tuple[str, ...]]:
    """Records tied to each story: its own refs and links, and items naming it in `stories`."""
    members: dict[str, set[str]] = {r.id: set() for r in corpus.of_kind(STORY)}
    for edge in edges:
        source, target = corpus.records[edge.source], corpus.records[edge.target]
        if source.kind == STORY and edge.relation != "cites":
            members[source.id].add(target.id)
        elif target.kind == STORY and edge.relation.endswith(".stories"):
            members[target.id].add(source.id)
    return {story: tuple(sorted(ids)) for story, ids in sorted(members.items())}
