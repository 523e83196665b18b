"""Documents + schema -> the Corpus: every field checked against its declaration.

Each field problem becomes a located diagnostic (the key's or the value's line and column);
a record with errors is still kept when it has an id, so references to it don't cascade.
"""

from __future__ import annotations

import difflib
import itertools
import operator
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from .cache import Memo, fingerprint
from .dates import DateError, PartialDate, parse_date, parse_timezone, range_error
from .diagnostics import Diagnostic, Diagnostics, Location, clip, did_you_mean
from .markup import MarkupTooComplex, check_complexity
from .model import Alias, Citation, Corpus, Identifier, Publisher, Record, Ref, Site, Text
from .reading import Document, Doubt, Recent, Unread, reread
from .schema import (
    ID_PATTERN,
    IDENTIFIER_SCHEMES,
    IDENTIFIER_URLS,
    SCHEMAS,
    SINGULAR,
    SITE_FIELDS,
    STORY,
    Field,
)
from .workers import even_slices, run_all
from .yamlnodes import NULLS, Mapping, Node, Scalar, Sequence, describe, load_yaml

_ID = re.compile(ID_PATTERN)
_WEB_ADDRESS = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# Characters a URL may not hold as they are (RFC 3986): they would end an attribute, or
# make an address the HTML checker refuses.
_NOT_IN_URL = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]')
# An id is a folder and a file name in the site; file systems refuse names over 255 bytes.
MAX_ID_LENGTH = 100
_INTEGER = re.compile(r"^[-+]?[0-9]+$")
_NUMBER = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_FENCE = re.compile(r"^(---|\.\.\.)[ \t]*$")
_UTC = parse_timezone("UTC")


class _Declared(NamedTuple):
    """Fields by name, and those that are required (in the same order)."""

    by_name: dict[str, Field]
    required: tuple[Field, ...]


def _declare(fields: Iterable[Field]) -> _Declared:
    by_name = {f.name: f for f in fields}
    return _Declared(by_name, tuple(f for f in by_name.values() if f.required))


# Made once, not for each record: each kind's fields, and with an `id:` the record repeats.
_ID_FIELD = Field("id", "text", "The record's id.")
_KINDS = {kind: _declare(fields) for kind, fields in SCHEMAS.items()}
_KINDS_WITH_ID = {kind: _declare((*fields, _ID_FIELD)) for kind, fields in SCHEMAS.items()}
_SITE = _declare(SITE_FIELDS)
# A `records` field's entries' fields, by the field's id (the field kept, so the id is its).
_ENTRIES: dict[int, tuple[Field, _Declared]] = {}
_TYPE_WORDS = {
    "text": "text",
    "inline": "text",
    "markdown": "text",
    "date": "a date",
    "bool": "true or false",
    "integer": "a whole number",
    "texts": "a list of text",
    "aliases": "a list of names, or a mapping of language to names",
    "citations": "a list of source ids or {source: id, ...} entries",
    "ref": "an id",
    "refs": "a list of ids",
    "coordinates": "[latitude, longitude]",
    "path": "a list of [latitude, longitude] points",
    "mapping": "a mapping",
    "choice": "text",
    "records": "a list",
    "publisher": "text (an actor id or a name)",
    "url": "a web address",
    "identifiers": "a mapping of scheme to id, like {wikidata: Q42}, or a list of web addresses",
}


def web_address_problem(value: str) -> str | None:
    """Why `value` is not a web address a page may link to (http or https only), or None."""
    if not _WEB_ADDRESS.match(value):
        return "must be a web address starting with http:// or https://"
    bad = _NOT_IN_URL.search(value)
    if bad is not None:
        return (
            f"must be a web address, and one cannot hold {_show_char(bad.group())}; "
            "percent-encode it (a space is %20)"
        )
    return None


def _show_char(char: str) -> str:
    return "a space" if char == " " else f"'{char}'" if char.isprintable() else repr(char)


# What parsing a document costs beside its characters, in characters (a fact file of 200
# characters takes about a third of the time of a story of 4,000: the YAML and the fields).
_PARSE_COST = 2000

# What parsing one document gives: its records (none, or one) and its diagnostics.
_Parsed = tuple[list[Record], list[Diagnostic] | tuple[Diagnostic, ...]]


