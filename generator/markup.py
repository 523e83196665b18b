"""Markdown to HTML for story bodies, descriptions and summaries, with `[[id]]` cross-links.

python-markdown is configured once per thread and reset between documents; whatever the input,
the output holds no raw HTML (unless allowed, then sanitised), no script and no dangerous URL.
"""

from __future__ import annotations

import functools
import html
import html.entities
import re
import sys
import threading
import unicodedata
import xml.etree.ElementTree as etree
from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, TypeVar, cast
from urllib.parse import quote

import markdown
import nh3
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.extensions.fenced_code import FencedBlockPreprocessor, FencedCodeExtension
from markdown.extensions.footnotes import FootnoteExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension, TableProcessor
from markdown.extensions.toc import TocExtension, TocTreeprocessor, slugify_unicode
from markdown.inlinepatterns import AUTOMAIL_RE, InlineProcessor, LinkInlineProcessor
from markdown.treeprocessors import InlineProcessor as InlineTreeprocessor
from markdown.treeprocessors import Treeprocessor, UnescapeTreeprocessor
from markdown.util import AMP_SUBSTITUTE, STX, AtomicString
from markupsafe import Markup

from .restore import slots_maker

__all__ = [
    "MARKUP_BUDGET",
    "MAX_NESTING",
    "SITE_ROOT",
    "MarkupTooComplex",
    "Rendered",
    "Resolver",
    "check_complexity",
    "check_nesting",
    "check_url",
    "find_links",
    "markup_cost",
    "plain_text",
    "relativize",
    "render_inline",
    "render_markdown",
]

SITE_ROOT = "@/"

Resolver = Callable[[str], tuple[str, str] | None]


