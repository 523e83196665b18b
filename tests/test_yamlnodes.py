"""Tests for generator.yamlnodes: positions, the contract's YAML rules, hostile input, the suite."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import public_suite
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import yamlnodes
from generator.diagnostics import CATALOGUE, Diagnostic, Location, Severity
from generator.yamlnodes import (
    MAX_DEPTH,
    Mapping,
    Node,
    Scalar,
    Sequence,
    describe,
    load_yaml,
)

PATH = "content/deposits/gyzylbulag.yaml"

_LOADERS = [pytest.param(yaml.SafeLoader, id="python")]
if yaml.__with_libyaml__:
    _LOADERS.insert(0, pytest.param(yaml._yaml.CParser, id="libyaml"))


@pytest.fixture(params=_LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Run a test under libyaml and under the pure-Python fallback."""
    monkeypatch.setattr(yamlnodes, "_LOADER", request.param)
    chosen: type = request.param
    return chosen


def load(text: str, first_line: int = 1) -> tuple[Node | None, list[Diagnostic]]:
    return load_yaml(text, PATH, first_line)


def problems(diagnostics: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.location.line, d.location.column, d.message) for d in diagnostics]


def one(text: str, first_line: int = 1) -> tuple[str, int, int, str]:
    _, diagnostics = load(text, first_line)
    assert len(diagnostics) == 1, problems(diagnostics)
    return problems(diagnostics)[0]


def mapping(node: Node | None) -> Mapping:
    assert isinstance(node, Mapping), node
    return node


def scalar(node: Node | None) -> Scalar:
    assert isinstance(node, Scalar), node
    return node


def sequence(node: Node | None) -> Sequence:
    assert isinstance(node, Sequence), node
    return node


def where(node: Node) -> tuple[int, int]:
    return node.line, node.column


def count_nodes(node: Node | None) -> int:
    if node is None:
        return 0
    if isinstance(node, Scalar):
        return 1
    if isinstance(node, Sequence):
        return 1 + sum(count_nodes(item) for item in node.items)
    return 1 + sum(1 + count_nodes(value) for _, value in node.items)


def test_libyaml_is_used_when_present() -> None:
    if yaml.__with_libyaml__:
        assert yamlnodes._LOADER is yaml._yaml.CParser
    else:
        assert yamlnodes._LOADER is yaml.SafeLoader


# --- positions --------------------------------------------------------------------------------

DEPOSIT = """\
name: Gyzylbulag
aliases:
  - Qızılbulaq
  - "Gizilbulag"
location: {lat: 40.1, lon: 46.2}
"""


@pytest.mark.usefixtures("loader")
def test_positions_of_keys_values_and_items() -> None:
    node, diagnostics = load(DEPOSIT)
    assert diagnostics == []
    root = mapping(node)
    assert where(root) == (1, 1)
    assert root.keys() == ["name", "aliases", "location"]
    keys = {k.value: k for k, _ in root.items}
    assert where(keys["name"]) == (1, 1)
    assert where(keys["aliases"]) == (2, 1)
    assert where(keys["location"]) == (5, 1)
    assert scalar(root.get("name")) == Scalar("Gyzylbulag", 1, 7, plain=True)
    aliases = sequence(root.get("aliases"))
    assert where(aliases) == (3, 3)
    assert aliases.items == (Scalar("Qızılbulaq", 3, 5, True), Scalar("Gizilbulag", 4, 5, False))
    location = mapping(root.get("location"))
    assert where(location) == (5, 11)
    assert [(where(k), where(v)) for k, v in location.items] == [
        ((5, 12), (5, 17)),
        ((5, 23), (5, 28)),
    ]


@pytest.mark.usefixtures("loader")
def test_first_line_offsets_every_line() -> None:
    node, diagnostics = load(DEPOSIT, first_line=2)
    assert diagnostics == []
    root = mapping(node)
    assert where(root) == (2, 1)
    assert [where(item) for item in sequence(root.get("aliases")).items] == [(4, 5), (5, 5)]
    _, diagnostics = load("a: 1\nb: 2\na: 3\n", first_line=2)
    assert problems(diagnostics) == [("E0202", 4, 1, "duplicate key 'a' (first at line 2)")]


