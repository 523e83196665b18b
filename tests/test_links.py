"""Tests for generator.links on hand-built records: resolution, diagnostics, typed backlinks,
story members and publishers."""

from __future__ import annotations

import pickle
import shutil
from datetime import UTC
from pathlib import Path
from typing import Any

from test_determinism import FULL

from generator import cache, links, parse
from generator.dates import parse_date
from generator.diagnostics import Diagnostic, Location
from generator.links import Edge, Links, _even_slices, link_corpus
from generator.markup import Rendered
from generator.model import Citation, Corpus, Publisher, Record, Ref, Site, Text
from generator.pipeline import MEMOS, Options, build

SITE = Site(title="Links", tz=UTC)


def where(kind: str, ident: str, line: int = 1, column: int = 1) -> Location:
    return Location(f"content/{kind}/{ident}.yaml", line, column)


def ref(ident: str, line: int = 1, column: int = 1, path: str = "content/x.yaml") -> Ref:
    return Ref(ident, Location(path, line, column))


def md(value: str, start: Location | None = None) -> Text:
    """Markdown as a story body (it maps line for line onto its file from `start`)."""
    return Text(value, start or Location("content/x.yaml", 1, 1))


def record(
    kind: str, ident: str, name: str = "", body: Text | None = None, **fields: Any
) -> Record:
    return Record(kind, ident, name or ident.title(), where(kind, ident), fields, {}, body)


def corpus(*records: Record) -> Corpus:
    return Corpus(SITE, {r.id: r for r in records})


def world() -> list[Record]:
    """A small story with one record of every kind, each tie and each relation once."""
    return [
        record("actors", "azerbaijan", "Azerbaijan", type="state"),
        record("actors", "russia", "Russia", type="state"),
        record(
            "actors",
            "hajiyev",
            "Hikmet Hajiyev",
            type="person",
            country=ref("azerbaijan"),
            roles=({"title": "Aide", "of": ref("azerbaijan")},),
        ),
        record(
            "actors",
            "mfa",
            "Foreign ministry",
            type="organization",
            country=ref("azerbaijan"),
            parent=ref("azerbaijan"),
        ),
        record("actors", "tass", "TASS", type="organization"),
        record("places", "shusha", "Shusha", description=md("[[shusha]] is itself.")),
        record(
            "deposits",
            "gyzylbulag",
            "Gyzylbulag",
            minerals=("gold",),
            place=ref("shusha"),
            operator=ref("russia"),
            controlled_by=({"actor": ref("russia")},),
        ),
        record(
            "events",
            "visit",
            "The visit",
            date=parse_date("2022-12-10"),
            actors=({"actor": ref("hajiyev"), "role": "speaker"},),
            places=(ref("shusha"),),
            stories=(ref("story-a"),),
        ),
        record(
            "notes",
            "note",
            "The note",
            date=parse_date("2022-12-11"),
            **{"from": ref("azerbaijan"), "to": ref("russia")},
            delivered_by=ref("mfa"),
        ),
        record(
            "notes",
            "reply",
            "The reply",
            date=parse_date("2022-12-12"),
            **{"from": ref("russia"), "to": ref("azerbaijan")},
            in_response_to=ref("note"),
        ),
        record(
            "quotes",
            "q",
            "A quote",
            by=ref("hajiyev"),
            text="It must stop.",
            said_at=ref("visit"),
            about=(ref("gyzylbulag"), ref("shusha")),
        ),
        record(
            "sources", "src", "A TASS item", publisher=Publisher("tass", where("sources", "src"))
        ),
        record(
            "sources",
            "src2",
            "A pamphlet",
            publisher=Publisher("Free Text Agency", where("sources", "src2")),
        ),
        record(
            "sources",
            "src3",
            "A place's leaflet",
            publisher=Publisher("shusha", where("sources", "src3")),
        ),
        record(
            "stories",
            "story-a",
            "Story A",
            body=md("See [[gyzylbulag]] and [[q|the quote]]."),
            date=parse_date("2022-12-13"),
            actors=(ref("azerbaijan"),),
            notes=(ref("note"),),
            sources=(Citation(ref("src"), page="2"),),
            summary=md("About [[russia|Moscow]]."),
        ),
        record(
            "stories",
            "story-b",
            "Story B",
            body=md("Follows [[story-a]]."),
            date=parse_date("2022-12-14"),
        ),
    ]