class MarkupTooComplex(ValueError):
    """Markdown nested too deeply to render in reasonable time (or at all: python-markdown
    recurses once per level). The caller reports it as an error in the file; `line` is the
    line of the text where it happens, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


# Container levels (list markers, `>`, four columns of indentation) on one line; far beyond
# any real story, well below where python-markdown slows down (~300) or overflows (~600).
MAX_NESTING = 50
_CONTAINER = re.compile(r"\s*(?:>|[*+-](?=\s|$)|[0-9]{1,9}[.)](?=\s|$))")
_LONG_LINE = re.compile(f"^[^\\n]{{{MAX_NESTING + 1},}}", re.MULTILINE)


def check_nesting(text: str) -> None:
    """Raise MarkupTooComplex when a line nests deeper than MAX_NESTING containers."""
    # Every level takes a character at least, so only the long lines need a look.
    for long_line in _LONG_LINE.finditer(text):
        line = long_line.group()
        depth = 0
        pos = 0
        while (m := _CONTAINER.match(line, pos)) is not None and m.end() > pos:
            depth += 1
            pos = m.end()
        indent = len(line) - len(line.lstrip(" \t"))
        if depth + len(line[:indent].expandtabs(4)) // 4 > MAX_NESTING:
            raise MarkupTooComplex(
                f"it nests more than {MAX_NESTING} levels deep (lists, quotes or indentation)",
                text.count("\n", 0, long_line.start()) + 1,
            )


# What python-markdown costs, in microseconds, for what a document holds (fitted to timings
# of some fifty shapes, each repeated to 10 KB ... 2 MB; tests/test_limits.py refuses the
# worst of them through the pipeline). Most of it grows with the text, some with its square:
# every heading, rule or setext underline re-splits the rest of its block, every inline mark
# rebuilds its paragraph's text, list items and blocks are inserted and taken from the front
# of Python lists, every code fence rescans the whole document.
_COST_BLOCK = 60.0
_COST_BLOCK_PAIR = 0.008  # per pair of blocks
_COST_LINE = 1.5
_COST_ITEM = 45.0  # a list item or a quoted line
_COST_ITEM_PAIR = 0.001  # per pair of items in one block
_COST_SPLIT = 30.0
_COST_SPLIT_LINE = 0.12  # per split, per line of its block
_COST_MARK = 10.0
_COST_MARK_CHAR = 0.0003  # per inline mark, per character of its paragraph
_COST_CELL = 70.0  # per '|' of a table
_COST_FENCE = 30.0
_COST_FENCE_CHAR = 0.0002  # per code fence, per character of the document
# Two and a half seconds: far above any real story (50 KB of text with links and headings
# costs under 0.1 s), and above 2 MiB of prose in paragraphs of 300 characters (about 2 s).
MARKUP_BUDGET = 2_500_000.0

_BLANK_LINES = re.compile(r"(\n[ \t]*(?:\n[ \t]*)*\n)")
_INLINE_MARK = re.compile(r"[\\`*_\[!<]|  \n")
_SPLITTER = re.compile(
    r"^(?:#|[ ]{0,3}(?:(?:-[ ]{0,2}){3,}|(?:_[ ]{0,2}){3,}|(?:\*[ ]{0,2}){3,})$|[=-]+[ ]*$)",
    re.MULTILINE,
)
_ITEM = re.compile(r"^[ \t>]*(?:[*+-]|[0-9]{1,9}[.)])(?:[ \t]|$)|^[ ]{0,3}>", re.MULTILINE)
_TABLE_RULE = re.compile(r"^[ |:-]*\|[ |:-]*-[ |:-]*$", re.MULTILINE)
_FENCE_LINE = re.compile(r"^[ ]{0,3}(?:```|~~~)", re.MULTILINE)


def check_complexity(text: str, *, inline: bool = False) -> None:
    """Raise MarkupTooComplex when `text` nests too deeply, or when rendering it would take
    pathological time (by an estimate that reads the text once, in milliseconds)."""
    if text.count("\n\n") > MARKUP_BUDGET / _COST_BLOCK:
        raise MarkupTooComplex(_TOO_MUCH)
    if not inline:
        check_nesting(text)
    cost, culprit = markup_cost(text, inline=inline)
    if cost > MARKUP_BUDGET:
        raise MarkupTooComplex(_TOO_MUCH if culprit is None else _TOO_MUCH_HERE, culprit)


def markup_cost(text: str, *, inline: bool = False) -> tuple[float, int | None]:
    """The estimated cost of rendering `text` (about microseconds), and the first line of the
    costliest block when that block alone costs more than half of MARKUP_BUDGET."""
    size = len(text)
    fences = len(_FENCE_LINE.findall(text))
    cost = fences * (_COST_FENCE + _COST_FENCE_CHAR * size) + _COST_LINE * text.count("\n")
    if inline:
        # A summary is one paragraph, whatever blank lines it holds.
        marks = len(_INLINE_MARK.findall(text))
        return cost + marks * (_COST_MARK + _COST_MARK_CHAR * size), None
    parts = _BLANK_LINES.split(text)
    blocks = (len(parts) + 1) // 2
    cost += blocks * (_COST_BLOCK + _COST_BLOCK_PAIR * blocks)
    worst, worst_line = 0.0, 1
    line = 1
    for i in range(0, len(parts), 2):
        block = parts[i]
        lines = block.count("\n") + 1
        splits = len(_SPLITTER.findall(block))
        marks = len(_INLINE_MARK.findall(block))
        items = len(_ITEM.findall(block))
        cells = block.count("|") if _TABLE_RULE.search(block) else 0
        own = (
            splits * (_COST_SPLIT + _COST_SPLIT_LINE * lines)
            + marks * (_COST_MARK + _COST_MARK_CHAR * len(block))
            + items * (_COST_ITEM + _COST_ITEM_PAIR * items)
            + cells * _COST_CELL
        )
        cost += own
        if own > worst:
            worst, worst_line = own, line
        if cost > 4 * MARKUP_BUDGET:
            break  # the verdict cannot change
        if i + 1 < len(parts):
            line += lines - 1 + parts[i + 1].count("\n")
    return cost, (worst_line if worst > MARKUP_BUDGET / 2 else None)


_TOO_MUCH = (
    "it would take too long to render (too many paragraphs, list items, headings, code "
    "blocks or inline marks for one file); split it into several files"
)
_TOO_MUCH_HERE = (
    "the block of text that starts here would take too long to render (too many headings, "
    "list items, table cells or inline marks without a blank line between them); split it "
    "with blank lines, or into several files"
)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A text's HTML, the ids of its [[links]] (those found, those not) and the link targets
    it left out. In slots, without a `__dict__`: the build cache keeps some 50,000."""

    html: str
    links: tuple[str, ...]
    unresolved: tuple[str, ...]
    rejected_urls: tuple[str, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        # The ids interned: the very strs of the records they name, which the markdown
        # memo's pickle refers to (see `model._intern`), not a copy per link.
        links = tuple(map(sys.intern, self.links))
        values = (self.html, links, self.unresolved, self.rejected_urls)
        return _rendered, values


_rendered = slots_maker(Rendered, "_rendered")


# The id may not hold backticks, backslashes or angle brackets: those are the characters that
# take part in code spans, escapes and raw HTML, and keeping them out is what lets find_links
# rewrite ids without changing how the rest of the document parses. STX/ETX are
# python-markdown's placeholder delimiters; excluding them keeps escaped brackets out.
_ID = r"[^\[\]|\n`\\<>\x02\x03]+"
_TEXT = r"[^\[\]\n\x02\x03]*"
# In a table `|` splits cells, so the separator may be written `\|`; by the time the pattern
# runs, python-markdown has stashed that escape behind an inline placeholder.
_SEP = r"(?P<sep>\||\\\||\x02klzzwxh:(?P<stash>[0-9]+)\x03)"
WIKI_RE = r"\[\[(?P<id>" + _ID + r")(?:" + _SEP + r"(?P<text>" + _TEXT + r"))?\]\]"
_WIKI = re.compile(WIKI_RE)
# A summary of words and cross-links: none of the characters any other inline pattern, the
# serialiser or a placeholder needs, nor a line break or a tab (_UNPLAIN), and no `[` or `]`
# outside a link (_PLAIN: one way to match each character, so a text fails in linear time).
_UNPLAIN = re.compile(r"[`\\<>&*_!\n\r\t\x02\x03]")
_PLAIN = re.compile(r"(?:[^\[\]]|" + WIKI_RE + r")*")

# Above `escape` (180) would break `\[[`; below `reference` (170) the `[x]` inside `[[x]]`
# would be taken as a reference link. The footnote pattern sits at 175, so `[[^1]]` is a
# cross-link (to a missing record), not a bracketed footnote.
_WIKI_PRIORITY = 177

# The attribute that carries the raw id from the inline pattern to the collector; it never
# reaches the output.
_MARK = "data-factsheet-xref"

_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_ATTRS = frozenset({"href", "src", "cite"})

# Characters kept as they are in a URL (RFC 3986 reserved and unreserved, and `%`); the rest
# (spaces, quotes, brackets, controls) are percent-encoded so the Nu checker accepts the URL.
_URL_KEEP = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#@!$&'()*+,;="
)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPED_CHAR = re.compile("\x02(\\d+)\x03")
_TAB_NEWLINE = re.compile(r"[\t\n\r]")