@pytest.mark.usefixtures("loader")
def test_crlf_and_lone_cr_count_as_one_line_break() -> None:
    node, diagnostics = load(
        "a: 1\r\nb:\r\n  - x\r\n  - y\r\nt: |\r\n  one\r\n  two\r\nu: 1\r\n", 2
    )
    assert diagnostics == []
    root = mapping(node)
    assert [where(k) for k, _ in root.items] == [(2, 1), (3, 1), (6, 1), (9, 1)]
    assert [where(item) for item in sequence(root.get("b")).items] == [(4, 5), (5, 5)]
    assert scalar(root.get("t")).value == "one\ntwo\n"
    assert one("a: 1\r\nb: 2\r\na: 3\r\n") == (
        "E0202",
        3,
        1,
        "duplicate key 'a' (first at line 1)",
    )
    node, _ = load("a: 1\rb: 2\r")
    assert [where(k) for k, _ in mapping(node).items] == [(1, 1), (2, 1)]


@pytest.mark.usefixtures("loader")
def test_columns_count_characters_not_bytes() -> None:
    node, _ = load("{name: Qızılbulaq, kind: deposit}")
    kind = [k for k, _ in mapping(node).items][1]
    assert (kind.value, where(kind)) == ("kind", (1, 20))
    node, _ = load("- [Qızılbulaq, Gyzylbulag]\n- {a: 😀, b: 1}\n")
    first, second = sequence(node).items
    assert where(sequence(first).items[1]) == (1, 16)
    assert [where(k) for k, _ in mapping(second).items] == [(2, 4), (2, 10)]
    assert one("name: Qızılbulaq, k: v")[:3] == ("E0201", 1, 20)


@pytest.mark.usefixtures("loader")
def test_a_leading_bom_is_not_a_column() -> None:
    node, diagnostics = load("\ufeffname: x\n")
    assert diagnostics == []
    assert [where(k) for k, _ in mapping(node).items] == [(1, 1)]


# --- values stay text ---------------------------------------------------------------------------


@pytest.mark.usefixtures("loader")
def test_scalars_are_the_text_as_typed() -> None:
    text = "a: no\nb: on\nc: 1:30\nd: 017\ne: 2022-12-10\nf: true\ng: 'true'\nh: 1e3\ni: .5\n"
    node, diagnostics = load(text)
    assert diagnostics == []
    values = {k.value: scalar(v) for k, v in mapping(node).items}
    assert {k: v.value for k, v in values.items()} == {
        "a": "no",
        "b": "on",
        "c": "1:30",
        "d": "017",
        "e": "2022-12-10",
        "f": "true",
        "g": "true",
        "h": "1e3",
        "i": ".5",
    }
    assert values["f"].plain and not values["g"].plain


@pytest.mark.usefixtures("loader")
def test_nulls_are_plain_only() -> None:
    node, _ = load('a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: "null"\ng: ""\nh: nil\n')
    nulls = {k.value: scalar(v).is_null for k, v in mapping(node).items}
    assert nulls == dict(a=True, b=True, c=True, d=True, e=True, f=False, g=False, h=False)
    assert where(scalar(mapping(node).get("a"))) == (1, 3)


@pytest.mark.usefixtures("loader")
def test_block_scalars_keep_yaml_semantics() -> None:
    text = (
        "literal: |\n  one\n  two\n\n"
        "folded: >\n  one\n  two\n\n  three\n"
        "strip: |-\n  x\n\n"
        "keep: |+\n  x\n\n"
        "after: 1\n"
    )
    node, diagnostics = load(text)
    assert diagnostics == []
    root = mapping(node)
    values = {k.value: scalar(v).value for k, v in root.items}
    assert values == {
        "literal": "one\ntwo\n",
        "folded": "one two\nthree\n",
        "strip": "x",
        "keep": "x\n\n",
        "after": "1",
    }
    assert where(scalar(root.get("folded"))) == (5, 9)
    assert not scalar(root.get("literal")).plain
    assert where([k for k, _ in root.items][-1]) == (16, 1)


@pytest.mark.usefixtures("loader")
def test_flow_style_and_multi_line_values() -> None:
    text = 'tags: [gold, "copper", {k: v}]\nsummary: first\n  second\nq: "a\n  b"\n'
    node, diagnostics = load(text)
    assert diagnostics == []
    root = mapping(node)
    tags = sequence(root.get("tags"))
    assert [where(item) for item in tags.items] == [(1, 8), (1, 14), (1, 24)]
    assert mapping(tags.items[2]).get("k") == Scalar("v", 1, 28, True)
    assert scalar(root.get("summary")).value == "first second"
    assert scalar(root.get("q")) == Scalar("a b", 4, 4, False)


