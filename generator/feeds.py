"""Feeds and discovery: the Atom feed of stories, one Atom feed per story's chronology, the
sitemap and robots.txt.

Input: the Corpus, its Links and the URLs of the site's pages; output: file path -> bytes.
Ids and links are absolute under `base_url`; without one, ids are `tag:` URIs (see
`Feeds.entry_id`) and links are relative to the feed, which Atom allows.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime

from . import chronology
from .chronology import Entry
from .dates import PartialDate, display_range
from .jsonld import plain_texts
from .links import Links
from .markup import relativize
from .model import Corpus, Record
from .schema import STORY
from .urls import (
    FEED,
    HOME,
    NOT_FOUND,
    SITEMAP,
    absolute,
    link,
    record_url,
    relative_prefix,
    story_feed_url,
)

ATOM = "http://www.w3.org/2005/Atom"
SITEMAPS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XML_NS = "http://www.w3.org/XML/1998/namespace"
# The site's feed carries the newest stories only, as feeds do: a reader polls it for what is
# new, and an archive of thousands of stories in full would be a file of many megabytes.
FEED_STORIES = 50
# A feed of a site without stories still needs an `updated`; a fixed one keeps builds equal.
EPOCH = "1970-01-01T00:00:00+00:00"
# The date part of the `tag:` ids used without base_url (RFC 4151); fixed so ids never change.
TAG_DATE = "2000"

# Characters XML 1.0 cannot hold even escaped (a YAML "\x01" escape can produce them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Feeds:
    def __init__(self, corpus: Corpus, links: Links) -> None:
        self.corpus = corpus
        self.links = links
        self.site = corpus.site
        self.base = corpus.site.base_url
        self.plain = plain_texts(links)

    def entry_id(self, url: str) -> str:
        """A stable id: the page's address, or without base_url a `tag:` URI.

        The tag's authority is the site title as a host name under `.invalid`, a name no one
        can own; so ids differ between sites but change when the title does.
        """
        if self.base:
            return absolute(self.base, url)
        return f"tag:{_host_name(self.site.title)}.invalid,{TAG_DATE}:{url or '/'}"

    def href(self, feed_url: str, url: str) -> str:
        """A link from the feed: absolute, or relative to the feed's own address."""
        return absolute(self.base, url) if self.base else link(feed_url, url)

    def when(self, date: PartialDate) -> str:
        """An RFC 3339 time: a partial date stands for its first moment."""
        return _rfc3339(date.start(self.site.tz))

    # --- Atom ----------------------------------------------------------------------------

    def feed(
        self, feed_url: str, title: str, subtitle: str, alternate: str, entries: list[ET.Element]
    ) -> bytes:
        root = ET.Element("feed", {"xmlns": ATOM, f"{{{XML_NS}}}lang": self.site.language})
        _add(root, "id", self.entry_id(feed_url))
        _add(root, "title", title)
        if subtitle:
            _add(root, "subtitle", subtitle)
        moments = [datetime.fromisoformat(e.findtext("updated") or EPOCH) for e in entries]
        _add(root, "updated", _rfc3339(max(moments)) if moments else EPOCH)
        self_href = self.href(feed_url, feed_url)
        _add(root, "link", rel="self", type="application/atom+xml", href=self_href)
        _add(root, "link", rel="alternate", type="text/html", href=self.href(feed_url, alternate))
        _add(_add(root, "author"), "name", self.site.title)
        _add(root, "generator", "factsheet")
        root.extend(entries)
        return _xml(root)

    def stories(self) -> bytes:
        """The newest stories (FEED_STORIES of them), newest first, with their full text."""
        entries = chronology.in_order(self.corpus.of_kind(STORY), self.corpus)
        newest = list(reversed(entries))[:FEED_STORIES]
        return self.feed(
            FEED,
            self.site.title,
            self.site.description,
            HOME,
            [self.story_entry(e.record) for e in newest],
        )

    def story_entry(self, story: Record) -> ET.Element:
        assert story.date is not None  # parse guarantees a story's date
        url = record_url(story)
        entry = self.entry(FEED, story, story.name, [story.date, story.get("updated")])
        _add(entry, "published", self.when(story.date))
        for author in story.get("authors", ()):
            _add(_add(entry, "author"), "name", author)
        body = self.links.html.get((story.id, "body"), "")
        # The body's links are relative to the story's page; xml:base says where that is.
        html = relativize(body, relative_prefix(url))
        _add(entry, "content", html, {f"{{{XML_NS}}}base": self.href(FEED, url)}, type="html")
        for tag in story.get("tags", ()):
            _add(entry, "category", term=tag)
        return entry

    def story_chronology(self, story: Record) -> bytes:
        """The story's chronology, newest first: each item is an entry."""
        feed_url = story_feed_url(story)
        items = chronology.story_chronology(story, self.corpus, self.links)
        return self.feed(
            feed_url,
            f"{story.name}: chronology",
            self.plain(story.id, "summary"),
            record_url(story),
            [self.item_entry(feed_url, item) for item in reversed(items)],
        )

    def item_entry(self, feed_url: str, item: Entry) -> ET.Element:
        record = item.record
        title = f"{display_range(item.date, item.end)}: {record.name}"
        return self.entry(feed_url, record, title, [item.date, record.get("updated")])

    def entry(
        self, feed_url: str, record: Record, title: str, dates: list[PartialDate | None]
    ) -> ET.Element:
        """An entry for a record's page; `updated` is the latest of `dates`."""
        entry = ET.Element("entry")
        url = record_url(record)
        _add(entry, "id", self.entry_id(url))
        _add(entry, "title", title)
        known = [d.start(self.site.tz) for d in dates if d is not None]
        _add(entry, "updated", _rfc3339(max(known)) if known else EPOCH)
        _add(entry, "link", rel="alternate", type="text/html", href=self.href(feed_url, url))
        summary = self.plain(record.id, "summary")
        if record.kind == "quotes":
            summary = " ".join(p for p in (f"“{record.get('text', '')}”", summary) if p)
        if summary:
            _add(entry, "summary", summary, type="text")
        return entry

    # --- discovery -----------------------------------------------------------------------

    def sitemap(self, page_urls: Iterable[str]) -> bytes:
        """Every page but 404.html; `lastmod` where a record says when it was updated."""
        by_url = {record_url(r): r for r in self.corpus}
        root = ET.Element("urlset", {"xmlns": SITEMAPS})
        for url in page_urls:
            if url == NOT_FOUND:
                continue
            entry = _add(root, "url")
            _add(entry, "loc", absolute(self.base, url))
            record = by_url.get(url)
            if record is None:
                continue
            changed = record.get("updated") or (record.date if record.kind == STORY else None)
            if isinstance(changed, PartialDate):
                _add(entry, "lastmod", self.w3c_date(changed))
        return _xml(root)

    def w3c_date(self, date: PartialDate) -> str:
        """W3C Datetime: a date at its precision, or with a time, a full time with a zone."""
        return date.machine() if date.hour is None else self.when(date)

    def robots(self) -> bytes:
        lines = ["User-agent: *", "Disallow:"]
        if self.base:
            # A sitemap must be named by its absolute address; without base_url there is none.
            lines += ["", f"Sitemap: {absolute(self.base, SITEMAP)}"]
        return ("\n".join(lines) + "\n").encode("utf-8")


