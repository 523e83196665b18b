"""The search index: every record and story as one entry of names, aliases, summary and text.

Input: the Corpus and its Links (for the rendered Markdown); output: `search/records.js`, a
script file that assigns the index to `self.factsheetSearch`. A script, not JSON: a page
opened from disk may load scripts but may not `fetch`, so search works from `file://` too.
The search code (`assets/search.js`) folds case and diacritics at load time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from markupsafe import Markup

from .links import Links
from .model import Corpus, Record
from .schema import SINGULAR, STORY
from .urls import link, record_url

SEARCH = "search/"
INDEX = "search/records.js"
SCRIPT = "assets/search.js"
# The Markdown fields searched as the record's text (the summary is an entry of its own).
_TEXT_FIELDS = ("description", "body")


def search_entry(record: Record, links: Links) -> dict[str, object]:
    """One record as the search code reads it; `url` is relative to the search page."""
    aliases = [alias.name for alias in record.get("aliases", ())]
    text = [_plain(links.html.get((record.id, name), "")) for name in _TEXT_FIELDS]
    if record.kind == "quotes":
        text.insert(0, record.get("text", ""))
    return {
        "url": link(SEARCH, record_url(record)),
        "name": record.name,
        "kind": SINGULAR[record.kind],
        "aliases": aliases,
        "summary": _plain(links.html.get((record.id, "summary"), "")),
        "text": " ".join(t for t in text if t),
        "tags": list(record.get("tags", ())),
    }


# The Markdown fields an entry is made from, with the record: their HTML, by record id.
FIELDS = (*_TEXT_FIELDS, "summary")


def search_index(
    corpus: Corpus,
    links: Links,
    known: Mapping[str, str] | None = None,
    used: dict[str, str] | None = None,
) -> bytes:
    """The index script, byte-identical for the same content: stories first, then by kind.

    `known`: each record's entry as JSON, by a digest of all it is made from, from the last
    build; the entries of unchanged records are taken from there. `used` gets this index's.
    In one process (serve), the last index made here is asked first: a record whose
    fingerprint and HTML compare equal to then (the very strings, when the link stage kept
    them) keeps its entry and digest without hashing its HTML again.
    """
    global _recent
    records = sorted(corpus, key=lambda r: (r.kind != STORY, r.kind, r.id))
    known = known or {}
    html = links.html
    recent: dict[str, _Entry] = {}
    entries = []
    for record in records:
        texts = tuple([html.get((record.id, name), "") for name in FIELDS])
        last = _recent.get(record.id)
        if last is None or last[0] != record.fingerprint or last[1] != texts:
            made_from = "\0".join((record.fingerprint, *texts)).encode()
            key = hashlib.blake2b(made_from, digest_size=16).hexdigest()
            entry = known.get(key)
            if entry is None:
                entry = json.dumps(search_entry(record, links), ensure_ascii=True, sort_keys=True)
            last = (record.fingerprint, texts, key, entry)
        recent[record.id] = last
        if used is not None:
            used[last[2]] = last[3]
        entries.append(last[3])
    _recent = recent
    # As json.dumps({"records": entries}) writes it. ASCII only, so the file reads the same
    # whatever charset a host declares for it.
    return f'self.factsheetSearch = {{"records": [{", ".join(entries)}]}};\n'.encode("ascii")


# A record's entry as last made in this process: the record's fingerprint, the HTML of its
# FIELDS, the entry's digest and the entry.
_Entry = tuple[str, tuple[str, ...], str, str]
_recent: dict[str, _Entry] = {}


class PlainTexts:
    """`links.plain` of each Markdown field, worked out once per field.

    The text of a field is asked for by many files (a record's page, its JSON, the timeline
    and feed of every story it is in); a field asked for again is still looked up in
    `links.html`, so that whoever watches the links sees it read.
    """

    def __init__(self, links: Links) -> None:
        self.links = links
        self.known: dict[tuple[str, str], str] = {}

    def __call__(self, record_id: str, name: str) -> str:
        field = (record_id, name)
        text = self.known.get(field)
        if text is None:
            text = self.known[field] = self.links.plain(record_id, name)
        else:
            _ = field in self.links.html  # read as links.plain reads it
        return text


def _plain(html: str) -> str:
    return str(Markup(html).striptags()) if html else ""
