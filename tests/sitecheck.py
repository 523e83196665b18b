"""A small reusable checker for a built site: a DOM from html.parser, per-page rules and links.

`load_site(folder)` parses every HTML page; `page_problems(page)` checks one page against the
contract's rules (doctype, lang, title, one h1, unique ids, no inline script, style or event
handler, no `javascript:`/`data:` URL, no request leaving the site); `link_problems(site)`
checks that every relative href/src resolves to a file (fragments against the target's ids)
and that no link is absolute or root-relative; `unreachable(site)` lists pages that cannot be
reached from index.html. No dependencies beyond the standard library.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    }
)  # fmt: skip
# Attributes whose value is a URL a browser may follow or fetch.
URL_ATTRS = frozenset({"href", "src", "action", "formaction", "cite", "poster", "xlink:href"})
EXTERNAL_SCHEMES = frozenset({"http", "https", "mailto"})
# Script types that hold data, not code (JSON-LD): allowed inline under a strict CSP.
DATA_SCRIPT_TYPES = frozenset({"application/ld+json", "application/json"})
# Pages that are not linked from anywhere on purpose.
UNLINKED = frozenset({"404.html"})
# Pages a host serves at any missing address: with a base URL, their links are absolute
# (the canonical link's address minus the page's path is the base).
ANY_ADDRESS = frozenset({"404.html"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)
    line: int = 0

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        """This element and every element below it, in document order."""
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter(tag)

    def find_all(self, tag: str | None = None, *, class_: str | None = None) -> list[Element]:
        return [e for e in self.iter(tag) if e is not self and (class_ is None or e.has(class_))]

    def find(self, tag: str | None = None, *, class_: str | None = None) -> Element | None:
        found = self.find_all(tag, class_=class_)
        return found[0] if found else None

    def one(self, tag: str | None = None, *, class_: str | None = None) -> Element:
        """The first matching element below this one; AssertionError when there is none."""
        found = self.find(tag, class_=class_)
        assert found is not None, f"no <{tag or '*'} class={class_!r}> in {self!r}"
        return found

    def has(self, class_name: str) -> bool:
        return class_name in self.attrs.get("class", "").split()

    def get(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    @property
    def raw_text(self) -> str:
        return "".join(
            child if isinstance(child, str) else child.raw_text for child in self.children
        )

    @property
    def text(self) -> str:
        """The text content with runs of whitespace collapsed, as a reader sees it."""
        return " ".join(self.raw_text.split())

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}> line {self.line}"


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.doctypes: list[str] = []
        self.problems: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctypes.append(decl)

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> Element:
        names = [name for name, _ in attrs]
        for name, count in Counter(names).items():
            if count > 1:
                self.problems.append(f"line {self.getpos()[0]}: <{tag}> repeats '{name}'")
        element = Element(
            tag,
            {name: value or "" for name, value in attrs},
            self.stack[-1],
            line=self.getpos()[0],
        )
        self.stack[-1].children.append(element)
        return element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = self._element(tag, attrs)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                for unclosed in self.stack[index + 1 :]:
                    if unclosed.tag not in ("p", "li", "dt", "dd", "tr", "td", "th", "option"):
                        self.problems.append(f"line {unclosed.line}: <{unclosed.tag}> not closed")
                del self.stack[index:]
                return
        self.problems.append(f"line {self.getpos()[0]}: stray </{tag}>")

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


@dataclass
class Page:
    path: str  # relative to the site root, with '/' separators
    source: str
    root: Element
    doctypes: list[str]
    parse_problems: list[str]

    @property
    def ids(self) -> list[str]:
        return [e.attrs["id"] for e in self.root.iter() if "id" in e.attrs]

    def by_id(self, ident: str) -> Element:
        for element in self.root.iter():
            if element.attrs.get("id") == ident:
                return element
        raise KeyError(f"{self.path} has no element with id '{ident}'")

    def find_all(self, tag: str | None = None, *, class_: str | None = None) -> list[Element]:
        return self.root.find_all(tag, class_=class_)

    def find(self, tag: str | None = None, *, class_: str | None = None) -> Element | None:
        return self.root.find(tag, class_=class_)

    def one(self, tag: str | None = None, *, class_: str | None = None) -> Element:
        return self.root.one(tag, class_=class_)

    def resolve(self, href: str) -> str:
        """The site path a relative link from this page leads to (no fragment)."""
        return resolve(self.path, href)


def parse_page(path: str, source: str) -> Page:
    builder = _TreeBuilder()
    builder.feed(source)
    builder.close()
    for unclosed in builder.stack[1:]:
        builder.problems.append(f"line {unclosed.line}: <{unclosed.tag}> not closed at the end")
    return Page(path, source, builder.root, builder.doctypes, builder.problems)


def load_site(folder: Path) -> dict[str, Page]:
    pages = {}
    for file in sorted(folder.rglob("*.html")):
        path = file.relative_to(folder).as_posix()
        pages[path] = parse_page(path, file.read_text(encoding="utf-8"))
    return pages


def resolve(page_path: str, href: str) -> str:
    """The site path `href` leads to from `page_path`; '..' at the start if it escapes."""
    target = unquote(urlsplit(href).path)
    if not target:
        return page_path
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), target))
    if target.endswith("/") and joined != ".":
        joined += "/"
    return joined


def record_id(page_path: str, href: str) -> str:
    """The id of the record or story a link points to: '../../actors/x/index.html' -> 'x'."""
    parts = resolve(page_path, href).split("/")
    if len(parts) != 3 or parts[2] != "index.html":
        raise ValueError(f"{href!r} from {page_path} is not a link to a record's page")
    return parts[1]


# --- rules for one page ---------------------------------------------------------------------


_BAD_SCHEME = re.compile(r"^\s*(javascript|data|vbscript)\s*:", re.IGNORECASE)


def page_problems(page: Page) -> list[str]:
    """Every way the page breaks the contract's rules for a page, as readable lines."""
    problems = [f"{page.path}: {p}" for p in page.parse_problems]

    def problem(message: str) -> None:
        problems.append(f"{page.path}: {message}")

    if not page.source.startswith("<!DOCTYPE html>"):
        problem("does not start with <!DOCTYPE html>")
    html = page.find("html")
    if html is None or not html.get("lang").strip():
        problem("<html> has no lang")
    head = page.find("head")
    titles = head.find_all("title") if head is not None else []
    if len(titles) != 1 or not titles[0].text:
        problem(f"needs one non-empty <title> in <head>, has {[t.text for t in titles]}")
    h1s = page.find_all("h1")
    if len(h1s) != 1:
        problem(f"has {len(h1s)} <h1>: {[h.text for h in h1s]}")
    for ident, count in sorted(Counter(page.ids).items()):
        if count > 1:
            problem(f"id '{ident}' is used {count} times")
    if any(not ident.strip() or re.search(r"\s", ident) for ident in page.ids):
        problem("an id is empty or holds whitespace")
    for element in page.root.iter():
        where = f"<{element.tag}> on line {element.line}"
        if element.tag == "script":
            kind = element.get("type").strip().lower()
            if kind not in DATA_SCRIPT_TYPES and (not element.get("src") or element.raw_text):
                problem(f"inline script: {where}")
        if element.tag == "style":
            problem(f"inline <style>: {where}")
        for name, value in element.attrs.items():
            if name.startswith("on"):
                problem(f"event handler attribute '{name}' on {where}")
            if name == "style":
                problem(f"inline style attribute on {where}")
            if name in URL_ATTRS and _BAD_SCHEME.match(value):
                problem(f"dangerous URL {value!r} in {name} of {where}")
            if name == "srcset":
                problem(f"srcset on {where} (not checked; the generator makes none)")
        if element.tag != "a" and not _canonical(element):
            for name in ("src", "href", "poster", "data"):
                value = _in_site(page, element.get(name))
                if value and (urlsplit(value).scheme or value.startswith("//")):
                    problem(f"{where} loads {value!r} from outside the site")
    return problems