@pytest.mark.usefixtures("loader")
def test_empty_documents_give_nothing() -> None:
    for text in ("", "   \n\n", "# only a comment\n", "---\n", "--- # c\n", "\ufeff"):
        assert load(text) == (None, []), repr(text)
    assert load("~") == (Scalar("~", 1, 1, True), [])
    assert load("---\na: 1\n...\n")[1] == []


def test_mapping_helpers_and_describe() -> None:
    node, _ = load("b: 1\na: [x]\nc: {d: e}\n")
    root = mapping(node)
    assert root.keys() == ["b", "a", "c"]
    assert root.get("zzz") is None
    assert [describe(v) for _, v in root.items] == ["text", "a list", "a mapping"]


# --- parse errors, in an editor's words ---------------------------------------------------------


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "title: Baku: demands halt\n",
            ("E0201", 1, 12, "a value contains ': '; put the value in quotes"),
        ),
        (
            'summary: "Gold mining\nkind: deposit\n',
            ("E0201", 1, 10, 'the quote (") opened here is never closed; add the closing "'),
        ),
        (
            "summary: 'Gold mining\n",
            ("E0201", 1, 10, "the quote (') opened here is never closed; add the closing '"),
        ),
        (
            "a:\n  b: 1\n c: 2\n",
            (
                "E0201",
                3,
                2,
                "this line does not line up with the keys above it; check the indentation",
            ),
        ),
        (
            "a: 1\n- b\n",
            (
                "E0201",
                2,
                1,
                "a list item ('- ') where a 'key: value' line was expected; check the indentation",
            ),
        ),
        (
            "a: - b\n",
            (
                "E0201",
                1,
                4,
                "a list item ('- ') cannot start here; put each item on its own line below its key",
            ),
        ),
        (
            "name: Gyzylbulag\nkind deposit\n",
            (
                "E0201",
                2,
                1,
                "this line has no ':' after its key; add it, "
                "or indent the line if it continues the text above",
            ),
        ),
        (
            "a: 1\n b: 2\n",
            (
                "E0201",
                2,
                3,
                "unexpected ':' here; this line continues the text begun on line 1: "
                "check the indentation, or a missing ':' on line 1",
            ),
        ),
        (
            "tags: [gold, copper\nkind: deposit\n",
            (
                "E0201",
                2,
                5,
                "the list in [ ] opened at line 1 needs a ',' between items or a closing ']'",
            ),
        ),
        (
            "handle: @hajiyev\n",
            ("E0201", 1, 9, "a value cannot start with '@'; put the value in quotes"),
        ),
        (
            "note: *important* claim\n",
            ("E0201", 1, 7, "a value cannot start with '*'; put the value in quotes"),
        ),
        (
            "a: | x\n",
            (
                "E0201",
                1,
                6,
                "after '|' or '>' only a comment may follow on the same line; "
                "start the text on the next line, indented",
            ),
        ),
    ],
)
def test_parse_errors_are_located_and_explained(
    text: str, expected: tuple[str, int, int, str]
) -> None:
    assert one(text) == expected


@pytest.mark.usefixtures("loader")
def test_bad_escapes_name_the_escape() -> None:
    code, line, _, message = one('path: "C:\\Users\\x"\n')
    assert (code, line) == ("E0201", 1)
    assert message == (
        "invalid escape '\\U' in double quotes; write '\\\\' for a backslash, or use single quotes"
    )


@pytest.mark.usefixtures("loader")
def test_a_parse_error_stops_without_cascading() -> None:
    node, diagnostics = load('a: 1\nb: "x\nc: 2\nd: [\ne: }\n')
    assert problems(diagnostics) == [
        ("E0201", 2, 4, 'the quote (") opened here is never closed; add the closing "')
    ]
    assert mapping(node).get("a") == Scalar("1", 1, 4, True)


@pytest.mark.usefixtures("loader")
def test_first_line_moves_parse_errors_too() -> None:
    assert one("title: Baku: demands halt\n", first_line=2)[:3] == ("E0201", 2, 12)


# --- duplicate keys -----------------------------------------------------------------------------