def _add(
    parent: ET.Element,
    tag: str,
    text: str | None = None,
    attributes: dict[str, str] | None = None,
    **more: str,
) -> ET.Element:
    element = ET.SubElement(parent, tag, {**(attributes or {}), **more})
    if text is not None:
        element.text = _NOT_XML.sub("", text)
    for name, value in element.attrib.items():
        element.set(name, _NOT_XML.sub("", value))
    return element


def _xml(root: ET.Element) -> bytes:
    """The document as `ET.indent` then `ET.tostring(root, encoding="utf-8",
    xml_declaration=True)` write it, in one pass (indent and ElementTree's serializer cost
    more than building the elements): two spaces a level, `<tag />` when empty. Tags are
    plain names; attributes plain or of the xml namespace."""
    out = ["<?xml version='1.0' encoding='utf-8'?>\n"]
    _write(root, out, "\n")
    out.append("\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


# The attributes of the xml namespace, as ElementTree names them (it declares no prefix).
_QNAMES = {f"{{{XML_NS}}}lang": "xml:lang", f"{{{XML_NS}}}base": "xml:base"}


def _write(element: ET.Element, out: list[str], indentation: str) -> None:
    """Write `element`; `indentation` is the line break and spaces that lead to its line."""
    tag = element.tag
    out.append(f"<{tag}")
    for name, value in element.attrib.items():
        out.append(f' {_QNAMES.get(name, name)}="{_escape_attribute(value)}"')
    text = element.text
    children = list(element)
    if children:
        inner = indentation + "  "
        out.append(">")
        # ET.indent keeps text and tails that are more than white space.
        out.append(_escape_text(text) if text and text.strip() else inner)
        last = children[-1]
        for child in children:
            _write(child, out, inner)
            tail = child.tail
            if tail and tail.strip():
                out.append(_escape_text(tail))
            else:
                out.append(indentation if child is last else inner)
        out.append(f"</{tag}>")
    elif text:
        out.append(f">{_escape_text(text)}</{tag}>")
    else:
        out.append(" />")


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    return (
        _escape_text(text)
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
        .replace("\n", "&#10;")
        .replace("\t", "&#09;")
    )


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _host_name(title: str) -> str:
    """The title as one DNS label: 'Karabakh mining: the fact sheets' -> 'karabakh-mining-...'."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    label = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:63].strip("-")
    return label or "factsheet"