def parse_documents(
    documents: Iterable[Document | Unread], jobs: int = 1, memo: Memo | None = None
) -> tuple[Corpus | None, list[Diagnostic]]:
    """Check every document; return the Corpus (None when there is no usable site.yaml).

    With jobs > 1, forked workers parse slices of the documents; records and diagnostics are
    merged in the documents' order, so the result is the same as parsing them here. A memo
    of earlier builds gives the result for a document whose text and time zone are unchanged
    (an `Unread` file is read only if the memo has no result for it).
    """
    diagnostics = Diagnostics()
    records: dict[str, Record] = {}
    documents = list(documents)
    if memo is not None:
        again = _again(documents, memo)
        if again is not None:
            return again
    site: Site | None = None
    for document in documents:
        if isinstance(document, Document) and document.kind == "site":
            site = _parse_site(document, diagnostics)
    tz = site.tz if site else _UTC
    facts = [document for document in documents if document.kind != "site"]
    keys = [_key(d, tz) for d in facts]
    # (Documents `_again` parsed before it gave up are in the memo's new entries.)
    known: list[_Parsed | None] = [
        (memo.new.get(k) or memo.get(k)) if memo is not None else None for k in keys
    ]
    todo = [i for i, parsed in enumerate(known) if parsed is None]
    texts: dict[int, Document] = {}
    for i in todo:
        fact = facts[i]
        if isinstance(fact, Document):
            texts[i] = fact
            continue
        read, problems = reread(fact)  # its warnings were given when it was left unread
        if read is None:
            known[i] = ([], problems)
        else:
            texts[i] = read
            keys[i] = fingerprint(
                read.path, read.kind, read.stem, read.digest, read.assets, str(tz)
            )
    todo = [i for i in todo if i in texts]

    def parse(start: int, stop: int) -> list[_Parsed]:
        return [_parsed(texts[i], tz) for i in todo[start:stop]]

    costs = (_PARSE_COST + len(texts[i].text) for i in todo)
    parts = run_all([partial(parse, a, b) for a, b in even_slices(costs, jobs * 4)], jobs)
    for i, parsed in zip(todo, itertools.chain.from_iterable(parts), strict=True):
        known[i] = parsed
        if memo is not None:
            memo.new[keys[i]] = parsed
    for records_found, found in filter(None, known):
        diagnostics.extend(found)
        for record in records_found:
            other = records.get(record.id)
            if other is not None:
                diagnostics.error(
                    record.location,
                    "E0306",
                    f"the id '{record.id}' is already used by the {SINGULAR[other.kind]} "
                    f"at {other.location}; ids must be unique across the whole site",
                )
                continue
            records[record.id] = record
    if site is None:
        return None, diagnostics.items
    corpus = Corpus(site, dict(sorted(records.items())))
    if memo is not None:  # what the next parse with this memo's entries may start from
        clean = not any(d.code == "E0306" for d in diagnostics.items)
        if clean:  # (else the next parse is a full one: no LAST in the memo)
            where = iter(range(len(facts)))
            # (A document read again here is kept as read: its text may have changed since.)
            given = [d if d.kind == "site" else texts.get(next(where), d) for d in documents]
            assets = _assets(given, memo.old.get(LAST))
            kept = _Kept(_names(given), assets, corpus, diagnostics.items)
            memo.new[LAST] = kept
            _last.keep(memo.new, _Last([_unread(d) for d in documents], kept))
    return corpus, diagnostics.items


def _parsed(document: Document, tz: tzinfo) -> _Parsed:
    """The records of a document, and the problems with it."""
    found = Diagnostics()
    records = _parse_document(document, found, tz)
    for record in records:
        # Worked out here, on the workers, and kept with the record: the build
        # compares them all (deps.survey), and the repr they hash is slow.
        _ = record.fingerprint, record.body and record.body.digest
    # A tuple: most documents have no problems, and () is one object (the memo keeps one
    # entry per document, 62,500 at 10,000 stories).
    return records, tuple(found.items)


# The parse memo's entry that holds what the last parse made (a `_Kept`): the next build
# parses by difference from it, in this process or, from the build cache, in a new one.
LAST = "parse:last"


@dataclass(frozen=True, eq=False)
class _Kept:
    """What a `parse_documents` with a memo made, if no id was used twice: for each document
    it was given, what its memo key is made of but the time zone (`_names`, and its
    assets: its records and problems are the memo's entry by that key); the Corpus, and
    every problem.

    (A str per document, not a tuple of its parts: at 10,000 stories the build cache loads
    62,500 of them in a tenth of the time.)"""

    names: list[str]
    assets: list[tuple[Path, ...]]
    corpus: Corpus
    diagnostics: list[Diagnostic]


@dataclass(frozen=True, eq=False)
class _Last:
    """What the last `parse_documents` with a memo in this process was given, as the very
    objects (unread, but site.yaml): the next one tells the documents that are the same by
    identity, without comparing their names and digests; and what it kept in the memo."""

    documents: list[Document | Unread]
    kept: _Kept


_last: Recent[_Last] = Recent()

# More documents changed than this: the whole parse is as quick.
MOST_CHANGED = 64