@pytest.mark.usefixtures("loader")
def test_duplicate_key_names_the_first() -> None:
    node, diagnostics = load("id: x\nname: a\nkind: deposit\nname: b\n")
    assert problems(diagnostics) == [("E0202", 4, 1, "duplicate key 'name' (first at line 2)")]
    assert scalar(mapping(node).get("name")).value == "a"
    assert mapping(node).keys() == ["id", "name", "kind"]


@pytest.mark.usefixtures("loader")
def test_duplicates_are_per_mapping_and_by_text() -> None:
    assert load("a:\n  x: 1\nb:\n  x: 2\n")[1] == []
    assert one('"name": a\nname: b\n') == ("E0202", 2, 1, "duplicate key 'name' (first at line 1)")
    assert one("- {k: 1, k: 2}\n") == ("E0202", 1, 10, "duplicate key 'k' (first at line 1)")


# --- tags, anchors, aliases, merge keys ----------------------------------------------------------


@pytest.mark.usefixtures("loader")
def test_tags_anchors_aliases_and_merge_keys_are_refused() -> None:
    text = "base: &base {kind: deposit}\nmine:\n  <<: *base\n  name: !!str Damirli\n"
    node, diagnostics = load(text)
    assert problems(diagnostics) == [
        (
            "E0203",
            1,
            7,
            "anchors ('&base') are not allowed; if '&' is part of the text, "
            "put the value in quotes",
        ),
        (
            "E0203",
            3,
            3,
            "merge keys ('<<') are not allowed; write the fields out in full",
        ),
        (
            "E0203",
            3,
            7,
            "aliases ('*base') are not allowed; if '*' is part of the text, "
            "put the value in quotes",
        ),
        (
            "E0203",
            4,
            9,
            "tags ('!!str') are not allowed; if '!' is part of the text, put the value in quotes",
        ),
    ]
    # Nothing is merged or expanded: 'mine' holds only what it spells out.
    mine = mapping(mapping(node).get("mine"))
    assert mine.keys() == ["name"]


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "shown", "column"),
    [
        ("run: !!python/object/apply:os.system [ls]\n", "!!python/object/apply:os.system", 6),
        ("a: !local x\n", "!local", 4),
        ("! x\n", "!", 1),
    ],
)
def test_every_tag_is_refused(text: str, shown: str, column: int) -> None:
    code, line, col, message = one(text)
    assert (code, line, col) == ("E0203", 1, column)
    assert message.startswith(f"tags ('{shown}') are not allowed")


@pytest.mark.usefixtures("loader")
def test_aliases_are_left_out_never_expanded() -> None:
    node, diagnostics = load("a: &x 1\nb: *x\nc: [*x, 2]\n*x : d\n")
    assert [d.code for d in diagnostics] == ["E0203"] * 4
    root = mapping(node)
    assert root.keys() == ["a", "c"]
    assert sequence(root.get("c")).items == (Scalar("2", 3, 9, True),)


@pytest.mark.usefixtures("loader")
def test_billion_laughs_is_refused_fast_without_expansion() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    node, diagnostics = load("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 0.5
    assert count_nodes(node) < 40
    assert {d.code for d in diagnostics} == {"E0203"}
    # 9 anchors and 72 aliases, but a journalist is shown at most 21 lines of it.
    assert len(diagnostics) == 21
    assert diagnostics[-1].message.endswith("(and more like this; only the first 20 are listed)")


# --- indentation characters ---------------------------------------------------------------------


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a:\n\tb: 1\n", 2, 1),
        ("a:\n  \tb: 1\n", 2, 3),
        ("a:\n  b: 1\n\tc: 2\n", 3, 1),
        ("- x\n\t- y\n", 2, 1),
        ("\t# a comment\na: 1\n", 1, 1),
    ],
)
def test_tab_indentation_is_one_error_per_line(text: str, line: int, column: int) -> None:
    assert one(text) == ("E0204", line, column, "tab used for indentation; use spaces")


@pytest.mark.usefixtures("loader")
def test_non_breaking_and_other_unicode_spaces_in_indentation() -> None:
    assert one("a: 1\n\u00a0\u00a0b: 2\n") == (
        "E0204",
        2,
        1,
        "a non-breaking space used for indentation; use ordinary spaces",
    )
    assert one("a:\n  \u00a0b: 2\n")[:3] == ("E0204", 2, 3)
    assert one("a: 1\n\u2003b: 2\n") == (
        "E0204",
        2,
        1,
        "a Unicode space (U+2003 EM SPACE) used for indentation; use ordinary spaces",
    )


