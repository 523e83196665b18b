"""The search index: every record and story as one entry of names, aliases, summary and text.

Input: the Corpus and its Links (for the rendered Markdown); output: `search/records.js`, a
script file that assigns the index to `self.factsheetSearch`. A script, not JSON: a page
opened from disk may load scripts but may not `fetch`, so search works from `file://` too.
The search code (`assets/search.js`) folds case and diacritics at load time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import weakref
from array import array
from collections.abc import Mapping
from itertools import chain, compress, count, islice, repeat
from typing import cast

from .links import Links
from .model import Corpus, Record
from .model import moved as changed_at
from .schema import SINGULAR, STORY
from .urls import link, record_url
from .workers import in_worker

SEARCH = "search/"
INDEX = "search/records.js"
SCRIPT = "assets/search.js"
# The Markdown fields searched as the record's text (the summary is an entry of its own).
_TEXT_FIELDS = ("description", "body")


def search_entry(record: Record, links: Links) -> dict[str, object]:
    """One record as the search code reads it; `url` is relative to the search page."""
    aliases = [alias.name for alias in record.get("aliases", ())]
    text = [links.plain(record.id, name) for name in _TEXT_FIELDS]
    if record.kind == "quotes":
        text.insert(0, record.get("text", ""))
    return {
        "url": link(SEARCH, record_url(record)),
        "name": record.name,
        "kind": SINGULAR[record.kind],
        "aliases": aliases,
        "summary": links.plain(record.id, "summary"),
        "text": " ".join(t for t in text if t),
        "tags": list(record.get("tags", ())),
    }


# The Markdown fields an entry is made from, with the record: their HTML, by record id.
FIELDS = (*_TEXT_FIELDS, "summary")

# An index's memo: its entries in its order, each as JSON in ASCII bytes (the file is
# those bytes joined), and what describes them (see `_Kept.remembered`).
Memo = Mapping[str, object]


def search_index(
    corpus: Corpus,
    links: Links,
    known: Memo | None = None,
    used: dict[str, object] | None = None,
) -> bytes:
    """The index script, byte-identical for the same content: stories first, then by kind.

    `known`: the last build's memo (see `Memo`): the entries of unchanged records are
    taken from there, each found by a digest of all it is made from. `used` gets this
    index's. In one process (serve), the last index made here is the start: when the
    records have the ids and kinds they had, only those that are not the very objects they
    were, or whose HTML is not what it was, are looked at again (telling which is done in C
    over all of them); the others keep their entries and digests, and their bytes in the
    file. In a new process, the last index a build saved (`known`) is the start, when the
    links are vouched for (see `vouch`).
    """
    data, memo = kept_index(corpus, links, known)
    if used is not None:
        used.update(memo)
    return data


def kept_index(corpus: Corpus, links: Links, known: Memo | None = None) -> tuple[bytes, Memo]:
    """The index script and its memo (see `Memo`). The memo is kept for the next index:
    not to be changed."""
    global _kept
    records = list(corpus.records.values())
    kept = _kept.update(records, links) if _kept is not None else None
    if kept is None and _kept is None and known and _vouched is not None:
        kept = _Kept.resumed(records, links, known) if _vouched() is links else None
    if kept is None:
        kept = _Kept.made(records, links, known or {}, _kept)
    if not in_worker():  # (a worker ends with the build: it would hold it, unused, on top
        _kept = kept  # of the pages it makes next)
    return kept.data, kept.memo


def vouch(links: Links) -> None:
    """Vouch for `links` (until other links are): they were made from memos all loaded from
    the build cache, as the last build saved them, so that a record the link stage did not
    visit afresh (`Links.revisited`) has the HTML it had in that build. Then so it had in
    the last index made, which the cache's memo of the index describes (that build made it
    again, or every HTML it reads had the value it had then), and its entry is taken from
    there unseen (see `_Kept.resumed`). Not for the links of a build whose memos were
    carried over from earlier builds in the process: after a build that failed, its visits
    are mixed with those of the last that did not."""
    global _vouched
    _vouched = weakref.ref(links)


# The links last vouched for, weakly.
_vouched: weakref.ref[Links] | None = None

# Up to how many records visited afresh are each looked for in the list of ids.
_FEW = 16

# The memo's entries (see `_Kept.remembered`).
_ENTRIES, _IDS, _ORDER = "entries", "ids", "order"
_FINGERPRINTS, _DIGESTS, _LENGTHS = "fingerprints", "digests", "lengths"

# The index file around its entries, and between two: as json.dumps({"records": entries})
# writes it. ASCII only, so the file reads the same whatever charset a host declares for it.
_HEAD, _SEP, _TAIL = b'self.factsheetSearch = {"records": [', b", ", b"]};\n"
# So many entries changed that the file is joined afresh rather than patched.
_PATCHED = 64


class _Kept:
    """An index as made: the records in the corpus's order; by entry (in the index's
    order) where its record is in that list (`order`, and its inverse `rank`), its
    record's fingerprint, its HTML keys and HTML (None if missing), its digest and its JSON
    (bytes); and the index's memo (see `Memo`) and file. And the keys and values of
    `links.html` as they were, with the place of each key among the entries' HTML keys
    (None if not one of them): when the keys are the same, comparing the values in order
    tells what changed, without looking each key up."""

    def __init__(
        self,
        records: list[Record],
        order: list[int],
        keys: list[tuple[str, str]] | None,
        texts: list[str] | None,
        fingerprints: list[str],
        digests: list[str],
        entries: list[bytes],
        links: Links,
        lengths: array[int] | None = None,
        shape: tuple[str, bytes] | None = None,
    ) -> None:
        # (`lengths` and `shape`, when given: the HTML's lengths (see `_lengths`), and the
        # ids and order as the memo keeps them, as the caller found them, not made again)
        self.records = records
        self.order = order
        self._rank: list[int] | None = None  # (made when first asked for: see `rank`)
        # (None: made when first asked for, `texts` from these links' HTML)
        self._keys, self._texts = keys, texts
        self._links: Links | None = links if texts is None else None
        self.fingerprints = fingerprints
        self.digests = digests
        self.entries = entries
        self.data = _joined(entries)
        self.lengths = _lengths(links.html) if lengths is None else lengths
        self.shape: tuple[str, bytes] | None = shape
        self.memo = self.remembered()
        # (None: not known. A new process makes one index and may make no other: it is
        # worked out by the first `update`, which compares the HTML key by key instead.)
        self.seen: tuple[list[tuple[str, str]], list[str], list[int | None]] | None = None

    @property
    def rank(self) -> list[int]:
        """Where each record's entry is in the index: the inverse of `order` (for the next
        index made in this process: a new process that makes one does without)."""
        if self._rank is None:
            self._rank = [0] * len(self.order)
            for index, position in enumerate(self.order):
                self._rank[position] = index
        return self._rank

    @property
    def keys(self) -> list[tuple[str, str]]:
        """The HTML keys of the entries, FIELDS at a time, in the index's order."""
        if self._keys is None:
            self._keys = [(self.records[i].id, name) for i in self.order for name in FIELDS]
        return self._keys

    @property
    def texts(self) -> list[str]:
        """The HTML of `keys` that the entries were made from ('' if missing)."""
        if self._texts is None:
            assert self._links is not None
            self._texts = list(map(self._links.html.get, self.keys, repeat("")))
            self._links = None
        return self._texts

    def remembered(self, lengths: bytes | None = None) -> dict[str, object]:
        """The memo: what a new process needs to make the next index from this one
        (`resumed`): the entries; the records' ids (in the corpus's order, as one text) and
        `order` (packed); by entry the fingerprint and digest of its record; and the length
        of every HTML of the links, in their order (`lengths`, packed, unless given). Each
        a part of its own, and the lists as lists: the build cache saves how the memo
        differs from the last, which is then the few fingerprints, digests and entries
        that changed, and the lengths, not every part again (5 MB at 10,000 stories)."""
        if self.shape is None:  # (the same while the records have the same ids)
            self.shape = "\0".join(map(_ID, self.records)), array("I", self.order).tobytes()
        return {
            _ENTRIES: self.entries,
            _IDS: self.shape[0],
            _ORDER: self.shape[1],
            _FINGERPRINTS: self.fingerprints,
            _DIGESTS: self.digests,
            _LENGTHS: self.lengths.tobytes() if lengths is None else lengths,
        }

    def saw(self, html: Mapping[tuple[str, str], str]) -> None:
        """Keep the keys and values of `html`, with where each key is among `keys`."""
        slot = {key: index for index, key in enumerate(self.keys)}
        keys = list(html)
        self.seen = keys, list(html.values()), list(map(slot.get, keys))

    @classmethod
    def made(cls, records: list[Record], links: Links, known: Memo, last: _Kept | None) -> _Kept:
        """Every entry, each taken from `last` (by id) if its record's fingerprint and HTML
        are as then, else from `known` (the last build's memo) by its digest, else made."""
        ranks = list(map(_rank_key, records))
        order = sorted(range(len(records)), key=ranks.__getitem__)
        keys = [(records[i].id, name) for i in order for name in FIELDS]
        texts = list(map(links.html.get, keys, repeat("")))
        then = last.by_id() if last is not None else {}
        by_digest: dict[str, bytes] | None = None  # (`known`'s, when first needed)
        fingerprints, digests, entries = [], [], []
        # Each entry's HTML, '' if missing: FIELDS at a time, as `_fields` gives them.
        every = iter(texts)
        fields = zip(*[every] * len(FIELDS), strict=True)
        for position, now in zip(order, fields, strict=True):
            record = records[position]
            was = then.get(record.id)
            if was is not None and was[0] == record.fingerprint and was[1] == now:
                digest, entry = was[2], was[3]
            else:
                by_digest = _by_digest(known) if by_digest is None else by_digest
                digest, entry = _entry(record, now, links, by_digest)
            fingerprints.append(record.fingerprint)
            digests.append(digest)
            entries.append(entry)
        return cls(records, order, keys, texts, fingerprints, digests, entries, links)

    @classmethod
    def resumed(cls, records: list[Record], links: Links, known: Memo) -> _Kept | None:
        """The index made from the last one a build saved, which `known` (its memo)
        describes, for links vouched for (see `vouch`): an entry is made again when its
        record's fingerprint, or the length of any of its HTML, is not what it was, or the
        link stage visited its record afresh (unless its digest is what it was); the others
        are taken from the memo, in their places, their HTML not looked at. None (to be
        made afresh) if the records have not the ids they had, in the same order, or a
        record changed its place in the index, or the links have not as many HTML keys, or
        the memo is not one `remembered` makes."""
        ids, order_bytes, lengths_bytes = known.get(_IDS), known.get(_ORDER), known.get(_LENGTHS)
        fingerprints, digests_then = known.get(_FINGERPRINTS), known.get(_DIGESTS)
        entries_then = known.get(_ENTRIES)
        if not (
            isinstance(ids, str)
            and isinstance(order_bytes, bytes)
            and isinstance(lengths_bytes, bytes)
            and isinstance(fingerprints, list)
            and isinstance(digests_then, list)
            and isinstance(entries_then, list)
        ):
            return None
        if ids != "\0".join(map(_ID, records)):
            return None
        size = len(records)
        order_array, lengths_then = array("I"), array("I")
        try:
            order_array.frombytes(order_bytes)
            lengths_then.frombytes(lengths_bytes)
        except ValueError:
            return None
        order = order_array.tolist()
        if not len(order) == len(fingerprints) == len(digests_then) == len(entries_then) == size:
            return None
        ranked = list(map(records.__getitem__, order))
        now = list(map(_FINGERPRINT, ranked))
        # Records changed (but for a story's body), visited afresh, or with HTML of another
        # length (which vouching tells cannot be: made again all the same).
        dirty = set(compress(count(), map(operator.ne, now, fingerprints)))
        if not all(_in_place(ranked, index) for index in dirty):
            return None
        touched = set(links.revisited)
        lengths = _lengths(links.html)
        if lengths != lengths_then:
            if len(lengths) != len(lengths_then):
                return None
            keys = list(links.html)
            for place in compress(count(), map(operator.ne, lengths, lengths_then)):
                record_id, name = keys[place]
                if name in FIELDS:
                    touched.add(record_id)
        if touched:
            ranked_ids = list(map(_ID, ranked))
            if len(touched) > _FEW:
                where = {record_id: index for index, record_id in enumerate(ranked_ids)}
                dirty.update(where[i] for i in touched if i in where)
            else:  # (a few: each found in C)
                for record_id in touched:
                    with contextlib.suppress(ValueError):
                        dirty.add(ranked_ids.index(record_id))
        digests = cast(list[str], digests_then.copy())
        entries = cast(list[bytes], entries_then.copy())
        html = links.html
        for index in dirty:
            record = ranked[index]
            fields = tuple(html.get((record.id, name), "") for name in FIELDS)
            digest = _digest(record, fields)
            if digest != digests[index]:
                digests[index], entries[index] = digest, _made(record, links)
        # (the ids and order as the memo holds them: not made again)
        shape = ids, order_bytes
        return cls(records, order, None, None, now, digests, entries, links, lengths, shape)

    def update(self, records: list[Record], links: Links) -> _Kept | None:
        """This index for `records` and `links`, with the entries that changed made again;
        None if the records have not the ids and kinds they had (their order may differ)."""
        then = self.records
        if len(records) != len(then):
            return None
        moved = changed_at(then, records)
        if any(records[i].id != then[i].id or records[i].kind != then[i].kind for i in moved):
            return None
        html = links.html
        dirty = {self.rank[i] for i in moved}
        width = len(FIELDS)
        seen: tuple[list[tuple[str, str]], list[str], list[int | None]] | None = None
        if self.seen is not None and list(html) == self.seen[0]:
            keys, values, slots = self.seen
            values_now = list(html.values())
            seen = keys, values_now, slots
            texts = self.texts
            for place in compress(count(), map(operator.ne, values_now, values)):
                slot = slots[place]
                if slot is not None:
                    texts = texts.copy() if texts is self.texts else texts
                    texts[slot] = values_now[place]
                    dirty.add(slot // width)
        else:
            texts = list(map(html.get, self.keys, repeat("")))
            dirty.update(j // width for j in compress(count(), map(operator.ne, texts, self.texts)))
        changed: dict[int, tuple[str, str, bytes]] = {}  # index -> fingerprint, digest, entry
        for index in sorted(dirty):
            record = records[self.order[index]]
            now = _fields(texts, index)
            if record.fingerprint != self.fingerprints[index] or now != _fields(self.texts, index):
                changed[index] = (record.fingerprint, *_entry(record, now, links, {}))
        kept = _Kept.__new__(_Kept)
        kept.records, kept.order, kept._rank = records, self.order, self._rank
        kept._keys, kept._texts, kept._links = self.keys, texts, None
        kept.fingerprints, kept.digests, kept.entries = (
            self.fingerprints,
            self.digests,
            self.entries,
        )
        kept.memo, kept.data, kept.shape = self.memo, self.data, self.shape
        lengths = _lengths(html)
        kept.lengths = self.lengths if lengths == self.lengths else lengths
        if seen is None:
            kept.saw(html)
        else:
            kept.seen = seen
        if changed:
            kept.fingerprints, kept.digests = self.fingerprints.copy(), self.digests.copy()
            kept.entries = self.entries.copy()
            for index, (fingerprint, digest, entry) in changed.items():
                kept.fingerprints[index], kept.digests[index] = fingerprint, digest
                kept.entries[index] = entry
            kept.data = self._patched(kept.entries, changed)
        if changed or kept.lengths is not self.lengths:
            packed = self.memo.get(_LENGTHS) if kept.lengths is self.lengths else None
            kept.memo = kept.remembered(packed if isinstance(packed, bytes) else None)
        return kept

    def _patched(self, entries: list[bytes], changed: dict[int, tuple[str, str, bytes]]) -> bytes:
        """The file with the entries `changed` (by index, in order) in the place of this
        index's: its other bytes copied once."""
        if len(changed) > _PATCHED:
            return _joined(entries)
        old = memoryview(self.data)
        parts: list[bytes | memoryview] = []
        copied, at, done = 0, len(_HEAD), 0  # `at`: where entry `done` is in the old file
        for index in changed:  # in order
            at += sum(map(len, self.entries[done:index])) + len(_SEP) * (index - done)
            parts += (old[copied:at], entries[index])
            copied, done = at + len(self.entries[index]), index
        parts.append(old[copied:])
        return b"".join(parts)

    def by_id(self) -> dict[str, tuple[str, tuple[str, ...], str, bytes]]:
        """Each entry's fingerprint, HTML, digest and JSON, by its record's id."""
        return {
            self.records[position].id: (
                self.fingerprints[index],
                _fields(self.texts, index),
                self.digests[index],
                self.entries[index],
            )
            for index, position in enumerate(self.order)
        }


def _joined(entries: list[bytes]) -> bytes:
    """The index file of these entries: one join of their bytes, with the head and the
    tail put on the first and last entries (copies of those two alone), so that the file
    is the one copy of the entries made (89 MiB at 10,000 stories, on top of a worker's
    peak memory; as text joined, then encoded, it would be made twice more)."""
    if len(entries) < 2:
        return b"".join((_HEAD, *entries, _TAIL))
    middle = islice(entries, 1, len(entries) - 1)
    return _SEP.join(chain((_HEAD + entries[0],), middle, (entries[-1] + _TAIL,)))


def _fields(texts: list[str], index: int) -> tuple[str, ...]:
    """The HTML of the FIELDS of entry `index` in `texts` ('' if missing)."""
    width = len(FIELDS)
    return tuple(texts[index * width : index * width + width])


def _lengths(html: Mapping[tuple[str, str], str]) -> array[int]:
    """The length of every HTML, in the order of the keys."""
    return array("I", map(len, html.values()))


_ID = operator.attrgetter("id")
_FINGERPRINT = operator.attrgetter("fingerprint")


def _rank_key(record: Record) -> tuple[bool, str, str]:
    """Where a record's entry goes in the index: stories first, then by kind, then by id."""
    return record.kind != STORY, record.kind, record.id


def _in_place(ranked: list[Record], index: int) -> bool:
    """Whether the record at `index` in `ranked` (the index's order) is between its
    neighbours in that order."""
    key = _rank_key(ranked[index])
    before = index == 0 or _rank_key(ranked[index - 1]) < key
    return before and (index == len(ranked) - 1 or key < _rank_key(ranked[index + 1]))


def _entry(
    record: Record, texts: tuple[str, ...], links: Links, known: Mapping[str, bytes]
) -> tuple[str, bytes]:
    """The digest of all the entry of `record` is made from (its HTML `texts`), and the
    entry: from `known` by that digest, else made."""
    digest = _digest(record, texts)
    entry = known.get(digest)
    return digest, _made(record, links) if entry is None else entry


def _digest(record: Record, texts: tuple[str, ...]) -> str:
    """A digest of all the entry of `record` is made from, given its HTML `texts`."""
    made_from = "\0".join((record.fingerprint, *texts)).encode()
    return hashlib.blake2b(made_from, digest_size=16).hexdigest()


def _made(record: Record, links: Links) -> bytes:
    """The entry of `record` as JSON, in ASCII bytes."""
    entry = json.dumps(search_entry(record, links), ensure_ascii=True, sort_keys=True)
    return entry.encode("ascii")


def _by_digest(memo: Memo) -> dict[str, bytes]:
    """The entries of an index's memo by their digests (none if it is not one)."""
    digests, entries = memo.get(_DIGESTS), memo.get(_ENTRIES)
    if not isinstance(digests, list) or not isinstance(entries, list):
        return {}
    return dict(zip(digests, entries, strict=True)) if len(digests) == len(entries) else {}


# The last index made in this process (one site at a time: a second site replaces it).
_kept: _Kept | None = None


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