def linked(
    *records: Record, hidden: frozenset[str] = frozenset()
) -> tuple[Links, list[Diagnostic]]:
    return link_corpus(corpus(*records), hidden)


def test_a_consistent_corpus_links_without_diagnostics() -> None:
    _, diagnostics = linked(*world())
    assert diagnostics == []


def test_typed_backlinks_grouped_by_label_in_declared_order() -> None:
    links, _ = linked(*world())
    assert dict(links.backlinks) == {
        "azerbaijan": (
            ("Stories", ("story-a",)),
            ("Actors of this state", ("hajiyev", "mfa")),
            ("Parts", ("mfa",)),
            ("People", ("hajiyev",)),
            ("Notes sent", ("note",)),
            ("Notes received", ("reply",)),
        ),
        "russia": (
            ("Stories", ("story-a",)),
            ("Deposits operated", ("gyzylbulag",)),
            ("Controls", ("gyzylbulag",)),
            ("Notes sent", ("reply",)),
            ("Notes received", ("note",)),
        ),
        "hajiyev": (("Took part in", ("visit",)), ("Quotes", ("q",))),
        "mfa": (("Notes delivered", ("note",)),),
        "tass": (("Sources published", ("src",)),),
        "shusha": (("Deposits", ("gyzylbulag",)), ("Events", ("visit",)), ("Quoted on", ("q",))),
        "gyzylbulag": (("Stories", ("story-a",)), ("Quoted on", ("q",))),
        "visit": (("Stories", ("story-a",)), ("Quotes", ("q",))),
        "note": (("Stories", ("story-a",)), ("Replies", ("reply",))),
        "q": (("Stories", ("story-a",)),),
        "src": (("Cited by stories", ("story-a",)),),
        "story-a": (("Stories", ("story-b",)), ("Chronology items", ("visit",))),
    }


def test_a_record_that_links_to_itself_is_not_its_own_backlink() -> None:
    links, _ = linked(*world())
    assert Edge("shusha", "shusha", "mentions", "Mentioned in places") in links.edges
    assert all(label != "Mentioned in places" for label, _ in links.backlinks["shusha"])


def test_story_members_by_its_lists_the_items_stories_and_body_links() -> None:
    links, _ = linked(*world())
    assert links.story_members == {
        # actors/notes lists; `stories` of the visit; [[links]] in the body and summary.
        # The cited source is not a member.
        "story-a": ("azerbaijan", "gyzylbulag", "note", "q", "russia", "visit"),
        "story-b": ("story-a",),
    }


def test_publisher_resolves_to_an_actor_only_when_an_actor_has_that_id() -> None:
    links, diagnostics = linked(*world())
    assert links.publishers == {"src": "tass"}
    assert Edge("src", "tass", "sources.publisher", "Sources published") in links.edges
    assert not [e for e in links.outgoing("src2")]
    assert not [e for e in links.outgoing("src3")]  # 'shusha' is a place: free text
    assert diagnostics == []


def test_markdown_is_rendered_with_site_root_links() -> None:
    links, _ = linked(*world())
    body = links.html[("story-a", "body")]
    assert '<a class="xref" href="@/deposits/gyzylbulag/index.html">Gyzylbulag</a>' in body
    assert '<a class="xref" href="@/quotes/q/index.html">the quote</a>' in body
    assert links.html[("story-a", "summary")] == (
        'About <a class="xref" href="@/actors/russia/index.html">Moscow</a>.'
    )


# --- diagnostics ---------------------------------------------------------------------------


def codes(diagnostics: list[Diagnostic]) -> list[tuple[str, Location, str]]:
    """(code, location, message) of each diagnostic, in the order the editor reads them."""
    return sorted((d.code, d.location, d.message) for d in diagnostics)


def test_unknown_ref_is_e0401_at_the_ref_with_a_did_you_mean_of_that_kind() -> None:
    bad = record(
        "events",
        "bad",
        date=parse_date("2022-12-10"),
        places=(ref("shusa", 7, 11, "content/events/bad.yaml"),),
    )
    _, diagnostics = linked(*world(), bad)
    assert codes(diagnostics) == [
        (
            "E0401",
            Location("content/events/bad.yaml", 7, 11),
            "'places' names no place 'shusa' (did you mean 'shusha'?)",
        )
    ]