@pytest.mark.usefixtures("loader")
def test_tabs_inside_text_are_fine() -> None:
    # (Tabs around plain text are valid YAML too, but the pure-Python parser refuses them.)
    node, diagnostics = load("code: |\n  x\n  \ty\nq: 'a\tb'\n")
    assert diagnostics == []
    values = {k.value: scalar(v).value for k, v in mapping(node).items}
    assert values == {"code": "x\n\ty\n", "q": "a\tb"}


# --- documents and depth ------------------------------------------------------------------------

SECOND = (
    "a second YAML document starts here; a file holds only one (remove the extra '---' or '...')"
)


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\n---\nb: 2\n", 2),
        ("---\na: 1\n---\n", 3),
        ("a: 1\n...\nb: 2\n", 3),
        ("a: 1\n...\n---\nb: 2\n", 3),
    ],
)
def test_more_than_one_document(text: str, line: int) -> None:
    node, diagnostics = load(text)
    assert problems(diagnostics) == [("E0205", line, 1, SECOND)]
    assert mapping(node).keys() == ["a"]


def nested_flow(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.usefixtures("loader")
def test_nesting_up_to_the_limit_is_fine() -> None:
    node, diagnostics = load(nested_flow(MAX_DEPTH))
    assert diagnostics == []
    for _ in range(MAX_DEPTH - 1):
        node = sequence(node).items[0]
    assert sequence(node).items == ()


@pytest.mark.usefixtures("loader")
def test_nesting_past_the_limit_is_located_at_the_node_too_deep() -> None:
    message = f"nested more than {MAX_DEPTH} levels deep; simplify this"
    node, diagnostics = load(nested_flow(MAX_DEPTH + 1))
    assert problems(diagnostics) == [("E0207", 1, MAX_DEPTH + 1, message)]
    assert isinstance(node, Sequence)
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 30 + "x: 1\n"
    assert one(block) == ("E0207", MAX_DEPTH + 1, 2 * MAX_DEPTH + 1, message)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "- " * 100_000,
        "{a: " * 100_000,
        "a:\n" + "".join(" " * i + "a:\n" for i in range(1, 3000)),
    ],
    ids=["flow-seq", "block-seq", "flow-map", "block-map"],
)
def test_deep_nesting_stops_fast(text: str, loader: type) -> None:
    # The pure-Python parser scans ahead up to 1024 characters per pending flow key.
    limit = 0.5 if loader is getattr(yaml, "CSafeLoader", None) else 2.0
    started = time.perf_counter()
    _, diagnostics = load(text)
    assert time.perf_counter() - started < limit
    assert [d.code for d in diagnostics] == ["E0207"]


