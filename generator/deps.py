"""The dependency record: what each output file read of the model, to skip what is unchanged.

Every page and data file is made by a function (a *maker*) from the Corpus and its Links.
While a maker runs, the Corpus and Links it is given are watched: each lookup names a piece
of the model, a *key* (a tag and its parts, joined by SEP):

    r id           a record: every field but a story's body (its name, its summary...)
    body id        a story's body, as written
    h id field     the rendered HTML of a Markdown field ("body" for a story's body)
    b id           the backlinks of a record        m id     the records tied to a story
    o id           the edges from a record          i id     the edges to it
    p id           the actor that publishes a source
    k kind         every record of a kind, in order all      every record
    edges          every edge                       g        where every mapped record is
    file path      a file copied into the site (its size, time and inode)
    t name         a template (its text), read by the pages rendered with it or with one
                   that extends, imports or includes it

and every maker also reads the "global" keys the pipeline gives (the site settings, the kinds
present). The record of a build keeps, per maker, the keys it read and one digest of their
values. The next build works out the digest of those keys again: when it is the same, the
maker would read the same values and make the same bytes, so its files are kept. A maker
whose inputs changed runs again, and may read other keys this time.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

from .links import Edge, Links
from .maps import Gazetteer, gazetteer, is_mapped
from .model import Corpus, Record, renewed
from .schema import KINDS, SCHEMAS

# A key: its tag and parts joined by SEP, e.g. "r\x1factor-1" (strings pickle small).
Key = str
Reads = set[Key]
SEP = "\x1f"


def key(*parts: str) -> Key:
    return SEP.join(parts)


# The fingerprint of a key whose value does not exist (a record left out, no backlinks).
_ABSENT = "-"

# The tag of a template's key.
TEMPLATE = "t"


def digest(text: str) -> str:
    return digest_bytes(text.encode("utf-8", "backslashreplace"))


def digest_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class Fingerprints:
    """The current value of every key, as a short digest, worked out once when first asked."""

    def __init__(
        self,
        corpus: Corpus,
        links: Links,
        globals_: Mapping[Key, str],
        templates: Mapping[Key, str] | None = None,
    ) -> None:
        """`globals_`: the keys every maker reads, and their values; `templates`: every
        template's key and value (see `TEMPLATE`), and the digest of them all under
        "templates" (the version of the Jinja environment). Both are worked out by every
        build (`asked`)."""
        self.corpus = corpus
        self.links = links
        self.known: dict[Key, str] = {**globals_, **(templates or {})}
        self.globals = tuple(sorted(globals_))
        self.asked = self.globals + tuple(sorted(templates or ()))

    def __call__(self, name: Key) -> str:
        value = self.known.get(name)
        if value is None:
            value = self.known[name] = self._compute(name.split(SEP))
        return value

    def once(self, name: Key) -> str:
        """The value of a key asked for once (see `rebuild.Table`): not kept."""
        value = self.known.get(name)
        return value if value is not None else self._compute(name.split(SEP))

    def record(self, record_id: str) -> str:
        record = self.corpus.records.get(record_id)
        return record.fingerprint if record is not None else _ABSENT

    def _compute(self, key: list[str]) -> str:
        tag = key[0]
        corpus, links = self.corpus, self.links
        if tag == "r":
            return self.record(key[1])
        if tag == "body":
            record = corpus.records.get(key[1])
            body = record.body if record is not None else None
            return body.digest if body is not None else _ABSENT
        if tag == "h":
            html = links.html.get((key[1], key[2]))
            return digest(html) if html is not None else _ABSENT
        if tag == "k":
            return digest(" ".join(self.record(r.id) for r in corpus.of_kind(key[1])))
        if tag == "all":
            return digest(" ".join(self.record(i) for i in sorted(corpus.records)))
        if tag == TEMPLATE:  # (one not among `templates`: no longer there)
            return _ABSENT
        if tag == "file":
            try:
                status = os.stat(key[1])
            except OSError:
                return _ABSENT
            return f"{status.st_size}:{status.st_mtime_ns}:{status.st_ino}"
        if tag == "g":
            places = gazetteer(corpus).places  # (the one the workshops use, if made)
            return digest(repr([(centre, record.id) for _, centre, record in places]))
        values: dict[str, Callable[[str], object]] = {
            "b": lambda i: links.backlinks.get(i),
            "m": lambda i: links.story_members.get(i),
            "p": lambda i: links.publishers.get(i),
        }
        if tag == "edges":
            return digest(_edges(links.edges))
        if tag == "o":
            return digest(_edges(links.outgoing(key[1])))
        if tag == "i":
            return digest(_edges(links.incoming(key[1])))
        if tag in values:
            return digest(repr(values[tag](key[1])))
        raise KeyError(f"no such key in the dependency record: {SEP.join(key)!r}")


# What the dependency record keeps of each record, for the next build to tell what changed:
# a digest of the record with its body, whether it is on the map, a digest of its edges,
# and the records they lead to, their ids joined by SEP (one str, where a tuple of them was
# 7 objects: 400,000 at 10,000 stories, for a new process to load and hold).
Summary = tuple[str, bool, str, str]


def summary(record: Record, links: Links) -> Summary:
    edges = links.outgoing(record.id)
    targets = SEP.join(sorted({e.target for e in edges}))
    return _state(record), is_mapped(record), digest(_edges(edges)), targets


def targets(summary: Summary) -> list[str]:
    """The ids of the records a summary's record has edges to."""
    return summary[3].split(SEP) if summary[3] else []


