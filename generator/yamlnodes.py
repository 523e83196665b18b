"""Read YAML text into a small tree of nodes that remember where they are in the file.

Input: the text of one YAML document (a fact file, or a story's front matter) and its path.
Output: a tree of `Scalar`/`Sequence`/`Mapping` nodes plus located `Diagnostic`s; never raises.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from typing import Any, NamedTuple

import yaml

from .diagnostics import Diagnostic, Location, Severity

__all__ = ["MAX_DEPTH", "NULLS", "Mapping", "Node", "Scalar", "Sequence", "describe", "load_yaml"]

MAX_DEPTH = 20

# libyaml is ~10x faster; both give the same events, with marks counted in characters.
# Only events are read: libyaml's parser alone, without the loader's constructor and
# resolver, which cost a third of the events' time to set up for every document.
_LOADER: Any = yaml._yaml.CParser if yaml.__with_libyaml__ else yaml.SafeLoader

NULLS = frozenset(("", "~", "null", "Null", "NULL"))


# Tuples (NamedTuple): a build makes some 15 of them per fact file; a tuple is made by one C
# call, where a frozen dataclass sets each field through `object.__setattr__`.
class Scalar(NamedTuple):
    """Text exactly as YAML gives it; no type is guessed (the generator converts per field)."""

    value: str
    line: int
    column: int
    plain: bool

    @property
    def is_null(self) -> bool:
        return self.plain and self.value in NULLS


class Sequence(NamedTuple):
    items: tuple[Node, ...]
    line: int
    column: int


class Mapping(NamedTuple):
    items: tuple[tuple[Scalar, Node], ...]
    line: int
    column: int

    def get(self, key: str) -> Node | None:
        for k, v in self.items:
            if k.value == key:
                return v
        return None

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.items]


Node = Scalar | Sequence | Mapping


def describe(node: Node) -> str:
    """How a node's type reads in an error message ("expected a list, not text")."""
    if isinstance(node, Scalar):
        return "text"
    if isinstance(node, Sequence):
        return "a list"
    return "a mapping"


def load_yaml(text: str, path: str, first_line: int = 1) -> tuple[Node | None, list[Diagnostic]]:
    """Parse one YAML document; (None, []) when it holds nothing but blanks and comments."""
    # The BOM warning is the caller's; editors show the character after it as column 1.
    if text.startswith("\ufeff"):
        text = text[1:]
    return _Reader(text, path, first_line).read()


# --- internals -------------------------------------------------------------------------------

# What PyYAML's reader refuses. Checked up front: libyaml reports it as a byte offset, and
# the C parser raises UnicodeEncodeError (not a YAMLError) on a lone surrogate.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# Editors break lines at these; libyaml also breaks at U+0085/U+2028/U+2029, so positions
# are taken from the character index, never from the parser's own line count.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Characters that look like a space in an editor but are not YAML indentation.
_ODD_SPACES = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000\u200b\u2060\ufeff"
)
_LEADING = re.compile(f"[ \\t{_ODD_SPACES}]*")
_ODD_INDENT_CHAR = re.compile(f"[\\t{_ODD_SPACES}]")
_BLOCK_HEADER = re.compile(r"[|>]([-+]?[1-9]?|[1-9][-+])")
_HASH = re.compile("#")
_COLLECTION_STARTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
# More than this many diagnostics of one code is noise (think of 10,000 aliases).
_MAX_PER_CODE = 20


class _Open:
    """A collection whose end event has not come yet."""

    __slots__ = ("expect_key", "flow", "indent", "index", "items", "key", "mapping", "seen")

    def __init__(self, mapping: bool, flow: bool, index: int, indent: int) -> None:
        self.mapping = mapping
        self.flow = flow
        self.index = index
        self.indent = indent
        self.items: list[Any] = []
        self.expect_key = True
        # None while the coming value is to be dropped (its key was refused).
        self.key: Scalar | None = None
        self.seen: dict[str, int] = {}