_named = attrgetter("path", "kind", "stem", "digest")
_assets_of = attrgetter("assets")


def _names(documents: Iterable[Document | Unread]) -> list[str]:
    """Each document's path, kind, stem and digest (site.yaml's too), joined by NUL, which
    none of them holds: made in C, without a call per document."""
    return list(map("\0".join, map(_named, documents)))


def _assets(documents: list[Document | Unread], old: object) -> list[tuple[Path, ...]]:
    """Each document's assets; those equal to what the last parse kept in that place as
    those very tuples (a delta of the build cache then writes only the others)."""
    assets = list(map(_assets_of, documents))
    if isinstance(old, _Kept) and len(old.assets) == len(assets):
        assets = [a if a is b or a != b else b for a, b in zip(assets, old.assets, strict=True)]
    return assets


def _again(
    documents: list[Document | Unread], memo: Memo
) -> tuple[Corpus | None, list[Diagnostic]] | None:
    """The last parse's Corpus and problems, with the documents that changed since parsed
    again (or found in the memo); None if the memo does not hold what the last parse made,
    or anything else may differ: site.yaml, which documents there are, the ids a changed
    document gives, an id used twice.

    In the process of the last parse, the documents that are the very objects it was given
    are the same; in a new one, those whose names, digests and assets are."""
    last = _last.take(memo.old)
    kept = memo.old.get(LAST)
    made: dict[str, _Parsed] = {}
    if not isinstance(kept, _Kept) or memo.new or len(documents) != len(kept.names):
        return None
    given = None  # the very documents the last parse was given, if in this process
    if last is not None and last.kept is kept and len(last.documents) == len(documents):
        given = last.documents
        moved = map(operator.is_not, documents, given)
    else:  # (compared in C, without a call per document: 62,500 at 10,000 stories)
        moved = map(
            operator.or_,
            map(operator.ne, _names(documents), kept.names),
            map(operator.ne, map(_assets_of, documents), kept.assets),
        )
    changed, renewed = [], []  # the documents whose text changed; the others not the same
    for i in itertools.compress(itertools.count(), moved):
        renewed.append(i)
        now = documents[i]
        path, kind, stem, digest = kept.names[i].split("\0")
        if now.path != path or now.kind != kind or kind == "site":
            if (now.path, now.kind, now.digest) == (path, "site", digest):
                continue  # (read again, as it always is)
            return None
        if (now.stem, now.digest, now.assets) == (stem, digest, kept.assets[i]):
            continue  # the same text, read again (or not, this time)
        changed.append(i)
        if len(changed) > MOST_CHANGED:
            return None
    try:
        objects = _objects(documents, given, renewed)
        return _reparse(documents, changed, memo, kept, made, objects)
    except Doubt:
        memo.new.clear()  # as it was, but for the documents parsed: the full parse fills it
        memo.new.update(made)
        return None


def _reparse(
    documents: list[Document | Unread],
    changed: list[int],
    memo: Memo,
    last: _Kept,
    made: dict[str, _Parsed],
    objects: list[Document | Unread],
) -> tuple[Corpus, list[Diagnostic]]:
    """`_again`'s work on the `changed` documents (their indexes); `Doubt` if an id is new,
    gone or used twice, or what the last parse made of one is not in the memo. `made` gets
    the documents parsed, by memo key; `objects` are the documents kept for the next parse
    in this process (see `_objects`)."""
    tz = last.corpus.site.tz
    memo.new.update(memo.old)
    names = list(last.names)
    assets = list(last.assets)
    records = dict(last.corpus.records)
    renewed: list[str] = []  # the ids of the records parsed again
    gone: set[int] = set()
    found: list[Diagnostic] = []
    for i in changed:
        document = documents[i]
        old_key = fingerprint(*names[i].split("\0"), assets[i], str(tz))  # (as `_key` made it)
        before: _Parsed | None = memo.old.get(old_key)
        if before is None:
            raise Doubt  # (a file that could not be read: its problems are not in the memo)
        key = _key(document, tz)
        known: _Parsed | None = memo.old.get(key)
        if known is None:
            read, problems = reread(document) if isinstance(document, Unread) else (document, [])
            known = ([], problems) if read is None else _parsed(read, tz)
            if read is not None:
                memo.new[key] = made[key] = known
        new_ids = [record.id for record in known[0]]
        if sorted(new_ids) != sorted(record.id for record in before[0]):
            raise Doubt
        if len(set(new_ids)) != len(new_ids):
            raise Doubt
        if old_key != key:
            memo.new.pop(old_key, None)
        for record in known[0]:
            records[record.id] = record
        renewed.extend(new_ids)
        gone.update(id(d) for d in before[1])
        found.extend(known[1])
        names[i], assets[i] = "\0".join(_named(document)), document.assets
    diagnostics = [d for d in last.diagnostics if id(d) not in gone] + found
    corpus = Corpus(last.corpus.site, records)
    corpus.follow(last.corpus, renewed)  # (its order of ids, and of each kind's records)
    kept = _Kept(names, assets, corpus, diagnostics)
    memo.new[LAST] = kept
    _last.keep(memo.new, _Last(objects, kept))
    return corpus, diagnostics