def test_unknown_ref_of_any_kind_and_in_a_list_entry() -> None:
    quote = record("quotes", "q2", by=ref("hajiyv", 2, 5), text="x", about=(ref("visti", 3, 9),))
    deposit = record(
        "deposits", "d2", minerals=("gold",), controlled_by=({"actor": ref("rusia", 4, 13)},)
    )
    _, diagnostics = linked(*world(), quote, deposit)
    assert [(code, at.line, message) for code, at, message in codes(diagnostics)] == [
        ("E0401", 2, "'by' names no actor 'hajiyv' (did you mean 'hajiyev'?)"),
        ("E0401", 3, "'about' names no record 'visti' (did you mean 'visit'?)"),
        ("E0401", 4, "'actor' names no actor 'rusia' (did you mean 'russia'?)"),
    ]


def test_unknown_ref_without_a_close_id_has_no_suggestion() -> None:
    bad = record("actors", "x", type="person", country=ref("atlantis"))
    _, diagnostics = linked(*world(), bad)
    assert [d.message for d in diagnostics] == ["'country' names no actor 'atlantis'"]


def test_ref_to_the_wrong_kind_is_e0402() -> None:
    note = record(
        "notes",
        "n2",
        date=parse_date("2022-12-10"),
        **{"from": ref("azerbaijan"), "to": ref("shusha", 5, 5)},
    )
    story = record(
        "stories", "s2", date=parse_date("2022-12-10"), sources=(Citation(ref("tass", 6, 7)),)
    )
    _, diagnostics = linked(*world(), note, story)
    assert codes(diagnostics) == [
        (
            "E0402",
            Location("content/x.yaml", 5, 5),
            "'to' must name an actor, but 'shusha' is a place",
        ),
        (
            "E0402",
            Location("content/x.yaml", 6, 7),
            "'sources' must name a source, but 'tass' is an actor",
        ),
    ]


def test_wrong_kind_suggests_a_close_id_of_the_right_kind() -> None:
    places = record("places", "russia-region", name="Region")
    event = record("events", "e2", date=parse_date("2022"), places=(ref("russia"),))
    _, diagnostics = linked(*world(), places, event)
    assert [d.message for d in diagnostics] == [
        "'places' must name a place, but 'russia' is an actor (did you mean 'russia-region'?)"
    ]


def test_unknown_cross_link_is_e0403_at_the_link() -> None:
    at = Location("content/stories/s2.md", 5, 5)
    story = record(
        "stories", "s2", body=md("See [[gyzylbulg]].", at.at(5, 1)), date=parse_date("2022")
    )
    _, diagnostics = linked(*world(), story)
    [(code, location, message)] = codes(diagnostics)
    assert (code, location) == ("E0403", at)
    assert message.startswith("[[gyzylbulg]] names no record (did you mean 'gyzylbulag'?)")
    assert "\\[[" in message  # how to write literal brackets


def test_escaped_brackets_are_text_not_a_link() -> None:
    story = record(
        "stories", "s2", body=md("Write \\[[gyzylbulg]] to link."), date=parse_date("2022")
    )
    links, diagnostics = linked(*world(), story)
    assert diagnostics == []
    assert "[[gyzylbulg]]" in links.html[("s2", "body")]
    assert links.story_members["s2"] == ()


def test_a_javascript_link_is_e0404_and_never_emitted() -> None:
    story = record(
        "stories", "s2", body=md("[click](javascript:alert(1))"), date=parse_date("2022")
    )
    links, diagnostics = linked(*world(), story)
    assert [d.code for d in diagnostics] == ["E0404"]
    assert "javascript" not in links.html[("s2", "body")]


def test_hidden_drafts_are_no_error_and_no_edge() -> None:
    visit = record(
        "events", "v2", date=parse_date("2022"), stories=(ref("draft"),), summary=md("[[draft]]")
    )
    links, diagnostics = linked(*world(), visit, hidden=frozenset({"draft"}))
    assert diagnostics == []
    assert not [e for e in links.edges if e.target == "draft"]
    assert 'class="xref-missing"' in links.html[("v2", "summary")]
    _, diagnostics = linked(*world(), visit)
    assert sorted(d.code for d in diagnostics) == ["E0401", "E0403"]