class _Reader:
    def __init__(self, text: str, path: str, first_line: int) -> None:
        self.text = text
        self.path = path
        self.first_line = first_line
        self.line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
        self.diagnostics: list[Diagnostic] = []
        self.per_code: dict[str, int] = {}
        self.stack: list[_Open] = []
        self.root: Node | None = None
        self.root_is_bare_empty = False
        self.documents = 0
        self.explicit_document_end = False
        self.last_scalar_row = -1
        self.block_rows: set[int] = set()
        self.scalar_spans: list[tuple[int, int]] = []
        # Where reading stopped early: later text is not checked any further.
        self.stop_index: int | None = None
        self.parse_diagnostic: Diagnostic | None = None
        # Rows where an earlier, clearer diagnostic explains the parser's complaint.
        self.explained_rows: set[int] = set()

    # positions and reporting

    def row(self, index: int) -> int:
        return bisect_right(self.line_starts, index) - 1

    def location(self, index: int) -> Location:
        row = self.row(index)
        return Location(self.path, self.first_line + row, index - self.line_starts[row] + 1)

    def index_of(self, node: Node) -> int:
        return self.line_starts[node.line - self.first_line] + node.column - 1

    def char_at(self, index: int) -> str:
        return self.text[index] if 0 <= index < len(self.text) else ""

    def line_text(self, row: int) -> str:
        end = self.line_starts[row + 1] if row + 1 < len(self.line_starts) else len(self.text)
        return self.text[self.line_starts[row] : end].rstrip("\r\n")

    def error(self, index: int, code: str, message: str) -> Diagnostic | None:
        count = self.per_code.get(code, 0) + 1
        self.per_code[code] = count
        if count > _MAX_PER_CODE + 1:
            return None
        if count == _MAX_PER_CODE + 1:
            message += f" (and more like this; only the first {_MAX_PER_CODE} are listed)"
        diagnostic = Diagnostic(self.location(index), Severity.ERROR, code, message)
        self.diagnostics.append(diagnostic)
        return diagnostic

    # the main loop

    def read(self) -> tuple[Node | None, list[Diagnostic]]:
        bad = _NON_PRINTABLE.search(self.text)
        if bad:
            self.error(bad.start(), "E0104", _bad_character(bad.group()))
            return None, self.diagnostics
        self.parse_events()
        self.unwind()
        self.check_indentation()
        self.check_comments()
        parsed = self.parse_diagnostic
        if parsed is not None and parsed.location.line - self.first_line in self.explained_rows:
            self.diagnostics.remove(parsed)
        self.diagnostics.sort(key=Diagnostic.sort_key)
        return (None if self.root_is_bare_empty else self.root), self.diagnostics

    def parse_events(self) -> None:
        # What yaml.parse does, without a generator between the parser and each event.
        loader = None
        try:
            loader = _LOADER(self.text)
            while loader.check_event():
                if not self.take(loader.get_event()):
                    return
        except yaml.MarkedYAMLError as err:
            self.parse_error(err)
        except yaml.YAMLError:
            # Only the reader raises unmarked errors, and read() has refused its characters.
            self.stop_index = 0
            self.parse_diagnostic = self.error(0, "E0201", _UNREADABLE)
        finally:
            if loader is not None:
                loader.dispose()

    def take(self, event: yaml.Event) -> bool:
        """Apply one event to the tree; False means stop reading."""
        index = event.start_mark.index if event.start_mark is not None else 0
        end = event.end_mark.index if event.end_mark is not None else index
        if isinstance(event, yaml.ScalarEvent):
            self.take_scalar(event, index, end)
        elif isinstance(event, _COLLECTION_STARTS):
            self.check_properties(event, index)
            if len(self.stack) >= MAX_DEPTH:
                self.too_deep(index)
                return False
            indent = index - self.line_starts[self.row(index)]
            mapping = isinstance(event, yaml.MappingStartEvent)
            self.stack.append(_Open(mapping, bool(event.flow_style), index, indent))
        elif isinstance(event, _COLLECTION_ENDS):
            done = self.stack.pop()
            if done.flow and self.stack and not self.stack[-1].flow:
                thing = "mapping in { }" if done.mapping else "list in [ ]"
                self.check_continuation(done.index, index, thing, flow=True)
            self.attach(_close(done, *self.line_column(done.index)))
        elif isinstance(event, yaml.AliasEvent):
            self.error(
                index,
                "E0203",
                f"aliases ('*{event.anchor}') are not allowed; "
                "if '*' is part of the text, put the value in quotes",
            )
            # Never expanded: the alias is simply left out of the tree.
            self.attach(None)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.stop_index = index
                self.error(index, "E0205", _SECOND_DOCUMENT)
                return False
        elif isinstance(event, yaml.DocumentEndEvent):
            self.explicit_document_end = bool(event.explicit)
        return True

    def take_scalar(self, event: yaml.ScalarEvent, index: int, end: int) -> None:
        # The hottest code of a build's parse stage: one call per scalar in the content.
        if event.anchor is not None or event.tag is not None:
            self.check_properties(event, index)
        row = bisect_right(self.line_starts, index) - 1
        style = event.style
        scalar = Scalar(
            event.value, self.first_line + row, index - self.line_starts[row] + 1, not style
        )
        self.last_scalar_row = row
        stack = self.stack
        in_flow = bool(stack) and stack[-1].flow
        if style == "|" or style == ">":
            content = self.block_scalar(index, end)
            self.scalar_spans.append((content, end))
        else:
            self.scalar_spans.append((index, end))
            if (style == '"' or style == "'") and stack and not in_flow:
                self.check_continuation(index, max(index, end - 1), "quoted text", flow=False)
        if scalar.plain and scalar.value == "-" and in_flow:
            self.error(index, "E0201", "a lone '-' is not a value inside [ ] or { }; quote it")
        if not stack and scalar.plain and scalar.value == "":
            self.root_is_bare_empty = event.tag is None and event.anchor is None
        self.attach(scalar)

    def line_column(self, index: int) -> tuple[int, int]:
        row = bisect_right(self.line_starts, index) - 1
        return self.first_line + row, index - self.line_starts[row] + 1

    def check_properties(
        self, event: yaml.ScalarEvent | yaml.MappingStartEvent | yaml.SequenceStartEvent, index: int
    ) -> None:
        # A node's start mark is at its first property, so this points at the '&' or '!'.
        if event.anchor is not None:
            self.error(
                index,
                "E0203",
                f"anchors ('&{event.anchor}') are not allowed; "
                "if '&' is part of the text, put the value in quotes",
            )
        if event.tag is not None:
            self.error(
                index,
                "E0203",
                f"tags ('{_short_tag(event.tag)}') are not allowed; "
                "if '!' is part of the text, put the value in quotes",
            )

    def too_deep(self, index: int) -> None:
        self.stop_index = index
        self.error(index, "E0207", f"nested more than {MAX_DEPTH} levels deep; simplify this")

    def attach(self, node: Node | None, quiet: bool = False) -> None:
        """Hand a finished node (None: one that was refused) to the collection it is in."""
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if not parent.mapping:
            if node is not None:
                parent.items.append(node)
            return
        if not parent.expect_key:
            parent.expect_key = True
            if parent.key is not None and node is not None:
                parent.items.append((parent.key, node))
            parent.key = None
            return
        parent.expect_key = False
        parent.key = None
        if node is None or quiet:
            return
        if not isinstance(node, Scalar):
            self.error(
                self.index_of(node), "E0201", f"keys must be plain text, not {describe(node)}"
            )
        elif node.plain and node.value == "<<":
            self.error(
                self.index_of(node),
                "E0203",
                "merge keys ('<<') are not allowed; write the fields out in full",
            )
        elif node.value in parent.seen:
            self.error(
                self.index_of(node),
                "E0202",
                f"duplicate key '{node.value}' (first at line {parent.seen[node.value]})",
            )
        else:
            parent.seen[node.value] = node.line
            parent.key = node

    def unwind(self) -> None:
        """After an early stop, keep what was read: close the open collections as they are."""
        while self.stack:
            done = self.stack.pop()
            self.attach(_close(done, *self.line_column(done.index)), quiet=True)

    # rules libyaml does not enforce (the YAML test suite's invalid cases)

    def check_continuation(self, start: int, end: int, thing: str, flow: bool) -> None:
        """Lines inside a quoted or [ ]/{ } value must be indented past their block parent."""
        first, last = self.row(start), self.row(end)
        if first == last:
            return
        need = next((o.indent for o in reversed(self.stack) if not o.flow), -1) + 1
        for row in range(first + 1, last + 1):
            line = self.line_text(row)
            content = line.lstrip(" ")
            if not content.strip(" \t") or (flow and content[0] in "#]}"):
                # A closing bracket under its key is common and harmless; allow it.
                continue
            if len(line) - len(content) < need:
                spaces = "space" if need == 1 else "spaces"
                self.error(
                    self.line_starts[row],
                    "E0201",
                    f"this line continues the {thing} begun on line {self.first_line + first}; "
                    f"indent it by at least {need} {spaces}",
                )
                self.explained_rows.add(row)
                return

    def block_scalar(self, start: int, end: int) -> int:
        """Check a | or > scalar's leading blank lines; return where its content starts."""
        header_row = self.row(start)
        content = (
            self.line_starts[header_row + 1]
            if header_row + 1 < len(self.line_starts)
            else len(self.text)
        )
        last = self.row(end)
        if end == self.line_starts[last]:
            last -= 1
        # Content lines may hold tabs: they are text, not indentation.
        self.block_rows.update(range(header_row + 1, last + 1))
        header = _BLOCK_HEADER.search(self.text, start, content)
        if header is None or any(c.isdigit() for c in header.group()):
            return content
        # YAML forbids leading blank lines wider than the first line of text (libyaml does
        # not, or reports it later as a confusing indentation error).
        widest, widest_row = 0, -1
        for row in range(header_row + 1, len(self.line_starts)):
            line = self.line_text(row)
            if line.strip(" "):
                indent = len(line) - len(line.lstrip(" "))
                if widest > indent:
                    self.error(
                        self.line_starts[widest_row] + indent,
                        "E0201",
                        f"this blank line has more spaces than the first line of text after "
                        f"'{header.group()[0]}'; delete the spaces on this line",
                    )
                    self.explained_rows.add(row)
                return content
            if len(line) > widest:
                widest, widest_row = len(line), row
        return content

    def check_comments(self) -> None:
        """A '#' starts a comment only after a space; libyaml accepts `"x"#c` and `]#c`."""
        if "#" not in self.text:
            return
        limit = len(self.text) if self.stop_index is None else self.stop_index
        starts = [s for s, _ in self.scalar_spans]
        skip_until = 0
        for match in _HASH.finditer(self.text, 0, limit):
            at = match.start()
            if at < skip_until:
                continue
            k = bisect_right(starts, at) - 1
            if k >= 0 and at < self.scalar_spans[k][1]:
                continue
            row = self.row(at)
            skip_until = self.line_starts[row + 1] if row + 1 < len(self.line_starts) else limit
            if at > self.line_starts[row] and self.text[at - 1] not in " \t":
                self.error(
                    at,
                    "E0201",
                    "a comment needs a space before '#'; add one, "
                    "or put the value in quotes if the '#' belongs to it",
                )
                self.explained_rows.add(row)

    def check_indentation(self) -> None:
        if not _ODD_INDENT_CHAR.search(self.text):
            return
        last_row = len(self.line_starts) - 1
        if self.stop_index is not None:
            last_row = self.row(self.stop_index)
        for row in range(last_row + 1):
            if row in self.block_rows:
                continue
            start = self.line_starts[row]
            lead = _LEADING.match(self.text, start)
            assert lead is not None  # the pattern matches the empty string
            after = self.char_at(lead.end())
            if after in ("", "\r", "\n", "#") or not lead.group().strip(" "):
                continue
            offset = next(i for i, ch in enumerate(lead.group()) if ch != " ")
            self.error(start + offset, "E0204", _indent_message(lead.group()[offset]))
            self.explained_rows.add(row)

    # parser errors

    def parse_error(self, err: yaml.MarkedYAMLError) -> None:
        problem = err.problem or ""
        context = err.context or ""
        mark = err.problem_mark or err.context_mark
        index = mark.index if mark is not None else 0
        context_index = err.context_mark.index if err.context_mark is not None else index
        self.stop_index = index
        if "maximum nesting depth" in problem:
            self.deep_nesting(index)
            return
        code, where, message = self.explain(problem, context, index, context_index)
        self.parse_diagnostic = self.error(where, code, message)

    def deep_nesting(self, index: int) -> None:
        # libyaml looks ahead for flow keys and hits its own limit (1000) before any event
        # of ours goes too deep; reading only the text before that point finds the node.
        probe = _Reader(self.text[:index], self.path, self.first_line)
        probe.parse_events()
        if probe.stop_index is not None and probe.per_code.get("E0207"):
            index = probe.stop_index
        self.too_deep(index)

    def explain(
        self, problem: str, context: str, index: int, context_index: int
    ) -> tuple[str, int, str]:
        """A parser complaint in an editor's words: (code, where, message)."""
        char = self.char_at(index)
        if "mapping values are not allowed" in problem or "unexpected ':'" in problem:
            if 0 <= self.last_scalar_row < self.row(index):
                begun = self.first_line + self.last_scalar_row
                return (
                    "E0201",
                    index,
                    f"unexpected ':' here; this line continues the text begun on line {begun}: "
                    f"check the indentation, or a missing ':' on line {begun}",
                )
            return "E0201", index, "a value contains ': '; put the value in quotes"
        if "tab character" in problem or ("cannot start any token" in problem and char == "\t"):
            if self.text[self.line_starts[self.row(index)] : index].strip(" \t"):
                return "E0204", index, "a tab character here; use spaces"
            return "E0204", index, "tab used for indentation; use spaces"
        if "cannot start any token" in problem:
            return "E0201", index, f"a value cannot start with '{char}'; put the value in quotes"
        if "quoted scalar" in context and ("end of stream" in problem or "document" in problem):
            # The end of the file is no help; the opening quote is.
            quote = self.char_at(context_index)
            return (
                "E0201",
                context_index,
                f"the quote ({quote}) opened here is never closed; add the closing {quote}",
            )
        if "could not find expected ':'" in problem:
            return "E0201", context_index, _MISSING_COLON
        if "quoted scalar" in context:
            start = self.text.rfind("\\", max(0, index - 12), index + 1)
            escape = self.text[start : start + 2] if start >= 0 else "\\"
            return (
                "E0201",
                index,
                f"invalid escape '{escape}' in double quotes; write '\\\\' for a backslash, "
                "or use single quotes",
            )
        if "block scalar" in context:
            return "E0201", index, _BAD_BLOCK_HEADER
        if "directive" in context or "directive" in problem or "incompatible" in problem:
            return "E0201", context_index, _DIRECTIVE
        if "tag" in context or "tag handle" in problem:
            return (
                "E0203",
                context_index,
                "tags ('!') are not allowed; if '!' is part of the text, put the value in quotes",
            )
        if "anchor" in context or "alias" in context:
            first = self.char_at(context_index)
            return (
                "E0201",
                context_index,
                f"a value cannot start with '{first}'; put the value in quotes",
            )
        if "document start" in problem and not context:
            if self.explicit_document_end:
                return "E0205", index, _SECOND_DOCUMENT
            return "E0201", index, _AFTER_END
        if "sequence entries are not allowed" in problem:
            return "E0201", index, _DASH_HERE
        if "block mapping" in context:
            return "E0201", index, _DASH_IN_MAPPING if char == "-" else _KEY_MISALIGNED
        if "block collection" in context:
            return "E0201", index, _ITEM_MISALIGNED
        opened = self.location(context_index).line
        if "flow sequence" in context:
            return (
                "E0201",
                index,
                f"the list in [ ] opened at line {opened} needs a ',' between items "
                "or a closing ']'",
            )
        if "flow mapping" in context:
            return (
                "E0201",
                index,
                f"the mapping in {{ }} opened at line {opened} needs a ',' between entries "
                "or a closing '}'",
            )
        if "node content" in problem:
            return "E0201", index, "a value is missing here (a stray ',', ':' or '-'?)"
        return "E0201", index, _UNREADABLE