_HOST_LABEL = r"[^\s\x00-\x1f/?#:@\[\]\\%<>^|.]+"
_HTTP_URL = re.compile(
    r"(?i)https?://(?:[^\s/?#@]*@)?(?:\[[0-9a-f:.]+\]|"
    + _HOST_LABEL
    + r"(?:\."
    + _HOST_LABEL
    + r")*\.?)(?::[0-9]*)?(?:[/?#]|$)"
)
_ALIGN = re.compile(r"^\s*text-align:\s*(left|right|center)\s*;?\s*$")

# The tags and attributes that survive in allow_html mode: formatting only.
_HTML_TAGS = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col",
        "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption",
        "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
        "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "span",
        "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "time", "tr", "u", "ul", "var", "wbr",
    }
)  # fmt: skip
# A summary goes inside a <p> or <a>: phrasing content only.
_PHRASING_TAGS = frozenset(
    {
        "abbr", "b", "bdi", "bdo", "br", "cite", "code", "del", "dfn", "em", "i", "img", "ins",
        "kbd", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u",
        "var", "wbr", "a",
    }
)  # fmt: skip
_HTML_ATTRS: dict[str, set[str]] = {
    "*": {"class", "id", "title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
}
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)([^>]*)>")
_ALT_ATTR = re.compile(r'\salt="([^"]*)"')


def _fresh_if_blank(value: str, separator: str) -> str:
    # An empty id is invalid HTML, and toc's own fallback for it is "_1"; a heading made only
    # of punctuation gets a readable id instead.
    return slugify_unicode(value, separator) or "section"


def check_url(value: str) -> str | None:
    """The URL to emit for `value` (as a browser reads the attribute), or None to drop it."""
    # Browsers drop tabs and newlines anywhere and C0 controls and spaces at either end
    # before they look for a scheme: look at the URL the way they will.
    url = _TAB_NEWLINE.sub("", value).strip("".join(map(chr, range(33))))
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    if ":" in head:
        # Anything before a colon that is not one of ours counts as a scheme, even when a
        # browser would call it a relative path: better a dropped link than a guess.
        scheme = head.split(":", 1)[0].lower()
        if scheme not in _SAFE_SCHEMES:
            return None
        if scheme != "mailto" and not _HTTP_URL.match(url):
            # `https://../` or `http:foo` cannot be emitted as valid HTML.
            return None
    return _fix_url(url)


@functools.lru_cache(maxsize=4096)
def _checked(written: str) -> str | None:
    """check_url of an attribute as python-markdown wrote it: most are cross-links, and a
    story links to the same few records again and again."""
    return check_url(_as_browser_reads(written))


def _fix_url(url: str) -> str:
    out = []
    for ch in url:
        if ch in _URL_KEEP or (ord(ch) > 127 and unicodedata.category(ch)[0] not in "CZ"):
            out.append(ch)
        else:
            out.append(quote(ch, safe=""))
    fixed = _BAD_PERCENT.sub("%25", "".join(out))
    hash_at = fixed.find("#")
    if hash_at >= 0:
        fixed = fixed[: hash_at + 1] + fixed[hash_at + 1 :].replace("#", "%23")
    return fixed


def _as_browser_reads(value: str) -> str:
    # python-markdown's serializer keeps `&name;`, `&#n;` and `&#xn;` in attributes (a browser
    # then decodes them) and escapes every other `&`; AMP_SUBSTITUTE becomes a plain `&`.
    return _SERIALIZER_ENTITY.sub(
        lambda m: html.unescape(m.group()), value.replace(AMP_SUBSTITUTE, "&amp;")
    )


_SERIALIZER_ENTITY = re.compile(r"&(?:#[0-9]+|#x[0-9a-f]+|[0-9a-z]+);", re.IGNORECASE)
_ENTITYISH = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[0-9A-Za-z]+);")


def _fix_entities(text: str) -> str:
    """Make every `&...;` in text valid HTML: python-markdown's serializer passes them through."""
    if "&" not in text:
        return text
    return _ENTITYISH.sub(_fix_entity, text)


def _fix_entity(m: re.Match[str]) -> str:
    body = m.group(1)
    if body[0] != "#":
        if body + ";" in html.entities.html5:
            return m.group(0)
        return AMP_SUBSTITUTE + "amp;" + body + ";"
    digits = body[2:] if body[1] in "xX" else body[1:]
    if len(digits) <= 8 and _allowed_code_point(int(digits, 16 if body[1] in "xX" else 10)):
        return m.group(0)
    # What a browser shows for a reference to a forbidden code point.
    return "\ufffd"


def _allowed_code_point(cp: int) -> bool:
    if cp in (0x9, 0xA, 0xC) or 0x20 <= cp < 0x7F:
        return True
    if cp < 0xA0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF:
        return False
    return (cp & 0xFFFE) != 0xFFFE


def _literal(text: str) -> str:
    # Text that must show as typed: `&` would otherwise let `&lt;` through as an entity.
    return _FORBIDDEN.sub("\ufffd", text).replace("&", AMP_SUBSTITUTE + "amp;")