# Every field a record may have (whose HTML makers may ask for), and a story's body.
_FIELDS = frozenset({"body", *(f.name for kind in KINDS for f in SCHEMAS[kind])})


def _state(record: Record) -> str:
    """The record with its body, as a digest."""
    return record.fingerprint + (record.body.digest if record.body is not None else "")


def survey(
    corpus: Corpus,
    links: Links,
    last: Mapping[str, Summary],
    before: Mapping[str, Record] | None = None,
) -> tuple[dict[str, Summary], set[Key]]:
    """The summary of every record now, and the keys whose value may differ from the build
    that `last` summarises: those of the records that changed or were visited afresh by the
    link stage (`links.revisited`), and those that gather many records (a kind, every record,
    every edge, the map) if one of their parts changed. Every other key has the value that
    build saw: its record is the same, and so are the edges to and from it.

    `before`, if given, are the records of that build: one that is the very same object now
    is the same record (records are frozen), and is not looked at again.
    """
    records = corpus.records
    summaries = dict(last)
    dirty: set[str] = set(last.keys() - records.keys())
    # Records added, removed, or changed in more than a story's body: what gathering keys
    # ("all", "k kind") are made of.
    reshaped = bool(dirty)
    looked: Iterable[tuple[str, Record]]
    looked = records.items() if before is None else renewed(before, records)
    for record_id, record in looked:
        was = last.get(record_id)
        if was is None or was[0] != _state(record):
            dirty.add(record_id)
            reshaped = reshaped or was is None or not was[0].startswith(record.fingerprint)
    touched = dirty | (links.revisited & records.keys())
    suspects: set[Key] = set()
    reach = set(touched)
    for record_id in touched:
        was = summaries.pop(record_id, None)
        found = records.get(record_id)
        now = summary(found, links) if found is not None else None
        if now is not None:
            summaries[record_id] = now
        suspects.update(key(tag, record_id) for tag in ("r", "body", "o", "p"))
        suspects.update(key("h", record_id, name) for name in _FIELDS)
        for part in (was, now):
            if part is not None:
                reach.update(targets(part))
        if (was and was[2]) != (now and now[2]):
            suspects.add("edges")
        if record_id in dirty and ((was and was[1]) or (now and now[1])):
            suspects.add("g")
    for record_id in reach:
        suspects.update(key(tag, record_id) for tag in ("b", "i", "m"))
    if reshaped:  # (a gathering key reads the records' fingerprints: no body)
        suspects.add("all")
        suspects.update(key("k", kind) for kind in KINDS)
    return summaries, suspects


def _edges(edges: Iterable[Edge]) -> str:
    """Edges as text (a dataclass's repr is slow)."""
    return "\n".join(f"{e.source}\t{e.target}\t{e.relation}\t{e.label}" for e in edges)