def _canonical(element: Element) -> bool:
    return element.tag == "link" and element.get("rel").split() == ["canonical"]


def _in_site(page: Page, href: str) -> str:
    """On a page served at any address, an absolute link into the site as a relative one."""
    if page.path not in ANY_ADDRESS:
        return href
    for element in page.root.iter("link"):
        canonical = element.get("href")
        if _canonical(element) and canonical.endswith(page.path):
            base = canonical.removesuffix(page.path)
            if base and href.startswith(base):
                return href.removeprefix(base) or "index.html"
    return href


# --- links across the site -------------------------------------------------------------------


def _links(page: Page) -> Iterator[tuple[Element, str, str]]:
    for element in page.root.iter():
        for name in ("href", "src", "xlink:href"):
            if name in element.attrs and not _canonical(element):
                yield element, name, element.attrs[name]


def link_problems(folder: Path, pages: dict[str, Page]) -> list[str]:
    """Every link that is absolute, root-relative, a folder link, or does not resolve."""
    problems = []
    ids = {path: set(page.ids) for path, page in pages.items()}
    for path, page in pages.items():
        for element, attr, href in _links(page):
            where = f"{path}: <{element.tag} {attr}={href!r}> (line {element.line})"
            href = _in_site(page, href)
            parts = urlsplit(href)
            if parts.scheme:
                if parts.scheme.lower() not in EXTERNAL_SCHEMES or element.tag not in ("a",):
                    problems.append(f"{where}: a URL with scheme '{parts.scheme}'")
                continue
            if parts.netloc or href.startswith("//"):
                problems.append(f"{where}: protocol-relative link")
                continue
            if parts.path.startswith("/") or parts.path.startswith("\\"):
                problems.append(f"{where}: root-relative link (breaks under a sub-path)")
                continue
            if not href:
                problems.append(f"{where}: empty link")
                continue
            target = resolve(path, href)
            if target == ".." or target.startswith("../"):
                problems.append(f"{where}: leads outside the site")
                continue
            if target.endswith("/") or target == ".":
                problems.append(f"{where}: a folder link (opens a file listing from file://)")
                target = posixpath.join(target.rstrip("/").removeprefix("."), "index.html")
                target = target.lstrip("/")
            file = folder / target
            if not file.is_file():
                problems.append(f"{where}: no file {target}")
                continue
            fragment = unquote(parts.fragment)
            if "#" in href and not fragment:
                problems.append(f"{where}: empty fragment")
            elif fragment and target.endswith(".html") and fragment not in ids.get(target, ()):
                problems.append(f"{where}: {target} has no id '{fragment}'")
    return problems


def unreachable(pages: dict[str, Page], start: str = "index.html") -> set[str]:
    """Pages that following <a href> links from `start` never reaches (404.html excepted)."""
    seen = {start}
    queue = deque([start])
    while queue:
        page = pages.get(queue.popleft())
        if page is None:
            continue
        for element in page.root.iter("a"):
            href = element.get("href")
            if not href or urlsplit(href).scheme or href.startswith("/"):
                continue
            target = resolve(page.path, href)
            if target.endswith("/"):
                target += "index.html"
            if target in pages and target not in seen:
                seen.add(target)
                queue.append(target)
    return set(pages) - seen - UNLINKED


def site_problems(folder: Path) -> list[str]:
    """All page rules, links and reachability of a built site, in one list."""
    pages = load_site(folder)
    problems = [p for page in pages.values() for p in page_problems(page)]
    problems += link_problems(folder, pages)
    problems += [f"{path}: not reachable from index.html" for path in sorted(unreachable(pages))]
    return problems