class _State:
    """What one conversion needs and finds; reset before every document."""

    def __init__(self) -> None:
        self.resolve: Resolver = _no_record
        self.reserved: frozenset[str] = frozenset()
        self.check_urls = True
        self.links: list[str] = []
        self.raw_links: list[str] = []
        self.unresolved: list[str] = []
        self.rejected: list[str] = []

    def begin(self, resolve: Resolver, reserved: frozenset[str], check_urls: bool) -> None:
        self.resolve = resolve
        self.reserved = reserved
        self.check_urls = check_urls
        self.links = []
        self.raw_links = []
        self.unresolved = []
        self.rejected = []


def _no_record(_ident: str) -> tuple[str, str] | None:
    return None


class _WikiLinkProcessor(InlineProcessor):
    def __init__(self, state: _State, md: markdown.Markdown) -> None:
        super().__init__(WIKI_RE, md)
        self.state = state

    def handleMatch(  # type: ignore[override]
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        raw = m.group("id")
        ident = " ".join(raw.split())
        if not _has_alnum(ident):
            return None, None, None
        stash = m.group("stash")
        if stash is not None:
            stashed = self.md.treeprocessors["inline"].stashed_nodes.get(stash)  # type: ignore[attr-defined]
            if stashed != "\x02124\x03":
                return None, None, None
        label = " ".join((m.group("text") or "").split())
        target = self.state.resolve(ident)
        if target is None:
            el = etree.Element("span", {"class": "xref-missing"})
            el.text = AtomicString(_literal(label or ident))
        else:
            url, name = target
            el = etree.Element("a", {"href": SITE_ROOT + url, "class": "xref"})
            el.text = AtomicString(_literal(label or name))
        el.set(_MARK, raw)
        return el, m.start(0), m.end(0)


class _Automail(InlineProcessor):
    """`<a@b.c>`, without python-markdown's entity obfuscation of the address.

    That obfuscation also encodes escape placeholders (`<a\\+@b.c>`) as control-character
    references, which is invalid HTML.
    """

    def handleMatch(  # type: ignore[override]
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element, int, int]:
        email = _ESCAPED_CHAR.sub(lambda e: chr(int(e.group(1))), self.unescape(m.group(1)))
        email = email.removeprefix("mailto:")
        el = etree.Element("a", {"href": "mailto:" + email})
        el.text = AtomicString(_literal(email))
        return el, m.start(0), m.end(0)


class _FastBrackets(LinkInlineProcessor):
    """Linear bracket matching for python-markdown's link and image patterns.

    Upstream scans to the end of the paragraph for every `[`, which makes `[[[[...` (or
    `[a](` repeated) take minutes; the result is the same bracket, found from one table.
    """

    _LINK_LIMIT = 2048
    _table_for: str | None = None
    _table: dict[int, int]

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        if data is not self._table_for:
            self._table = {}
            self._table_for = data
        close = self._table.get(index - 1)
        if close is None:
            close = _match_from(data, index - 1, self._table)
        if close < 0:
            return data[index:], len(data), False
        return data[index:close], close + 1, True

    def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:
        # A link target longer than the limit is not one an editor meant; cutting the scan
        # short keeps an unclosed `(` from costing the rest of the paragraph every time.
        end = index + self._LINK_LIMIT
        if data.find(")", index, end) < 0:
            return "", None, index, False
        return super().getLink(data[:end], index)


def _match_from(data: str, start: int, table: dict[int, int]) -> int:
    """The `]` that closes the `[` at `start` (-1 if none), noting every pair seen on the way.

    Every `[` met before the closing one is closed inside the span too, so later look-ups in
    the span are answered from `table`: each character is scanned about once per `data`.
    """
    stack: list[int] = []
    for m in _BRACKET.finditer(data, start):
        pos = m.start()
        if data[pos] == "[":
            stack.append(pos)
        elif stack:
            opened = stack.pop()
            table[opened] = pos
            if not stack:
                return pos
    for opened in stack:
        table[opened] = -1
    return -1


_BRACKET = re.compile(r"[\[\]]")
# python-markdown's names and priorities for its link and image patterns.
_LINK_PATTERNS = {
    "reference": 170, "link": 160, "image_link": 150, "image_reference": 140,
    "short_reference": 130, "short_image_ref": 125,
}  # fmt: skip


def _has_alnum(text: str) -> bool:
    return _ALNUM.search(text) is not None


# What a text must hold for an inline pattern to match in it: any one of these strings. Each
# is a literal of every match, so a text (or what is left of it once other patterns made
# placeholders of their matches) that holds none cannot match. Patterns not listed always run.
_NEEDS = {
    "backtick": ("`",),
    "escape": ("\\",),
    "factsheet_xref": ("[[",),
    "footnote": ("[^",),
    "reference": ("[",),
    "link": ("[",),
    "short_reference": ("[",),
    "image_link": ("![",),
    "image_reference": ("![",),
    "short_image_ref": ("![",),
    "autolink": ("<",),
    "automail": ("<",),
    "html": ("<",),
    "linebreak": ("  \n",),
    "em_strong": ("*", "_"),
}


class _Inline(InlineTreeprocessor):
    """python-markdown's inline pass, trying on each text only the patterns that can match it.

    Upstream tries every pattern on every text of the tree (and again on what is left of it
    after each match), one regex scan each: a paragraph's text holds no `[` once its links
    are placeholders, a link's label rarely holds a mark at all, so most scans find nothing.
    A pattern skipped is one whose scan would have found nothing: the pass goes on exactly
    as upstream's does after a failed match.
    """

    _patterns: list[tuple[Any, tuple[str, ...] | None]] | None = None

    # Upstream's own text loop (`InlineProcessor.__handleInline`), name-mangled, with the
    # check of what the text holds before each pattern.
    def _InlineProcessor__handleInline(self, data: str, index: int = 0) -> str:
        if isinstance(data, AtomicString):
            return data
        patterns = self._patterns
        if patterns is None:
            # Once: every pattern is registered before the first document.
            registry = self.inlinePatterns
            named = {id(registry[n]): need for n, need in _NEEDS.items() if n in registry}
            patterns = self._patterns = [(pattern, named.get(id(pattern))) for pattern in registry]
        apply = self._InlineProcessor__applyPattern  # type: ignore[attr-defined]
        start = 0
        count = len(patterns)
        while index < count:
            pattern, needs = patterns[index]
            if needs is not None:
                for needed in needs:
                    if needed in data:
                        break
                else:
                    index += 1
                    start = 0
                    continue
            data, matched, start = apply(pattern, data, index, start)
            if not matched:
                index += 1
        return data


class _Finish(Treeprocessor):
    """After inline parsing: collect cross-links in document order, make the tree safe."""

    def __init__(self, md: markdown.Markdown, state: _State) -> None:
        super().__init__(md)
        self.state = state

    def run(self, root: etree.Element) -> None:
        state = self.state
        # The inline processor walks the tree with a stack, so links are gathered here, in
        # document order, rather than as they are matched.
        replace: list[tuple[etree.Element, etree.Element]] = []
        # Most elements have no attribute and most texts no `&`: those are only looked at.
        for parent in root.iter():
            for el in parent:
                attrib = el.attrib
                if attrib:
                    raw = attrib.pop(_MARK, None)
                    if raw is not None:
                        ident = " ".join(raw.split())
                        state.raw_links.append(raw)
                        state.links.append(ident)
                        if el.tag == "span":
                            state.unresolved.append(ident)
                    if el.tag in ("th", "td"):
                        self._align_to_class(el)
                text = el.text
                if text and "&" in text:
                    el.text = _keep_atomic(text, _fix_entities(text))
                tail = el.tail
                if tail and "&" in tail:
                    el.tail = _keep_atomic(tail, _fix_entities(tail))
                if not attrib:
                    continue
                for attr, value in list(attrib.items()):
                    if attr not in _URL_ATTRS and "&" in value:
                        attrib[attr] = _fix_entities(value)
                if state.check_urls:
                    for attr in sorted(_URL_ATTRS.intersection(attrib)):
                        written = attrib[attr]
                        url = _checked(written)
                        if url is None:
                            state.rejected.append(written.replace(AMP_SUBSTITUTE, "&"))
                            del attrib[attr]
                            if el.tag == "img":
                                replace.append((parent, el))
                        else:
                            attrib[attr] = url.replace("&", AMP_SUBSTITUTE + "amp;")
        for parent, img in replace:
            _replace_with_text(parent, img, img.get("alt", ""))
        _unnest_links(root)

    @staticmethod
    def _align_to_class(cell: etree.Element) -> None:
        # Inline styles would break a strict Content-Security-Policy, and `align` is obsolete
        # HTML: alignment becomes a class for the site's stylesheet.
        style = cell.attrib.pop("style", None)
        if style is not None:
            m = _ALIGN.match(style)
            if m:
                cell.set("class", "align-" + m.group(1))


def _keep_atomic(old: str, new: str) -> str:
    return AtomicString(new) if isinstance(old, AtomicString) else new


def _replace_with_text(parent: etree.Element, el: etree.Element, text: str) -> None:
    index = list(parent).index(el)
    joined = text + (el.tail or "")
    if index == 0:
        parent.text = (parent.text or "") + joined
    else:
        prev = parent[index - 1]
        prev.tail = (prev.tail or "") + joined
    parent.remove(el)


def _unnest_links(root: etree.Element) -> None:
    # A link inside a link (`[a [[x]] b](/u)`) is invalid HTML; the inner one becomes a span.
    for outer in root.iter("a"):
        for inner in outer.iter():
            if inner is not outer and inner.tag == "a":
                inner.tag = "span"
                inner.attrib.clear()


class _Toc(TocTreeprocessor):
    """Heading ids that also avoid the ids the page itself uses."""

    state: _State

    def run(self, doc: etree.Element) -> None:
        if not any(map(self.header_rgx.match, filter(_is_str, (el.tag for el in doc.iter())))):
            # No heading: no id to give. Upstream would still add, walk and drop the reserved
            # ids, and serialise and post-process an empty table of contents, which no page
            # shows (most descriptions and summaries: a fifth of their rendering).
            return
        # TocTreeprocessor seeds its set of taken ids from the tree, so the reserved ids are
        # put there for the duration.
        holder = etree.SubElement(doc, "div")
        for ident in sorted(self.state.reserved):
            etree.SubElement(holder, "i", {"id": ident})
        try:
            super().run(doc)
        finally:
            doc.remove(holder)

    def build_toc_div(self, toc_list: list[Any]) -> etree.Element:
        # Only the heading ids are wanted: the table of contents upstream builds, serialises
        # and post-processes for every document (`md.toc`) is never shown.
        return etree.Element("div")


def _is_str(tag: object) -> bool:
    return isinstance(tag, str)  # (an element's tag; a comment's is a function)


class _Table(TableProcessor):
    """A block whose first line holds no `|` is no table (it has neither borders nor two
    cells), told without upstream's test, which splits every line of every block."""

    def test(self, parent: etree.Element, block: str) -> bool:
        return "|" in block.partition("\n")[0] and super().test(parent, block)


class _Tables(TableExtension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        super().extendMarkdown(md)
        md.parser.blockprocessors.register(_Table(md.parser, self.getConfigs()), "table", 75)


class _Unescape(UnescapeTreeprocessor):
    """Upstream's pass, on the texts that hold an escape's placeholder (STX) only: upstream
    runs its regex on every text, tail and attribute of the tree."""

    def run(self, root: etree.Element) -> None:
        unescape = self.unescape
        for el in root.iter():
            text = el.text
            if text and STX in text and el.tag != "code":
                el.text = unescape(text)
            tail = el.tail
            if tail and STX in tail:
                el.tail = unescape(tail)
            for key, value in el.items():
                if value is not None and STX in value:
                    el.set(key, unescape(value))


class _Fenced(FencedBlockPreprocessor):
    def handle_attrs(
        self, attrs: Iterable[tuple[str, str]]
    ) -> tuple[str, list[str], dict[str, Any]]:
        # Only the language is kept from `{...}`: an id could clash with the page's ids.
        _ident, classes, _config = super().handle_attrs(attrs)
        return "", classes[:1], {}


class _OneParagraph(BlockProcessor):
    """Everything is one paragraph: a summary has no block structure."""

    def test(self, parent: etree.Element, block: str) -> bool:
        return True

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        p = etree.SubElement(parent, "p")
        p.text = "\n".join(block.strip("\n") for block in blocks).strip()
        blocks.clear()


class _FactsheetExtension(Extension):
    def __init__(self, state: _State, *, inline: bool, allow_html: bool) -> None:
        super().__init__()
        self.state = state
        self.inline = inline
        self.allow_html = allow_html

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.registerExtension(self)
        if not self.allow_html or self.inline:
            # A summary has no HTML blocks, only inline tags (when allowed).
            md.preprocessors.deregister("html_block")
        if not self.allow_html:
            md.inlinePatterns.deregister("html")
        if self.inline:
            for name in _CORE_BLOCK_PROCESSORS:
                md.parser.blockprocessors.deregister(name)
            md.parser.blockprocessors.register(_OneParagraph(md.parser), "one_paragraph", 10)
        else:
            fenced_ext = _find(md, FencedCodeExtension)
            fenced = _Fenced(md, fenced_ext.getConfigs())
            md.preprocessors.register(fenced, "fenced_code_block", 25)
            mine = _Toc(md, _find(md, TocExtension).getConfigs())
            mine.state = self.state
            md.treeprocessors.register(mine, "toc", 5)
        md.inlinePatterns.register(
            _WikiLinkProcessor(self.state, md), "factsheet_xref", _WIKI_PRIORITY
        )
        md.inlinePatterns.register(_Automail(AUTOMAIL_RE, md), "automail", 110)
        for name, priority in _LINK_PATTERNS.items():
            upstream = md.inlinePatterns[name]
            fast = type("Fast" + type(upstream).__name__, (_FastBrackets, type(upstream)), {})
            md.inlinePatterns.register(fast(upstream.pattern, md), name, priority)
        # Entities stay in the text and are checked by _Finish: python-markdown would stash
        # them as raw HTML, invalid ones (`&#0;`, `&bogus;`) included.
        md.inlinePatterns.deregister("entity")
        md.treeprocessors.register(_Inline(md), "inline", 20)
        md.treeprocessors.register(_Unescape(md), "unescape", 0)
        # After `unescape` (0), so attribute values are final when URLs are checked.
        md.treeprocessors.register(_Finish(md, self.state), "factsheet_finish", -5)


_CORE_BLOCK_PROCESSORS = (
    "empty", "indent", "code", "hashheader", "setextheader", "hr", "olist", "ulist", "quote",
    "reference", "paragraph",
)  # fmt: skip


_E = TypeVar("_E", bound=Extension)


def _find(md: markdown.Markdown, kind: type[_E]) -> _E:
    return next(ext for ext in md.registeredExtensions if isinstance(ext, kind))


class _Markdown(markdown.Markdown):
    """python-markdown, telling block-level tags by a set: upstream looks each tag up in its
    list of some fifty names, once per element of every document (to lay out its HTML)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Extensions add their tags to the list as the instance is made; none does after.
        self.block_level_tags = frozenset(self.block_level_elements)

    def is_block_level(self, tag: Any) -> bool:
        return isinstance(tag, str) and tag.lower().rstrip("/") in self.block_level_tags


class _Renderer:
    def __init__(self, *, inline: bool, allow_html: bool) -> None:
        self.state = _State()
        self.inline = inline
        self.allow_html = allow_html
        extensions: list[Extension] = []
        if not inline:
            extensions += [
                _Tables(),
                FootnoteExtension(),
                TocExtension(slugify=_fresh_if_blank, marker="", permalink=False),
                FencedCodeExtension(),
                SaneListExtension(),
            ]
        extensions.append(_FactsheetExtension(self.state, inline=inline, allow_html=allow_html))
        self.md = _Markdown(extensions=extensions, output_format="html")
        # A summary of words and cross-links only skips python-markdown's parsing (see _plain).
        self.plain = inline

    def render(
        self, text: str, resolve: Resolver, reserved: frozenset[str], checked: bool = False
    ) -> str:
        self.md.reset()
        self.state.begin(resolve, reserved, check_urls=not self.allow_html)
        normal = _normalise(text)
        if not checked or normal != text:
            check_complexity(normal, inline=self.inline)
        text = normal
        try:
            out = (self.plain and self._plain(text)) or self.md.convert(text)
        except RecursionError:
            raise MarkupTooComplex("the markup nests too deeply") from None
        finally:
            self.md.reset()
        if self.inline and out.startswith("<p>") and out.endswith("</p>"):
            out = out[3:-4]
        if self.allow_html:
            out = self._sanitise(out)
        return out

    def _plain(self, text: str) -> str | None:
        """What convert gives for a summary made of words and cross-links only (None for
        any other text, and for a link whose id holds no letter or digit): the paragraph
        python-markdown would make, without its passes that find nothing in such a text.

        Most records' summaries are such texts: convert's fixed cost (its preprocessors, block
        parser and inline pass) is most of what rendering them costs. The paragraph and its
        links are made as the inline pass would make them; the passes after it (prettify,
        unescape, finish), the serialiser and the postprocessors run as in convert.
        """
        text = text.strip()
        if not text or _UNPLAIN.search(text) or not _PLAIN.fullmatch(text):
            return None
        matches = list(_WIKI.finditer(text))
        if not all(_has_alnum(m.group("id")) for m in matches):
            return None
        md = self.md
        wiki = cast(_WikiLinkProcessor, md.inlinePatterns["factsheet_xref"])
        root = etree.Element(md.doc_tag)
        p = etree.SubElement(root, "p")
        last: etree.Element | None = None
        start = 0
        for m in matches:
            el, _, _ = wiki.handleMatch(m, text)
            if el is None:  # not after the checks above: the id has a letter or digit
                return None
            before = text[start : m.start()]
            if last is None:
                p.text = before
            else:
                last.tail = before
            p.append(el)
            last, start = el, m.end()
        rest = text[start:]
        if last is None:
            p.text = rest
        elif rest:
            last.tail = rest
        for treeprocessor in md.treeprocessors:
            if treeprocessor is not md.treeprocessors["inline"]:
                root = treeprocessor.run(root) or root
        output = md.serializer(root)
        start = output.index(f"<{md.doc_tag}>") + len(md.doc_tag) + 2
        output = output[start : output.rindex(f"</{md.doc_tag}>")].strip()
        for postprocessor in md.postprocessors:
            output = postprocessor.run(output)
        return output.strip()

    def _sanitise(self, out: str) -> str:
        state = self.state
        reserved = state.reserved
        # nh3 drops a bad URL before its attribute_filter sees it, so the URLs it will drop
        # are listed first, with a parser that decodes attributes the way browsers do.
        state.rejected.extend(_UrlLister.bad_urls(out))

        def keep(tag: str, attr: str, value: str) -> str | None:
            if attr in _URL_ATTRS:
                return check_url(value)
            if attr == "id" and value in reserved:
                return None
            return value

        cleaned = nh3.clean(
            out,
            tags=set(_PHRASING_TAGS if self.inline else _HTML_TAGS),
            attributes=_HTML_ATTRS,
            attribute_filter=keep,
            link_rel=None,
            url_schemes=set(_SAFE_SCHEMES),
            strip_comments=True,
        )
        # An image whose source was dropped would be invalid HTML; its alt text stands in.
        return _IMG_WITHOUT_SRC.sub(_alt_as_text, cleaned)


def _alt_as_text(m: re.Match[str]) -> str:
    alt = _ALT_ATTR.search(m.group(1))
    return html.escape(html.unescape(alt.group(1)), quote=False) if alt else ""


class _UrlLister(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in _URL_ATTRS and value is not None and check_url(value) is None:
                self.bad.append(value)

    @classmethod
    def bad_urls(cls, text: str) -> list[str]:
        lister = cls()
        lister.feed(text)
        lister.close()
        return lister.bad


# Code points HTML forbids in text (controls other than whitespace, noncharacters); STX and
# ETX are among them, which also keeps editors from forging python-markdown's placeholders.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]")


def _normalise(text: str) -> str:
    # A same-length stand-in (python-markdown would delete STX/ETX) keeps every column after
    # it where find_links expects it.
    return _FORBIDDEN.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


_local = threading.local()


def _renderer(*, inline: bool, allow_html: bool) -> _Renderer:
    # One instance per thread and configuration: building a Markdown instance costs far more
    # than reset(), and a shared one would mix documents across threads.
    cache: dict[tuple[bool, bool], _Renderer] | None = getattr(_local, "renderers", None)
    if cache is None:
        cache = {}
        _local.renderers = cache
    key = (inline, allow_html)
    if key not in cache:
        cache[key] = _Renderer(inline=inline, allow_html=allow_html)
    return cache[key]


def render_markdown(
    text: str,
    resolve: Resolver,
    *,
    allow_html: bool = False,
    reserved_ids: frozenset[str] = frozenset(),
    checked: bool = False,
) -> Rendered:
    """Render a Markdown document (story body, description). `checked`: the text is known
    to pass `check_complexity` as it is (parse checks every Markdown text of a record), so
    it is not checked again unless normalising its line breaks or characters changed it."""
    r = _renderer(inline=False, allow_html=allow_html)
    out = r.render(text, resolve, reserved_ids, checked)
    s = r.state
    return Rendered(out, tuple(s.links), tuple(s.unresolved), tuple(s.rejected))


def render_inline(
    text: str, resolve: Resolver, *, allow_html: bool = False, checked: bool = False
) -> Rendered:
    """Render one paragraph of inline Markdown (a summary), without the <p> around it.
    `checked`: as for `render_markdown` (with `inline=True`)."""
    r = _renderer(inline=True, allow_html=allow_html)
    out = r.render(text, resolve, frozenset(), checked)
    s = r.state
    return Rendered(out, tuple(s.links), tuple(s.unresolved), tuple(s.rejected))


_TAG = re.compile(r"<[^>]*>")


def plain_text(html_text: str) -> str:
    """The text of rendered HTML for machines (descriptions, search): markupsafe's
    `Markup(html_text).striptags()`, tags dropped, spaces collapsed, entities decoded.

    The same in one regex substitution rather than a Python loop per tag, for HTML without
    comments (python-markdown's and nh3's never have any): there each `<` begins a tag that
    ends at the next `>`, or, unclosed, ends markupsafe's search with the rest kept.
    """
    if "<!--" in html_text:
        return str(Markup(html_text).striptags())
    text = " ".join(_TAG.sub("", html_text).split())
    return html.unescape(text) if "&" in text else text


_ROOT_LINK = re.compile(
    r"""(<[A-Za-z][^\s/>]*(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*?\s+(?:href|src)=")@/([^"]*)\""""
)


def relativize(html_text: str, prefix: str) -> str:
    """Turn the site-root links (`href="@/..."`, `src="@/..."`) into links relative to a page.

    `prefix` leads from the page to the site root: "../../" or "" for a page at the root.
    """

    def sub(m: re.Match[str]) -> str:
        rest = m.group(2)
        lead = prefix
        if not lead and (
            not rest or rest[0] in "/\\" or ":" in re.split(r"[/?#]", rest, maxsplit=1)[0]
        ):
            # "" + "//host" or "x:y" would point off the site or read as a scheme.
            lead = "./"
        return f'{m.group(1)}{lead}{rest}"'

    return _ROOT_LINK.sub(sub, html_text)


def find_links(
    text: str, *, allow_html: bool = False, inline: bool = False
) -> list[tuple[str, int, int]]:
    """(id, line, column) of every cross-link the renderer sees, in the order of `links`.

    Lines and columns count from 1, columns in characters. The document is rendered once with
    every candidate's id rewritten to a unique tag of the same shape (letters and digits
    replaced by letters and digits), so code spans, code blocks and escapes are decided by
    python-markdown itself and the positions cannot disagree with `render_markdown`.
    """
    source = _normalise(text)
    candidates = [m for m in _WIKI.finditer(source) if _has_alnum(m.group("id"))]
    if not candidates:
        return []
    tagged, by_key = _tag_candidates(candidates)
    pieces = []
    last = 0
    for m, new_id in zip(candidates, tagged, strict=True):
        pieces.append(source[last : m.start("id")])
        pieces.append(new_id)
        last = m.end("id")
    pieces.append(source[last:])
    r = _renderer(inline=inline, allow_html=allow_html)
    r.render("".join(pieces), _no_record, frozenset())
    seen = r.state.raw_links
    # Counting newlines from the top for every link would be quadratic in a long story.
    line_starts = [0, *(m.end() for m in re.finditer("\n", source))]
    out: list[tuple[str, int, int]] = []
    for raw in seen:
        queue = by_key.get(_key(raw))
        if not queue:  # pragma: no cover - would mean the tag changed the parse
            continue
        m = queue.popleft()
        start = m.start()
        line = bisect_right(line_starts, start)
        column = start - line_starts[line - 1] + 1
        out.append((" ".join(m.group("id").split()), line, column))
    return out


# Letters and digits stand in for letters and digits; the CJK block makes room for thousands
# of look-alikes even when an id has a single letter.
_TAG_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + "".join(
    map(chr, range(0x4E00, 0xA000))
)


def _key(raw_id: str) -> str:
    # python-markdown expands tabs, so only the words of an id identify it.
    return " ".join(raw_id.split())


_ALNUM = re.compile(r"[^\W_]")  # what str.isalnum() accepts


def _shape(raw_id: str) -> str:
    return _ALNUM.sub("a", _key(raw_id))


def _retag(raw_id: str, digits: list[str]) -> str:
    """`raw_id` with its first letters or digits replaced by `digits`."""
    it = iter(digits)
    return _ALNUM.sub(lambda _m: next(it), raw_id, count=len(digits))


def _tag_candidates(
    candidates: list[re.Match[str]],
) -> tuple[list[str], dict[str, deque[re.Match[str]]]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(candidates):
        groups[_shape(m.group("id"))].append(i)
    tagged = [m.group("id") for m in candidates]
    base = len(_TAG_DIGITS)
    for shape, members in groups.items():
        slots = shape.count("a")
        width = 1
        while base**width < len(members) and width < slots:
            width += 1
        if len(members) > base**width:
            # Too many look-alikes to tell apart: they keep their ids and are matched in
            # order (still the right id, the position may be that of a look-alike).
            continue
        for n, i in enumerate(members):
            # The first `width` letters or digits tell the look-alikes apart; the rest stay.
            digits = []
            for _ in range(width):
                n, d = divmod(n, base)
                digits.append(_TAG_DIGITS[d])
            tagged[i] = _retag(candidates[i].group("id"), digits)
    by_key: dict[str, deque[re.Match[str]]] = defaultdict(deque)
    for m, new_id in zip(candidates, tagged, strict=True):
        by_key[_key(new_id)].append(m)
    return tagged, by_key