class _Watched(Mapping[Any, Any]):
    """A mapping that notes, in `reads`, the key of every entry looked up: the key `tag id`
    of the entry `id`.

    Each key is made once per watched mapping (a workshop's: one per process and build),
    interned, and noted as that very object after: a page makes hundreds of lookups, of the
    same records as many other pages, and its trace's keys are interned when it is done
    (`rebuild._interned`), which for a text made afresh is a lookup in the interpreter's
    table of interned texts, about ten times the cost of finding it interned already."""

    def __init__(self, data: Mapping[Any, Any], reads: Reads, tag: str) -> None:
        self._data = data
        self._note = reads.add
        self._prefix = tag + SEP
        self._keys: dict[Any, Key] = {}  # the key of each entry looked up, by the entry's

    def key_of(self, key: Any) -> Key:
        """The key of the entry `key`, made and kept if it is the first time."""
        found = self._keys.get(key)
        if found is None:
            found = self._keys[key] = sys.intern(self._prefix + self._text(key))
        return found

    def _text(self, key: Any) -> str:
        """An entry's key as text (a key that is not text fails, as `key` would)."""
        text: str = key
        return text

    def __getitem__(self, key: Any) -> Any:
        self._note(self._keys.get(key) or self.key_of(key))
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        self._note(self._keys.get(key) or self.key_of(key))
        return key in self._data

    def get(self, key: Any, default: Any = None) -> Any:
        # Mapping.get would go through __getitem__, and a KeyError, for every missing key.
        self._note(self._keys.get(key) or self.key_of(key))
        return self._data.get(key, default)

    def __iter__(self) -> Iterator[Any]:
        self._note("all")  # every record (these mappings are keyed by record)
        return iter(self._data)

    def __len__(self) -> int:
        self._note("all")
        return len(self._data)


class _WatchedByParts(_Watched):
    """A watched mapping keyed by tuples of text: the key of `(a, b)` is `tag a b`."""

    def _text(self, key: Any) -> str:
        return SEP.join(key)


class WatchedCorpus:
    """The Corpus as a maker sees it: every lookup noted in `reads`."""

    def __init__(self, corpus: Corpus, reads: Reads) -> None:
        self._corpus = corpus
        self._reads = reads
        self._note = reads.add
        self._records = corpus.records
        self.site = corpus.site
        self.records = _Watched(corpus.records, reads, "r")
        self._keys = self.records._keys  # (the records' keys, shared)

    def of_kind(self, kind: str) -> list[Record]:
        self._reads.add(key("k", kind))
        return self._corpus.of_kind(kind)

    def __iter__(self) -> Iterator[Record]:
        self._reads.add("all")
        return iter(self._corpus)

    def __contains__(self, record_id: object) -> bool:
        self._note(self._keys.get(record_id) or self.records.key_of(record_id))
        return record_id in self._records

    def __getitem__(self, record_id: str) -> Record:
        # (the watched `records`' lookup, without its call: the commonest of all)
        self._note(self._keys.get(record_id) or self.records.key_of(record_id))
        return self._records[record_id]


class WatchedLinks:
    """The Links as a maker sees them: every lookup noted in `reads`."""

    def __init__(self, links: Links, reads: Reads) -> None:
        self._links = links
        self._reads = reads
        self.backlinks = _Watched(links.backlinks, reads, "b")
        self.html = _WatchedByParts(links.html, reads, "h")
        self.story_members = _Watched(links.story_members, reads, "m")
        self.publishers = _Watched(links.publishers, reads, "p")

    @property
    def edges(self) -> tuple[Edge, ...]:
        self._reads.add("edges")
        return self._links.edges

    def plain(self, record_id: str, name: str) -> str:
        self._reads.add(self.html.key_of((record_id, name)))  # (the key of the field's HTML)
        return self._links.plain(record_id, name)

    def outgoing(self, source: str) -> tuple[Edge, ...]:
        self._reads.add(key("o", source))
        return self._links.outgoing(source)

    def incoming(self, target: str) -> tuple[Edge, ...]:
        self._reads.add(key("i", target))
        return self._links.incoming(target)


class WatchedGazetteer(Gazetteer):
    """The map neighbours of a record read where every mapped record is, and the neighbours."""

    def __init__(self, gazetteer: Gazetteer, reads: Reads) -> None:  # no super(): a view
        self.__dict__.update(gazetteer.__dict__)  # (its places, cells...: shared, not copied)
        self._reads = reads

    def nearest(self, record: Record, centre: tuple[float, float]) -> list[tuple[float, Record]]:
        found = super().nearest(record, centre)
        self._reads.add("g")
        self._reads.update(key("r", other.id) for _, other in found)
        return found


def watch(corpus: Corpus, links: Links, reads: Reads) -> tuple[Corpus, Links]:
    """The corpus and links to give makers, typed as what they stand in for."""
    return cast(Corpus, WatchedCorpus(corpus, reads)), cast(Links, WatchedLinks(links, reads))