def _objects(
    documents: list[Document | Unread], given: list[Document | Unread] | None, renewed: list[int]
) -> list[Document | Unread]:
    """The documents as the next parse in this process may be given them again (unread,
    without their text): in the process of the last parse, those it was `given` but the
    `renewed` ones; in a new one, each that was read made `Unread`."""
    if given is not None:
        objects = list(given)
        for i in renewed:
            objects[i] = _unread(documents[i])
        return objects
    objects = list(documents)
    texts = map(operator.is_, map(type, documents), itertools.repeat(Document))
    for i in itertools.compress(itertools.count(), texts):
        objects[i] = _unread(documents[i])
    return objects


def without_text(document: Document | Unread) -> Document | Unread:
    """A parsed document as the rest of the build knows it (its path, kind, stem, assets and
    digest: see `unchanged.record`), its text not kept: the records keep what they need of
    it. (At 10,000 stories the texts are some 50 MiB, which workers' records copied.)"""
    d = document
    if isinstance(d, Unread) or d.kind == "site":
        return d
    kept = Document(d.path, d.kind, d.stem, "", d.assets)
    kept.__dict__["digest"] = d.digest  # (a cached property, of the text)
    return kept


def _unread(document: Document | Unread) -> Document | Unread:
    """A document as `_again` compares it with the next build's, without its text (but
    site.yaml's). (Not to be read again: where it is on disk is not known here.)"""
    d = document
    if isinstance(d, Unread) or d.kind == "site":
        return d
    return Unread(d.path, d.kind, d.stem, d.digest, d.assets, "")


def _key(document: Document | Unread, tz: tzinfo) -> str:
    """What the parse of a document depends on: its file, its text and the time zone."""
    d = document
    return fingerprint(d.path, d.kind, d.stem, d.digest, d.assets, str(tz))


# --- documents -----------------------------------------------------------------------------


def _parse_site(document: Document, diagnostics: Diagnostics) -> Site | None:
    node, problems = load_yaml(document.text, document.path)
    diagnostics.extend(problems)
    here = Location(document.path)
    if problems:
        return None
    if not isinstance(node, Mapping):
        diagnostics.error(here, "E0307", "site.yaml must be a mapping of settings (title: ...)")
        return None
    checker = _FieldChecker(document.path, diagnostics, _UTC)
    values, _ = checker.check_mapping(node, _SITE, "site.yaml")
    if "title" not in values:
        return None
    timezone = values.get("timezone", "UTC")
    try:
        tz = parse_timezone(timezone)
    except ValueError as error:
        diagnostics.error(_node_location(document.path, node.get("timezone")), "E0304", str(error))
        return None
    return Site(
        title=values["title"],
        tz=tz,
        description=values.get("description", ""),
        language=values.get("language", "en"),
        base_url=values.get("base_url", ""),
        timezone=timezone,
        allow_html=values.get("allow_html", False),
        extra=values.get("extra", {}),
    )


def _parse_document(document: Document, diagnostics: Diagnostics, tz: tzinfo) -> list[Record]:
    if document.kind == STORY:
        story = _parse_story(document, diagnostics, tz)
        return [story] if story else []
    node, problems = load_yaml(document.text, document.path)
    diagnostics.extend(problems)
    here = Location(document.path)
    if any(p.severity.value == "error" for p in problems):
        return []
    if node is None:
        diagnostics.error(here, "E0205", "the file is empty; a fact file holds one record")
        return []
    if isinstance(node, Sequence):
        records = []
        for item in node.items:
            if not isinstance(item, Mapping):
                diagnostics.error(
                    _node_location(document.path, item),
                    "E0307",
                    f"each item of a list of records must be a mapping, not {describe(item)}",
                )
                continue
            id_node = item.get("id")
            if id_node is not None and not isinstance(id_node, Scalar):
                diagnostics.error(
                    _node_location(document.path, id_node),
                    "E0303",
                    f"'id' must be text (the record's id), not {describe(id_node)}",
                )
                continue
            if id_node is None or id_node.is_null:
                diagnostics.error(
                    _node_location(document.path, item),
                    "E0301",
                    "a record in a list needs an 'id' field",
                )
                continue
            record = _build_record(
                document, item, id_node.value, id_node, diagnostics, tz, from_name=False
            )
            if record:
                records.append(record)
        return records
    if not isinstance(node, Mapping):
        diagnostics.error(
            _node_location(document.path, node),
            "E0307",
            f"a fact file must be a mapping of fields (or a list of them), not {describe(node)}",
        )
        return []
    id_node = node.get("id")
    if id_node is not None and not isinstance(id_node, Scalar):
        diagnostics.error(
            _node_location(document.path, id_node),
            "E0303",
            f"'id' must be text (the file name '{document.stem}'), not {describe(id_node)}",
        )
        return []
    if isinstance(id_node, Scalar) and id_node.is_null:
        id_node = None  # an empty field is the same as a missing one
    if isinstance(id_node, Scalar) and id_node.value != document.stem:
        diagnostics.error(
            _node_location(document.path, id_node),
            "E0305",
            f"the id '{clip(id_node.value)}' differs from the file name '{document.stem}'; "
            "a record's id is its file name (drop the 'id' field or rename the file)",
        )
        return []
    # An `id:` that repeats the file name is allowed (and checked as a field).
    record = _build_record(document, node, document.stem, id_node, diagnostics, tz)
    return [record] if record else []