def test_slices_for_workers_even_out_the_markdown_not_the_count() -> None:
    # Records come kind by kind, stories last: equal counts would give one worker every body.
    light = [record("actors", f"a{i}", summary=md("x")) for i in range(30)]
    heavy = [record("stories", f"s{i}", body=md("word " * 2000)) for i in range(4)]
    records = light + heavy
    bounds = _even_slices(records, 4)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(records)
    assert [a for a, _ in bounds[1:]] == [b for _, b in bounds[:-1]]
    # Each story body is the cost of thirty light records: the light ones share one slice.
    assert [b - a for a, b in bounds] == [31, 1, 1, 1]
    assert _even_slices(records[:2], 4) == [(0, 1), (1, 2)]
    assert _even_slices([], 4) == []


def test_linking_on_two_processes_gives_the_same_links() -> None:
    records = [
        *world(),
        *(record("actors", f"extra-{i}", summary=md("[[russia]]")) for i in range(9)),
    ]
    alone, alone_diagnostics = link_corpus(corpus(*records), jobs=1)
    forked, forked_diagnostics = link_corpus(corpus(*records), jobs=2)
    assert forked == alone
    assert forked_diagnostics == alone_diagnostics
    assert forked.html[("extra-3", "summary")] == alone.html[("extra-3", "summary")]


def test_an_edge_compares_and_shows_as_the_dataclass_it_was_and_unpickles_in_c() -> None:
    edge = Edge("a", "b", "mentions", "Mentioned in stories")
    assert edge.source == "a" and edge.target == "b" and edge.label == "Mentioned in stories"
    assert repr(edge) == (
        "Edge(source='a', target='b', relation='mentions', label='Mentioned in stories')"
    )
    assert edge == Edge("a", "b", "mentions", "Mentioned in stories")
    assert hash(edge) == hash(("a", "b", "mentions", "Mentioned in stories"))
    assert sorted([Edge("b", "a", "x", "y"), edge, Edge("a", "a", "z", "z")]) == [
        Edge("a", "a", "z", "z"),
        edge,
        Edge("b", "a", "x", "y"),
    ]
    assert not hasattr(edge, "__dict__")
    # Unpickled by tuple.__new__ (no Python call per edge), with its strs interned.
    made, args = edge.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert made is tuple.__new__ and args == (Edge, tuple(edge))
    # Equal strs made apart (as by two workers) are written once.
    one, other = ("".join(["tar", "get"]) for _ in range(2))
    both = [Edge("a", one, "r", "l"), Edge("b", other, "r", "l")]
    first, second = pickle.loads(pickle.dumps(both, pickle.HIGHEST_PROTOCOL))
    assert type(first) is Edge and [first, second] == both
    assert first.target is second.target


def test_a_cached_link_keeps_each_edge_target_as_its_records_own_id(tmp_path: Path) -> None:
    """Edges found by workers name their targets with strs of their own: the cache writes
    the record's id instead, which the markdown memo's pickle refers to (one str per id)."""
    content, folder = tmp_path / "content", tmp_path / "cache"
    shutil.copytree(FULL, content)
    result = build(Options(content=content, out=tmp_path / "site", cache=folder, jobs=2))
    assert result.written, [d.format() for d in result.diagnostics]
    memos = cache.load(folder, MEMOS)
    parsed = [entry for key, entry in memos["parse"].old.items() if key != parse.LAST]
    ids = {record.id: record.id for records, _ in parsed for record in records}
    edges = [
        edge
        for key, entry in memos["markdown"].old.items()
        if key.startswith("record:")
        for edge in entry[1].edges
    ]
    assert len(edges) > 50
    for edge in edges:
        assert edge.source is ids[edge.source] and edge.target is ids[edge.target], edge
    # So do the renderings' links and lookups, and the backlinks and story members.
    renderings = [
        entry for entry in memos["markdown"].old.values() if isinstance(entry, links._Rendering)
    ]
    named = [i for r in renderings for i in (*r.rendered[1], *r.lookups[0::2]) if i in ids]
    assert len(named) > 20
    assert all(i is ids[i] for i in named)
    derived = memos["markdown"].old[links._DERIVED]
    members = [i for group in derived.story_members.values() for i in group]
    sources = [i for entry in derived.backlinks.values() for _, group in entry for i in group]
    assert len(members) > 20 and len(sources) > 20
    assert all(i is ids[i] for i in members + sources)