@pytest.mark.usefixtures("loader")
def test_deep_nesting_memory_stays_flat() -> None:
    text = "[" * 1_000_000
    tracemalloc.start()
    try:
        _, diagnostics = load(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [d.code for d in diagnostics] == ["E0207"]
    # A token or node per bracket would be ~100 MB; the text and its UTF-8 copy are ~2 MB.
    assert peak < 8_000_000


# --- keys ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("loader")
@pytest.mark.parametrize(
    ("text", "column", "kind"),
    [
        ("? [a, b]\n: c\nd: 1\n", 3, "a list"),
        ("{a: 1}: x\nd: 1\n", 1, "a mapping"),
        ("[a]: x\nd: 1\n", 1, "a list"),
    ],
)
def test_keys_must_be_text(text: str, column: int, kind: str) -> None:
    node, diagnostics = load(text)
    assert problems(diagnostics) == [("E0201", 1, column, f"keys must be plain text, not {kind}")]
    assert mapping(node).keys() == ["d"]


# --- what libyaml lets through but YAML forbids -------------------------------------------------

COMMENT = (
    "a comment needs a space before '#'; add one, "
    "or put the value in quotes if the '#' belongs to it"
)


@pytest.mark.usefixtures("loader")
def test_a_comment_needs_a_space_before_it() -> None:
    text = 'a: "v"#c\nb: [x]#c\n'
    assert problems(load(text)[1]) == [("E0201", 1, 7, COMMENT), ("E0201", 2, 7, COMMENT)]
    # The pure-Python parser refuses this one itself, with its block-header message.
    assert one("c: >#c\n  t\n")[:3] == ("E0201", 1, 5)
    fine = "url: http://x.org/#top # c\nk: 'v' # c\nn: b#c\n# a#b\ns: 'x#y'\n"
    assert load(fine)[1] == []


@pytest.mark.usefixtures("loader")
def test_continuation_lines_must_be_indented() -> None:
    assert one('quote: "He said\nthat it was"\n') == (
        "E0201",
        2,
        1,
        "this line continues the quoted text begun on line 1; indent it by at least 1 space",
    )
    assert one("a:\n  tags: [gold,\n  copper]\n") == (
        "E0201",
        3,
        1,
        "this line continues the list in [ ] begun on line 2; indent it by at least 3 spaces",
    )
    fine = 'quote: "He said\n  that"\ncoordinates: [\n  40.1, 46.2\n]\nm: {\n  a: 1 }\n'
    assert load(fine)[1] == []


@pytest.mark.usefixtures("loader")
def test_blank_lines_after_a_block_indicator_may_not_be_wider_than_the_text() -> None:
    message = (
        "this blank line has more spaces than the first line of text after '|'; "
        "delete the spaces on this line"
    )
    # libyaml alone would blame line 3 for not lining up.
    assert one("text: |\n      \n  body\nnext: 1\n") == ("E0201", 2, 3, message)
    assert one("text: |\n   \nnext: 1\n") == ("E0201", 2, 1, message)
    assert load("text: |\n  \n  body\n\n  more\n   \n")[1] == []


@pytest.mark.usefixtures("loader")
def test_a_lone_dash_in_a_flow_collection() -> None:
    assert one("a: [x, -]\n") == (
        "E0201",
        1,
        8,
        "a lone '-' is not a value inside [ ] or { }; quote it",
    )
    assert load("a: [x, '-', -1, -x]\n")[1] == []


# --- characters YAML refuses --------------------------------------------------------------------


@pytest.mark.usefixtures("loader")
def test_control_characters_and_surrogates_are_located() -> None:
    assert load("a: b\x07\n") == (
        None,
        [
            Diagnostic(
                Location(PATH, 1, 5),
                Severity.ERROR,
                "E0104",
                "control character U+0007 is not allowed in YAML; delete it",
            )
        ],
    )
    assert one("a: b\n\ud800") == (
        "E0104",
        2,
        1,
        "character U+D800 is not allowed in YAML; delete it",
    )


# --- never raises -------------------------------------------------------------------------------

_YAMLISH = st.text(
    alphabet=st.sampled_from(list(" \t\n\r-:[]{},#&*!|>'\"?%@`~.abk1\u00a0\u2003é😀\x85\ufeff")),
    max_size=60,
)


def _check_diagnostics(text: str, diagnostics: list[Diagnostic], first_line: int) -> None:
    last_line = first_line + text.count("\n") + text.count("\r") + 1
    for d in diagnostics:
        assert d.code in CATALOGUE
        assert "\n" not in d.message
        assert d.location.path == PATH
        assert first_line <= d.location.line <= last_line
        assert d.location.column >= 1


@settings(max_examples=300, deadline=None)
@given(text=_YAMLISH | st.text(max_size=60), first_line=st.integers(1, 3))
def test_never_raises(text: str, first_line: int) -> None:
    _, diagnostics = load(text, first_line)
    _check_diagnostics(text, diagnostics, first_line)


# --- the YAML test suite ------------------------------------------------------------------------


def suite_folder() -> Path:
    """The YAML test suite; skipped without FACTSHEET_TESTDATA, except under CI."""
    return public_suite("yaml-test-suite")


def suite_cases() -> Iterator[tuple[Path, str]]:
    for path in sorted(suite_folder().rglob("in.yaml")):
        yield path, path.read_bytes().decode("utf-8")


def test_suite_folder_needs_the_variable_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACTSHEET_TESTDATA", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        suite_folder()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        suite_folder()


@pytest.mark.usefixtures("loader")
def test_yaml_test_suite() -> None:
    cases = list(suite_cases())
    # Its README: 402 documents (some in numbered sub-folders of a case).
    assert len(cases) == 402
    missed = []
    for path, text in cases:
        _, diagnostics = load_yaml(text, PATH)
        _check_diagnostics(text, diagnostics, 1)
        if (path.parent / "error").exists() and not any(
            d.code.startswith("E02") for d in diagnostics
        ):
            missed.append(str(path.parent))
    assert missed == []