def _parse_story(document: Document, diagnostics: Diagnostics, tz: tzinfo) -> Record | None:
    lines = document.text.split("\n")
    here = Location(document.path)
    if not lines or lines[0].rstrip() != "---":
        diagnostics.error(
            here,
            "E0206",
            "a story starts with front matter: a line '---', the fields (title, date, ...), "
            "and another '---'",
        )
        return None
    closing = next((i for i in range(1, len(lines)) if _FENCE.match(lines[i])), None)
    if closing is None:
        diagnostics.error(
            here,
            "E0206",
            "the front matter is not closed: add a line '---' after the last field",
        )
        return None
    front = "\n".join(lines[1:closing])
    node, problems = load_yaml(front, document.path, first_line=2)
    diagnostics.extend(problems)
    if any(p.severity.value == "error" for p in problems):
        return None
    if node is None:
        diagnostics.error(
            here.at(2, 1),
            "E0206",
            "the front matter is empty: a story needs at least 'title:' and 'date:'",
        )
        return None
    if not isinstance(node, Mapping):
        diagnostics.error(
            here.at(2, 1),
            "E0206",
            f"the front matter must be fields (title: ..., date: ...), not {describe(node)}",
        )
        return None
    body_line = closing + 2
    body_text = "\n".join(lines[closing + 1 :])
    try:
        check_complexity(body_text)
    except MarkupTooComplex as error:
        where = here.at(body_line + (error.line or 1) - 1, 1)
        diagnostics.error(where, "E0106", f"the story's Markdown is too complex: {error}")
        return None
    body = Text(body_text, here.at(body_line, 1))
    return _build_record(document, node, document.stem, None, diagnostics, tz, body)


def _build_record(
    document: Document,
    node: Mapping,
    record_id: str,
    id_node: Scalar | None,
    diagnostics: Diagnostics,
    tz: tzinfo,
    body: Text | None = None,
    from_name: bool = True,
) -> Record | None:
    """One record; `from_name` when its id is its file (or story folder) name."""
    location = _node_location(document.path, id_node or node)
    if not _ID.match(record_id) or len(record_id) > MAX_ID_LENGTH:
        if from_name:
            # The name is what must change: point at the file, not at a field in it.
            folder = Path(document.path).stem != document.stem
            where = Location(document.path)
            advice = f"; rename the {'folder' if folder else 'file'}"
        else:
            where, advice = location, ""
        why = (
            "is not a valid id: use lowercase letters a-z, digits and single hyphens "
            "(e.g. 'hikmet-hajiyev')"
            if not _ID.match(record_id)
            else f"is too long for an id ({len(record_id)} characters): use at most "
            f"{MAX_ID_LENGTH}, it is part of every address of the record"
        )
        diagnostics.error(where, "E0305", f"'{clip(record_id)}' {why}{advice}")
        return None
    kind = document.kind
    declared = _KINDS[kind] if id_node is None else _KINDS_WITH_ID[kind]
    checker = _FieldChecker(document.path, diagnostics, tz, document.text)
    values, locations = checker.check_mapping(node, declared, _article(SINGULAR[kind]))
    values.pop("id", None)
    name = values.get("title") if kind == STORY else values.get("name")
    if kind == "quotes" and not name and "text" in values:
        name = _shorten(values["text"])
    start, end = values.get("date"), values.get("end")
    if isinstance(start, PartialDate) and isinstance(end, PartialDate):
        problem = range_error(start, end, tz)
        if problem:
            # At the value, as for a role's `to`: the date is what needs changing.
            diagnostics.error(_node_location(document.path, node.get("end")), "E0502", problem)
    record_id = sys.intern(record_id)  # one str for the id, its refs and edges (`model`)
    if not isinstance(name, str):
        return Record(
            kind, record_id, record_id, location, values, locations, body, document.assets
        )
    return Record(kind, record_id, name, location, values, locations, body, document.assets)