def test_what_is_derived_from_the_edges_pickles_without_the_edges_the_visits_hold(
    tmp_path: Path,
) -> None:
    content, folder = tmp_path / "content", tmp_path / "cache"
    shutil.copytree(FULL, content)
    assert build(Options(content=content, out=tmp_path / "site", cache=folder)).written
    memo = cache.load(folder, MEMOS)["markdown"].old
    derived = memo[links._DERIVED]
    visits = {k.split(":")[-1]: e[1] for k, e in memo.items() if k.startswith("record:")}
    assert len(derived.edges) > 50
    # As made: every record's edges in turn, the very objects its visit holds.
    assert derived.edges == tuple(e for edges in derived.by_source.values() for e in edges)
    for source, edges in derived.by_source.items():
        assert edges is visits[source].edges
    assert all(e in derived.by_source[e.source] for e in derived.edges)
    made, parts = derived.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert made is links._derived and not any(part is derived.edges for part in parts)
    again = pickle.loads(pickle.dumps(derived, pickle.HIGHEST_PROTOCOL))
    assert type(again) is links._Derived and again == derived


def test_a_records_edges_pickle_as_its_id_and_their_other_fields_made_again_in_c() -> None:
    one, other = ("".join(["tar", "get"]) for _ in range(2))
    edges = links._Edges(
        [Edge("src", one, "mentions", "Mentioned in events"), Edge("src", other, "cites", "Cited")]
    )
    made, (source, fields) = edges.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert made is links._edges and source == "src"
    assert fields == ("target", "mentions", "Mentioned in events", "target", "cites", "Cited")
    assert fields[0] is fields[3]  # interned: written once
    again = pickle.loads(pickle.dumps(edges, pickle.HIGHEST_PROTOCOL))
    assert type(again) is links._Edges and again == edges
    assert [type(edge) for edge in again] == [Edge, Edge]
    assert again[0].source is again[1].source and again[0].target is again[1].target
    # A visit with none keeps the empty tuple: nothing to pickle.
    lone = record("actors", "lone")
    linker = links._Linker(links._World(corpus(lone), frozenset()), cache.Memo())
    assert linker.findings(lone).edges == ()


def test_what_is_derived_loads_each_targets_edges_when_first_asked_for(tmp_path: Path) -> None:
    """`by_target` comes back from the cache as the places of its edges among the visits'
    edges: each target's group is picked (the very edges `by_source` holds) when asked."""
    content, folder = tmp_path / "content", tmp_path / "cache"
    shutil.copytree(FULL, content)
    assert build(Options(content=content, out=tmp_path / "site", cache=folder)).written
    derived = cache.load(folder, MEMOS)["markdown"].old[links._DERIVED]
    by_target = derived.by_target
    assert type(by_target) is links._ByTarget and not by_target._made
    made = links._afresh(derived.stories, dict(derived.by_source))
    assert list(by_target) == list(made.by_target) and len(by_target) == len(made.by_target)
    target = next(iter(made.by_target))
    assert target in by_target and "no-such-record" not in by_target
    assert by_target.get("no-such-record", ()) == () and list(by_target._made) == []
    group = by_target[target]
    assert group == made.by_target[target] and by_target.get(target) is group
    assert list(by_target._made) == [target]  # (only the one asked for)
    for edge in group:
        assert any(e is edge for e in derived.by_source[edge.source])
    assert dict(by_target) == made.by_target
    # Pickled again, the places are those it was loaded with, not worked out anew.
    _, parts = derived.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert parts[2] is by_target.targets and parts[3] is by_target.places


def test_a_rendering_pickles_without_a_dict_or_a_pair_per_lookup() -> None:
    rendered = Rendered("<p>x</p>", ("a", "b"), ("c",), ())
    one, other = ("".join(["tar", "get"]) for _ in range(2))
    lookups = (one, ("target/index.html", "T"), "missing", None)
    both = [links._Rendering(rendered, lookups), links._Rendering(rendered, (other, None))]
    first, second = pickle.loads(pickle.dumps(both, pickle.HIGHEST_PROTOCOL))
    assert type(first) is links._Rendering and first.lookups == lookups
    assert first.lookups[0] is second.lookups[0]  # one str, however many lookups
    # The Rendered as the tuple of its fields (loaded in C), made again when used.
    assert type(first.rendered) is tuple and first.rendered == second.rendered
    made = links._made(first.rendered)
    assert type(made) is Rendered and made == rendered and not hasattr(made, "__dict__")
    assert links._made(rendered) is rendered
    assert pickle.loads(pickle.dumps(first, pickle.HIGHEST_PROTOCOL)) == first