def _close(open_: _Open, line: int, column: int) -> Node:
    if open_.mapping:
        return Mapping(tuple(open_.items), line, column)
    return Sequence(tuple(open_.items), line, column)


_SECOND_DOCUMENT = (
    "a second YAML document starts here; a file holds only one (remove the extra '---' or '...')"
)
_MISSING_COLON = (
    "this line has no ':' after its key; add it, or indent the line if it continues the text above"
)
_BAD_BLOCK_HEADER = (
    "after '|' or '>' only a comment may follow on the same line; "
    "start the text on the next line, indented"
)
_DIRECTIVE = (
    "a line starting with '%' is a YAML directive, which is not supported; "
    "remove it, or put the value in quotes"
)
_AFTER_END = (
    "unexpected text after the end of the data; check the indentation, "
    "or look for a stray bracket or quote above"
)
_DASH_HERE = "a list item ('- ') cannot start here; put each item on its own line below its key"
_DASH_IN_MAPPING = (
    "a list item ('- ') where a 'key: value' line was expected; check the indentation"
)
_KEY_MISALIGNED = "this line does not line up with the keys above it; check the indentation"
_ITEM_MISALIGNED = (
    "this line does not line up with the list items ('- ') above it; check the indentation"
)
_UNREADABLE = "this cannot be read as YAML; check the indentation, colons and quotes here"


def _short_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _indent_message(char: str) -> str:
    if char == "\t":
        return "tab used for indentation; use spaces"
    if char == "\u00a0":
        return "a non-breaking space used for indentation; use ordinary spaces"
    name = unicodedata.name(char, "SPACE")
    return f"a Unicode space (U+{ord(char):04X} {name}) used for indentation; use ordinary spaces"


def _bad_character(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if unicodedata.category(char) == "Cc":
        return f"control character {code} is not allowed in YAML; delete it"
    return f"character {code} is not allowed in YAML; delete it"