def _shorten(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return f"“{flat}”"
    return f"“{flat[: limit - 1].rstrip()}…”"


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _node_location(path: str, node: Node | None) -> Location:
    if node is None:
        return Location(path)
    return Location(path, node.line, node.column)


# --- fields --------------------------------------------------------------------------------


class _FieldChecker:
    """Turns YAML nodes into values of the declared types, reporting problems as it goes."""

    def __init__(self, path: str, diagnostics: Diagnostics, tz: tzinfo, text: str = "") -> None:
        self.path = path
        self.tz = tz
        self.text = text
        self.diagnostics = diagnostics

    def at(self, node: Node) -> Location:
        return Location(self.path, node.line, node.column)

    def error(self, node: Node, code: str, message: str) -> None:
        self.diagnostics.error(self.at(node), code, message)

    def check_mapping(
        self, node: Mapping, fields: _Declared, what: str
    ) -> tuple[dict[str, Any], dict[str, Location]]:
        values: dict[str, Any] = {}
        locations: dict[str, Location] = {}
        declared = fields.by_name
        path = self.path
        # Fields that an unknown key is probably a typo of: their absence is no news.
        suggested: set[str] = set()
        for key, value in node.items:
            name = key.value
            declaration = declared.get(name)
            if declaration is None:
                suggestion = did_you_mean(name, declared)
                suggested.update(difflib.get_close_matches(name, sorted(declared), 3, 0.6))
                self.error(key, "E0302", f"unknown field '{clip(name)}' for {what}{suggestion}")
                continue
            name = declaration.name  # (equal, and one str for every record's field)
            locations[name] = Location(path, key.line, key.column)
            if value.__class__ is Scalar and value.plain and value.value in NULLS:
                continue  # an empty field is the same as a missing one
            converted = _CONVERTERS[declaration.type](self, declaration, value)
            if converted is not None:
                values[name] = converted
        for declaration in fields.required:
            if declaration.name in suggested and declaration.name not in locations:
                continue
            if declaration.name not in locations:
                hint = f" (one of {', '.join(declaration.choices)})" if declaration.choices else ""
                self.diagnostics.error(
                    self.at(node),
                    "E0301",
                    f"{what} needs the field '{declaration.name}'{hint}",
                )
            elif declaration.name not in values and _is_empty(node.get(declaration.name)):
                self.diagnostics.error(
                    locations[declaration.name],
                    "E0301",
                    f"the field '{declaration.name}' is empty; it is required",
                )
        return values, locations

    def convert(self, field: Field, node: Node) -> Any:
        return _CONVERTERS[field.type](self, field, node)

    def wrong_type(self, field: Field, node: Node) -> None:
        hint = ""
        if isinstance(node, Scalar) and field.type in ("texts", "refs"):
            hint = f"; write it as a list: [{clip(node.value)}]"
        self.error(
            node,
            "E0303",
            f"'{field.name}' must be {_TYPE_WORDS[field.type]}, not {describe(node)}{hint}",
        )

    def scalar(self, field: Field, node: Node) -> str | None:
        if not isinstance(node, Scalar):
            self.wrong_type(field, node)
            return None
        return node.value

    def item(self, field: Field, node: Node, what: str) -> str | None:
        """The text of one item of a list field; the message names the item, not the list."""
        if not isinstance(node, Scalar):
            self.error(
                node, "E0303", f"each item of '{field.name}' must be {what}, not {describe(node)}"
            )
            return None
        return node.value

    # One method per field type; each returns the value or None after reporting.

    def _to_text(self, field: Field, node: Node) -> str | None:
        value = self.scalar(field, node)
        return value.strip() if value is not None else None

    def _to_choice(self, field: Field, node: Node) -> str | None:
        value = self._to_text(field, node)
        if value is not None and value not in field.choices:
            self.error(
                node,
                "E0304",
                f"'{clip(value)}' is not a {field.name} here{did_you_mean(value, field.choices)}; "
                f"use one of {', '.join(field.choices)}",
            )
            return None
        return value

    def _to_url(self, field: Field, node: Node) -> str | None:
        value = self._to_text(field, node)
        if value is None:
            return None
        problem = web_address_problem(value)
        if problem is not None:
            self.error(node, "E0404", f"'{field.name}' {problem}")
            return None
        return value

    def _to_inline(self, field: Field, node: Node) -> Text | None:
        value = self.scalar(field, node)
        if value is None:
            return None
        try:
            check_complexity(value, inline=field.type == "inline")
        except MarkupTooComplex as error:
            self.error(node, "E0106", f"the Markdown is too complex: {error}")
            return None
        return Text(value, self.at(node), self.text)

    _to_markdown = _to_inline

    def _to_date(self, field: Field, node: Node) -> PartialDate | None:
        value = self.scalar(field, node)
        if value is None:
            return None
        try:
            return parse_date(value)
        except DateError as error:
            quoted = 0 if isinstance(node, Scalar) and node.plain else 1
            column = node.column + quoted + error.offset
            self.diagnostics.error(
                Location(self.path, node.line, column), "E0501", f"{field.name}: {error.message}"
            )
            return None

    def _to_bool(self, field: Field, node: Node) -> bool | None:
        if isinstance(node, Scalar) and node.plain and node.value in ("true", "false"):
            return node.value == "true"
        self.error(node, "E0303", f"'{field.name}' must be true or false{_not(node)}")
        return None

    def _to_integer(self, field: Field, node: Node) -> int | None:
        if isinstance(node, Scalar) and _INTEGER.match(node.value.strip()):
            return int(node.value)
        self.error(
            node, "E0308", f"'{field.name}' must be a whole number, like 1 or -2{_not(node)}"
        )
        return None

    def _to_texts(self, field: Field, node: Node) -> tuple[str, ...] | None:
        if not isinstance(node, Sequence):
            self.wrong_type(field, node)
            return None
        items = [self.item(field, item, "text") for item in node.items]
        return tuple(i.strip() for i in items if i and i.strip())

    def _to_aliases(self, field: Field, node: Node) -> tuple[Alias, ...] | None:
        if isinstance(node, Sequence):
            names = self._to_texts(field, node) or ()
            return tuple(Alias(n) for n in names)
        if isinstance(node, Mapping):
            aliases: list[Alias] = []
            for key, value in node.items:
                language = key.value.strip()
                if isinstance(value, Sequence):
                    aliases.extend(Alias(n, language) for n in self._to_texts(field, value) or ())
                elif isinstance(value, Scalar) and not value.is_null:
                    aliases.append(Alias(value.value.strip(), language))
                elif isinstance(value, Mapping):
                    self.error(value, "E0303", "an alias must be a name or a list of names")
            return tuple(aliases)
        self.wrong_type(field, node)
        return None

    def _to_ref(self, field: Field, node: Node) -> Ref | None:
        value = self.scalar(field, node)
        return Ref(value.strip(), self.at(node)) if value is not None else None

    def _to_publisher(self, field: Field, node: Node) -> Publisher | None:
        value = self.scalar(field, node)
        return Publisher(value.strip(), self.at(node)) if value is not None else None

    def _to_refs(self, field: Field, node: Node) -> tuple[Ref, ...] | None:
        if not isinstance(node, Sequence):
            self.wrong_type(field, node)
            return None
        refs = [
            Ref(value.strip(), self.at(item))
            for item in node.items
            if (value := self.item(field, item, "an id")) is not None
        ]
        return tuple(refs)

    def _to_records(self, field: Field, node: Node) -> tuple[dict[str, Any], ...] | None:
        if not isinstance(node, Sequence):
            self.wrong_type(field, node)
            return None
        kept = _ENTRIES.get(id(field))
        if kept is None:
            kept = _ENTRIES[id(field)] = (field, _declare(field.fields))
        fields = kept[1]
        declared = fields.by_name
        entries: list[dict[str, Any]] = []
        for item in node.items:
            if isinstance(item, Scalar) and field.shorthand:
                entries.append({field.shorthand: self.convert(declared[field.shorthand], item)})
                continue
            if not isinstance(item, Mapping):
                self.error(
                    item,
                    "E0303",
                    f"each entry of '{field.name}' must be a mapping "
                    f"({', '.join(declared)}), not {describe(item)}",
                )
                continue
            values, _ = self.check_mapping(item, fields, f"an entry of '{field.name}'")
            if all(f.name in values for f in field.fields if f.required):
                entries.append(values)
                start, end = values.get("from"), values.get("to")
                if isinstance(start, PartialDate) and isinstance(end, PartialDate):
                    problem = range_error(start, end, self.tz)
                    to_node = item.get("to")
                    if problem and to_node is not None:
                        self.error(to_node, "E0502", problem)
        return tuple(entries)

    def _to_citations(self, field: Field, node: Node) -> tuple[Citation, ...] | None:
        entries = self._to_records(field, node)
        if entries is None:
            return None
        return tuple(
            Citation(e["source"], e.get("quote"), e.get("page"), e.get("accessed"))
            for e in entries
            if isinstance(e.get("source"), Ref)
        )

    def _to_coordinates(self, field: Field, node: Node) -> tuple[float, float] | None:
        if not (isinstance(node, Sequence) and len(node.items) == 2):
            self.error(
                node,
                "E0303",
                f"'{field.name}' must be [latitude, longitude], e.g. [40.09, 46.64]",
            )
            return None
        numbers: list[float] = []
        for item, (label, limit) in zip(
            node.items, (("latitude", 90), ("longitude", 180)), strict=True
        ):
            if not (isinstance(item, Scalar) and _NUMBER.match(item.value.strip())):
                self.error(item, "E0308", f"the {label} must be a number in decimal degrees")
                return None
            number = float(item.value)
            if not -limit <= number <= limit:
                self.error(
                    item, "E0308", f"the {label} {item.value} is not between -{limit} and {limit}"
                )
                return None
            numbers.append(number)
        return numbers[0], numbers[1]

    def _to_path(self, field: Field, node: Node) -> tuple[tuple[float, float], ...] | None:
        if not isinstance(node, Sequence) or len(node.items) < 2:
            self.error(
                node, "E0303", f"'{field.name}' must be a list of two or more [lat, lon] points"
            )
            return None
        points = [self._to_coordinates(field, item) for item in node.items]
        if any(p is None for p in points):
            return None
        return tuple(p for p in points if p is not None)

    def _to_identifiers(self, field: Field, node: Node) -> tuple[Identifier, ...] | None:
        if isinstance(node, Sequence):
            return tuple(self.identifier_urls(field, node))
        if not isinstance(node, Mapping):
            self.wrong_type(field, node)
            return None
        found: list[Identifier] = []
        for key, value in node.items:
            if isinstance(value, Scalar) and value.is_null and value.plain:
                continue
            if key.value == IDENTIFIER_URLS:
                found.extend(self.identifier_urls(field, value))
                continue
            scheme = IDENTIFIER_SCHEMES.get(key.value)
            if scheme is None:
                known = [*IDENTIFIER_SCHEMES, IDENTIFIER_URLS]
                self.error(
                    key,
                    "E0304",
                    f"'{clip(key.value)}' is not an identifier scheme here"
                    f"{did_you_mean(key.value, known)}; use one of {', '.join(IDENTIFIER_SCHEMES)}"
                    f", or '{IDENTIFIER_URLS}:' for other web addresses",
                )
                continue
            if not isinstance(value, Scalar):
                self.error(
                    value,
                    "E0303",
                    f"the {scheme.title} id must be text like {scheme.example}, "
                    f"not {describe(value)}",
                )
                continue
            text = value.value
            if not re.fullmatch(scheme.pattern, text.strip()):
                hint = (
                    f"; give the id alone, or the address under '{IDENTIFIER_URLS}:'"
                    if "://" in text
                    else ""
                )
                self.error(
                    value,
                    "E0304",
                    f"'{text.strip()}' is not a {scheme.title} id; it looks like "
                    f"{scheme.example}{hint}",
                )
                continue
            found.append(Identifier(scheme.name, text.strip(), scheme.url.format(text.strip())))
        return tuple(found)

    def identifier_urls(self, field: Field, node: Node) -> list[Identifier]:
        found = []
        for item in node.items if isinstance(node, Sequence) else (node,):
            if self.item(field, item, "a web address") is not None:
                url = self._to_url(field, item)
                if url is not None:
                    found.append(Identifier("url", url, url))
        return found

    def _to_mapping(self, field: Field, node: Node) -> dict[str, Any] | None:
        if not isinstance(node, Mapping):
            self.wrong_type(field, node)
            return None
        result = _plain(node)
        return result if isinstance(result, dict) else None


# The converter of each field type: `_FieldChecker._to_TYPE`.
_CONVERTERS: dict[str, Any] = {
    name[len("_to_") :]: method
    for name, method in vars(_FieldChecker).items()
    if name.startswith("_to_")
}


def _plain(node: Node) -> Any:
    """A free-form node as plain Python values (text stays text)."""
    if isinstance(node, Mapping):
        return {key.value: _plain(value) for key, value in node.items}
    if isinstance(node, Sequence):
        return [_plain(item) for item in node.items]
    if node.is_null:
        return None
    if node.plain and node.value in ("true", "false"):
        return node.value == "true"
    return node.value


def _not(node: Node) -> str:
    """What a value was instead, for a message: ", not 'yes'" or ", not a list"."""
    return f", not '{clip(node.value)}'" if isinstance(node, Scalar) else f", not {describe(node)}"


def _is_empty(node: Node | None) -> bool:
    return isinstance(node, Scalar) and node.is_null
