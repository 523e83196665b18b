"""The checked facts as values: frozen records of every kind, the site settings and the Corpus.

No I/O and no rendering here; `parse` builds these from documents, later stages only read them.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import mmap
import operator
import pickle
import struct
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import tzinfo
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import REDUCERS
from .dates import PartialDate, _partial_date
from .diagnostics import Location
from .restore import slots_maker
from .schema import SCHEMAS, STORY


class Ref:
    """A reference to a record by id, as written, with where it was written.

    Compared, hashed and shown as a frozen dataclass of `id` and `location` would be. There
    are some 200,000 at 10,000 stories: each keeps its location as path, line and column in
    slots, and makes the Location when asked (most never are), without a `__dict__`.
    """

    __slots__ = ("_column", "_line", "_path", "id")
    id: str
    _path: str
    _line: int
    _column: int

    def __init__(self, id: str, location: Location) -> None:
        _set_id(self, _intern(id))
        _set_path(self, location.path)
        _set_line(self, location.line)
        _set_column(self, location.column)

    @property
    def location(self) -> Location:
        return _location(self._path, self._line, self._column)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Ref:
            return NotImplemented
        assert isinstance(other, Ref)
        return (self.id, self._path, self._line, self._column) == (
            other.id,
            other._path,
            other._line,
            other._column,
        )

    def __hash__(self) -> int:
        # As hash((id, location)): a Location hashes as the tuple of its fields.
        return hash((self.id, (self._path, self._line, self._column)))

    def __repr__(self) -> str:
        return f"Ref(id={self.id!r}, location={self.location!r})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return _ref, (_intern(self.id), _intern(self._path), self._line, self._column)


@dataclass(frozen=True)
class Text:
    """Markdown (or inline Markdown) text, and where it starts in its file.

    A story body maps line for line onto its file (`origin` is None). A YAML value may be
    quoted, folded or indented, so `origin` keeps the whole file: a broken [[link]] is then
    found by searching the file on from `location`, and reported at its exact line and
    column. Positions are worked out only when a link is broken (`links.link_locations`).

    In a story's front matter, the whole file is the front matter and the story's body: such
    a text is pickled with the front matter alone and the body's Text (see `_split_origin`),
    and its `origin` is put back together when first asked (rarely: a link broken).
    """

    value: str
    location: Location
    origin: str | None = field(default=None, repr=False)  # not in repr: the whole file

    @cached_property
    def digest(self) -> str:
        """A digest of the text as written (kept with it, and in the build cache)."""
        data = self.value.encode("utf-8", "backslashreplace")
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    if not TYPE_CHECKING:  # (for mypy, every attribute would be there)

        def __getattr__(self, name: str) -> Any:
            # An unpickled text makes its location when first asked (see `_at`), and its
            # origin (see `_split_origin`).
            state = self.__dict__
            if name == "origin" and "_head" in state:
                origin = state["origin"] = state["_head"] + state["_body"].value
                return origin
            return _located(self, name)

    def __reduce__(self) -> tuple[Any, ...]:
        path, line, column = _at(self)
        state = self.__dict__
        digest = state.get("digest")
        if "origin" in state:
            split = _split_origin(state["origin"])
        else:  # unpickled so, and its origin not asked for since
            split = state["_head"], state["_body"]
        if split is not None:
            head, body = split
            return _text_before, (self.value, _intern(path), line, column, head, body, digest)
        return _text, (self.value, _intern(path), line, column, self.origin, digest)


# An unpickled text of a story's front matter makes its origin when first asked (see
# `Text.__getattr__`): the class keeps no default for it, which would be found first.
# (`__init__` has its own; every text made otherwise sets its origin, see `_text`.)
del Text.origin


@dataclass(frozen=True)
class Alias:
    name: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Citation:
    # In slots, without a `__dict__`: some 60,000 at 10,000 stories.
    source: Ref
    quote: str | None = None
    page: str | None = None
    accessed: PartialDate | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _citation, (self.source, self.quote, self.page, self.accessed)


_citation = slots_maker(Citation, "_citation")


@dataclass(frozen=True)
class Publisher:
    """A source's publisher: an actor when an actor has that id (resolved by `links`)."""

    text: str
    location: Location


@dataclass(frozen=True)
class Identifier:
    """The record's id in another database and the web address it resolves to.

    `scheme` names the database ('wikidata'); it is 'url' for a plain web address.
    """

    scheme: str
    value: str
    url: str


@dataclass(frozen=True)
class Record:
    """One story or fact record.

    `fields` holds the parsed value of every field that was given (see `schema.Field.type`
    for the value each type becomes); `field_locations` where each was written. A story has
    its Markdown `body`; `assets` are files beside a story folder's index.md.
    """

    kind: str
    id: str
    name: str
    location: Location
    fields: Mapping[str, Any]
    field_locations: Mapping[str, Location]
    body: Text | None = None
    assets: tuple[Path, ...] = ()

    def __hash__(self) -> int:
        return hash((self.kind, self.id))

    if not TYPE_CHECKING:  # (for mypy, every attribute would be there)

        def __getattr__(self, name: str) -> Any:
            # An unpickled record makes its location and field locations when first asked
            # (from its `_at` and `_places`, see `__reduce__`), and its fields (from its
            # `_packed` bytes, see `_unpack`): most records of a rebuild are never asked.
            state = self.__dict__
            if name in _PACKED and "_packed" in state:
                _unpack(self)
                return getattr(self, name)
            if name == "_packed" and "fields" in state:  # (a delta of the cache may ask)
                return _pack(self)
            places = state.get("_places") if name == "field_locations" else None
            if places is None:
                return _located(self, name)
            made = state["field_locations"] = _field_locations(_at(self)[0], places)
            return made

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def where(self, name: str) -> Location:
        return self.field_locations.get(name, self.location)

    @property
    def date(self) -> PartialDate | None:
        value = self.fields.get("date")
        return value if isinstance(value, PartialDate) else None

    # What every build asks of every record (which stories are drafts left out, which facts
    # no source backs): kept with the record, outside its packed fields (see `__reduce__`),
    # so that a new process answers for an unchanged record without unpacking them (a
    # record made here works them out when asked: two lookups).

    @property
    def draft(self) -> bool:
        """A story marked `draft: true`."""
        marks = self.__dict__.get("_marks")
        if marks is not None:
            return bool(marks & _DRAFT)
        return self.kind == STORY and self.fields.get("draft") is True

    @property
    def sourced(self) -> bool:
        """The record names at least one source."""
        marks = self.__dict__.get("_marks")
        if marks is not None:
            return bool(marks & _SOURCED)
        return bool(self.fields.get("sources"))

    @property
    def type(self) -> Any:
        """The record's `type` field, None if it has none: what a reference learns of the
        record it names, with its kind (see `links._answer`); after a record many others
        name changed, a build asks it of them all."""
        state = self.__dict__
        return state["_type"] if "_packed" in state else self.fields.get("type")

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything about the record but a story's body: equal digests, equal
        records. Kept with the record (and in the build cache, once worked out)."""
        body = self.body
        shown = repr((self.kind, self.id, self.name, self.location, self.fields))
        shown += repr((self.field_locations, self.assets, body.location if body else None))
        return hashlib.blake2b(
            shown.encode("utf-8", "backslashreplace"), digest_size=16
        ).hexdigest()

    def __reduce__(self) -> tuple[Any, ...]:
        # To and from workers, the fields as they are (the records are all read there); in
        # the build cache, packed (see `_packed_record`), as a record still packed is here.
        state = self.__dict__
        if "_packed" in state:
            return _packed_reduce(self)
        _tell_story(self)
        path, line, column = _at(self)
        return _record, (
            _intern(self.kind),
            _intern(self.id),
            self.name,
            _intern(path),
            line,
            column,
            self.fields,
            _places(self, path),
            self.body,
            self.assets,
            state.get("fingerprint"),
        )


@dataclass(frozen=True)
class Site:
    title: str
    tz: tzinfo
    description: str = ""
    language: str = "en"
    base_url: str = ""
    timezone: str = "UTC"
    allow_html: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Corpus:
    """Every record by id (ids are unique across kinds), and the site settings."""

    site: Site
    records: Mapping[str, Record]

    def of_kind(self, kind: str) -> list[Record]:
        """The records of one kind, by name; a fresh list each call."""
        return list(self._by_kind.get(kind, ()))

    @cached_property
    def _by_kind(self) -> dict[str, tuple[Record, ...]]:
        grouped: dict[str, list[Record]] = {}
        for record in self.records.values():
            grouped.setdefault(record.kind, []).append(record)
        return {kind: tuple(sorted(records, key=_by_name)) for kind, records in grouped.items()}

    @cached_property
    def _ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.records))

    def __iter__(self) -> Iterator[Record]:
        return map(self.records.__getitem__, self._ids)

    def follow(self, last: Corpus, changed: Iterable[str]) -> None:
        """Take over what `last` worked out, for a corpus with the same ids whose records
        are those of `last` but the `changed` ones: the order of ids, and the records by
        kind, where a changed record keeps its kind and its place (a name that sorts as
        before). What is not taken over is worked out when asked, as for any corpus."""
        known = last.__dict__
        if "_ids" in known:
            self.__dict__["_ids"] = known["_ids"]
        by_kind = known.get("_by_kind")
        if by_kind is None:
            return
        by_kind = dict(by_kind)
        for record_id in changed:
            record, then = self.records[record_id], last.records[record_id]
            if record.kind != then.kind:
                return
            group = by_kind.get(record.kind, ())
            place = bisect.bisect_left(group, _by_name(then), key=_by_name)
            if place >= len(group) or group[place] is not then:
                return
            name = _by_name(record)
            if (place and _by_name(group[place - 1]) >= name) or (
                place + 1 < len(group) and _by_name(group[place + 1]) <= name
            ):
                return  # it sorts elsewhere now
            by_kind[record.kind] = (*group[:place], record, *group[place + 1 :])
        self.__dict__["_by_kind"] = by_kind

    def __getstate__(self) -> dict[str, Any]:
        # In the parse memo (see `parse._Kept`): its fields, and the order of its ids and of
        # each kind's records (a new process takes them over, see `follow`), worked out
        # first if they were not yet. So every corpus pickles alike: a cold build writes
        # its parse memo before render asks for the records by kind, and the next build's
        # delta, whose corpus has them, refers to the old one's records by their place
        # there (the old records by id are patched, not looked into: see `cache._index`).
        self._ids, self._by_kind  # noqa: B018 (worked out and kept by cached_property)
        return {name: value for name, value in self.__dict__.items() if name in _KEPT}

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.records

    def __getitem__(self, record_id: str) -> Record:
        return self.records[record_id]


# What a pickled Corpus keeps (see `Corpus.__getstate__`).
_KEPT = frozenset(("site", "records", "_ids", "_by_kind"))


def _by_name(record: Record) -> tuple[str, str]:
    """The order of a kind's records: by name, then id."""
    return record.name.casefold(), record.id


def changed_records(
    before: Mapping[str, Record], now: Mapping[str, Record], limit: int
) -> list[str] | None:
    """The ids whose record in `now` is not the very object `before` holds, in the order of
    `now`; None if the two have other ids (or in another order), or more than `limit`
    records changed. (A record of an unchanged file is the object the last build parsed.)

    Each mapping holds every record by its id: where the records are the same, so are the
    ids. The stages of a build ask about the same two mappings in turn: the last answer is
    kept.
    """
    last = _compared
    if last and last[0] is before and last[1] is now:
        changed = last[2]
    else:
        changed = None
        if len(before) == len(now):
            moved = list(map(operator.is_not, now.values(), before.values()))
            if moved.count(True) <= _MOST_CHANGED:
                changed = list(itertools.compress(now, moved))
                if changed != list(itertools.compress(before, moved)):
                    changed = None
        _compared[:] = before, now, changed
    return changed if changed is not None and len(changed) <= limit else None


def moved(then: Sequence[Record], now: Sequence[Record]) -> list[int]:
    """The places, in two lists of records of the same length, where `now` holds another
    object than `then` (a comparison in C: serve's rebuilds ask it of 60,000 records)."""
    return list(itertools.compress(range(len(now)), map(operator.is_not, now, then)))


def renewed(before: Mapping[str, Record], now: Mapping[str, Record]) -> list[tuple[str, Record]]:
    """The ids and records of `now` whose record is not the very object `before` holds
    under that id (a new id's included), in the order of `now`: from `changed_records`
    where it answers (the same ids, few changed: a comparison in C), else one by one."""
    changed = changed_records(before, now, _MOST_CHANGED)
    if changed is not None:
        return [(i, now[i]) for i in changed]
    then = before.get
    return [(i, r) for i, r in now.items() if then(i) is not r]


# The last two mappings `changed_records` compared, and its answer; and the most changed
# records it lists.
_compared: list[Any] = []
_MOST_CHANGED = 1000


class InMemory:
    """A stage's record of its last run, for the next run in this process (serve) to work
    by difference from. It holds the very objects of that run: a build cache keeps nothing
    of it (it pickles as None), and a new process starts afresh."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _nothing, ()


def _nothing() -> None:
    """What an `InMemory` becomes in the build cache."""


# --- pickling ----------------------------------------------------------------------------------
# Records cross from the parse workers to the parent, and go into the build cache, by the
# ten thousand, with a Location for every field and reference. Pickled as dataclasses, each
# object is a dict of attribute names to values; as a tuple of values (and a record's field
# locations as (name, line, column) in the record's file) they pickle smaller and load faster.
# The functions below rebuild an object as unpickling does (`__new__`, then its `__dict__`),
# from values that were valid when pickled: no `__init__` or `__post_init__` runs again.

_new = object.__new__
# Ids (and paths, kinds, field names) are interned as records are made, pickled and
# unpickled: every mention of an id is then the one str, which a pickle writes once and
# the markdown memo's pickle refers to (the record's own id, see `cache._with_ids`).
_intern = sys.intern


def _location(path: str, line: int, column: int) -> Location:
    location = _new(Location)
    state = location.__dict__
    state["path"] = path
    state["line"] = line
    state["column"] = column
    return location


def _ref(id: str, path: str, line: int, column: int) -> Ref:
    ref = _new(Ref)
    _set_id(ref, _intern(id))
    _set_path(ref, path)
    _set_line(ref, line)
    _set_column(ref, column)
    return ref


# A Ref's slots, set past its `__setattr__` (frozen), by their descriptors (in C).
_set_id = vars(Ref)["id"].__set__
_set_path = vars(Ref)["_path"].__set__
_set_line = vars(Ref)["_line"].__set__
_set_column = vars(Ref)["_column"].__set__


def _at(made: Record | Text) -> tuple[str, int, int]:
    """The path, line and column of an unpickled record's or text's location, without
    making the Location (see `_located`)."""
    at: tuple[str, int, int] | None = made.__dict__.get("_at")
    if at is None:
        where = made.location
        at = where.path, where.line, where.column
    return at


def _located(made: Record | Text, name: str) -> Location:
    """The location of an unpickled record or text, made when first asked from its `_at`
    (path, line, column), and kept. (Most records of a rebuild are never asked: a tuple is
    one object, a Location two, with its dict.)"""
    state = made.__dict__
    at = state.get("_at") if name == "location" else None
    if at is None:
        raise AttributeError(name)
    location = state["location"] = _location(*at)
    return location


def _text(
    value: str, path: str, line: int, column: int, origin: str | None, digest: str | None
) -> Text:
    text = _new(Text)
    state = text.__dict__
    state["value"] = value
    state["_at"] = (path, line, column)  # the location, made when first asked
    state["origin"] = origin
    if digest is not None:
        state["digest"] = digest
    return text


def _text_before(
    value: str, path: str, line: int, column: int, head: str, body: Text, digest: str | None
) -> Text:
    """A text of a story's front matter, its origin kept as the file's `head` (the front
    matter) and the story's `body`, joined when first asked (see `_split_origin`)."""
    text = _new(Text)
    state = text.__dict__
    state["value"] = value
    state["_at"] = (path, line, column)  # the location, made when first asked
    state["_head"] = head
    state["_body"] = body
    if digest is not None:
        state["digest"] = digest
    return text


def _tell_story(record: Record) -> None:
    """Before a record's fields are pickled: the file its front-matter texts come from, as
    its front matter and its body (a story's), for their `__reduce__` (see `_split_origin`).

    A story's file is its front matter and then its body, whose Text the record holds: a
    text of the front matter need not keep the whole file, some 7 kB a story, beside it.
    (At 10,000 stories, 70 of the parse memo's 234 MB.)"""
    body = record.__dict__.get("body")
    if body is None or not body.value:
        return
    for value in record.fields.values():
        origin = value.__dict__.get("origin") if type(value) is Text else None
        if origin is not None and origin is not _told[0]:
            if origin.endswith(body.value):
                _told[:] = origin, origin[: len(origin) - len(body.value)], body
            return


def _split_origin(origin: str | None) -> tuple[str, Text] | None:
    """A text's origin as the head of its file (the front matter) and the Text of the rest
    (the story's body), if the record being pickled told it (`_tell_story`): the head is
    then one str for every text of that file, and the body the record's own Text."""
    if origin is None or origin is not _told[0]:
        return None
    return _told[1], _told[2]


# The last story's file told by `_tell_story`: its origin, head and body Text (the origin
# kept alive with them, so that no other str takes its id).
_told: list[Any] = [None, None, None]


def _field_locations(path: str, places: tuple[Any, ...]) -> dict[str, Location]:
    """A record's field locations from (name, line, column)... in its file at `path`."""
    names, rows, columns = places[0::3], places[1::3], places[2::3]
    return {n: _location(path, row, col) for n, row, col in zip(names, rows, columns, strict=True)}


def _record(
    kind: str,
    id: str,
    name: str,
    path: str,
    line: int,
    column: int,
    fields: Mapping[str, Any],
    places: Mapping[str, Location] | tuple[Any, ...],
    body: Text | None,
    assets: tuple[Path, ...],
    fingerprint: str | None,
) -> Record:
    record = _unpickled(kind, id, name, path, line, column, body, assets, fingerprint)
    state = record.__dict__
    state["fields"] = fields
    if isinstance(places, tuple):
        state["_places"] = places  # the field locations, made when first asked
    else:
        state["field_locations"] = places
    return record


def _unpickled(
    kind: str,
    id: str,
    name: str,
    path: str,
    line: int,
    column: int,
    body: Text | None,
    assets: tuple[Path, ...],
    fingerprint: str | None,
) -> Record:
    """A record as unpickled, but for its fields (see `_record` and `_packed_record`)."""
    record = _new(Record)
    state = record.__dict__
    state["kind"] = kind
    state["id"] = _intern(id)
    state["name"] = name
    state["_at"] = (path, line, column)  # the location, made when first asked
    state["body"] = body
    state["assets"] = assets
    if fingerprint is not None:
        state["fingerprint"] = fingerprint
    return record


def _places(record: Record, path: str) -> Mapping[str, Location] | tuple[Any, ...]:
    """The record's field locations as pickled: in the usual case, every field in the
    record's own file at `path`, as (name, line, column)..."""
    known: Any = record.__dict__.get("_places")
    places: Mapping[str, Location] | tuple[Any, ...] = (
        record.field_locations if known is None else known
    )
    if type(places) is dict and all(p.path == path for p in places.values()):
        places = tuple(
            itertools.chain.from_iterable((_intern(n), p.line, p.column) for n, p in places.items())
        )
    return places


def _packed_reduce(record: Record) -> tuple[Any, ...]:
    """A record as the build cache keeps it (see `_pack`): its fields and field locations
    one bytes, the very bytes it was unpickled with if it was never unpacked since."""
    state = record.__dict__
    packed: Any = state.get("_packed")
    if packed is None:
        packed = _mapped(_pack(record))
    path, line, column = _at(record)
    return _packed_record, (
        _intern(record.kind),
        _intern(record.id),
        record.name,
        _intern(path),
        line,
        column,
        packed,
        record.body,
        record.assets,
        state.get("fingerprint"),
        _DRAFT * record.draft | _SOURCED * record.sourced,
        _intern(value) if type(value := record.type) is str else value,
    )


REDUCERS[Record] = _packed_reduce


def _mapped(data: bytes) -> pickle.PickleBuffer:
    """Packed bytes to pickle, copied into memory mapped apart (see `_ARENA`), as a buffer
    that pickles as the bytes (in band: protocol 5). A pickler keeps every object it wrote
    until it is done: the bytes of a cold build's records (16 MB at 2,000 stories) would be
    freed in the midst of the heap, where the rest of the build does not use them again,
    and count in its peak; the maps are given back whole."""
    size = len(data)
    arena, used = _arena
    if arena is None or used + size > len(arena):
        arena, used = mmap.mmap(-1, max(_ARENA, size)), 0
    arena[used : used + size] = data
    _arena[:] = arena, used + size
    return pickle.PickleBuffer(memoryview(arena)[used : used + size].toreadonly())


# The memory map that packed bytes are being copied into (see `_mapped`), and how much of
# it they fill; the size of each.
_arena: list[Any] = [None, 0]
_ARENA = 1 << 20


def _packed_record(
    kind: str,
    id: str,
    name: str,
    path: str,
    line: int,
    column: int,
    packed: bytes,
    body: Text | None,
    assets: tuple[Path, ...],
    fingerprint: str | None,
    marks: int,
    record_type: Any,
) -> Record:
    record = _unpickled(kind, id, name, path, line, column, body, assets, fingerprint)
    state = record.__dict__
    state["_packed"] = packed  # the fields and field locations, unpacked when asked
    state["_marks"] = marks  # whether a draft, whether sourced (see `Record.draft`)
    state["_type"] = record_type  # (see `Record.type`)
    return record


# A packed record's marks (see `Record.draft`): one int, a small one, which Python keeps.
_DRAFT, _SOURCED = 1, 2

# The attributes of a record kept packed when it is pickled (see `_pack`); pickle's FRAME
# opcode, the length after it, and the size past which a pickler starts a second frame.
# (Unframed, the unpickler reads from its file opcode by opcode: a call each, 20 us a
# record, against 5 us for a frame read at once.)
_PACKED = frozenset(("fields", "field_locations", "_places"))
_FRAME = pickle.FRAME
_FRAME_SIZE = 64 * 1024
_SIZE = struct.Struct("<Q")


@cache
def _known() -> tuple[dict[int, tuple[int, Any]], list[Any], bytes]:
    """What every record's packed fields may name: the functions and classes that make
    their values, the names of fields (interned: the very strs the fields are keyed by) and
    of the values' attributes. A record's pickle starts knowing them, and its file's path
    and its body after them, and refers to each by its place: written once, in the code
    that reads the build cache, not once per record; unpickled as the very objects.

    As a pickler's memory (id -> (place, object)), the objects in their places 0, 1...,
    and the prologue that puts them, and a record's path and body after them, there when
    unpickling: for each, its place as a persistent id (which the unpickler gives as the
    object there, see `_unpack`), kept in the memory at that place (BININT n, BINPERSID,
    MEMOIZE, POP), without a Python call. The record's pickle follows, as one."""
    names = [f.name for fields in SCHEMAS.values() for f in fields]
    names += [f.name for fields in SCHEMAS.values() for field in fields for f in field.fields]
    for kind in (Alias, Publisher, Identifier, Location):
        names += list(kind.__dataclass_fields__)
    makers = [_text, _text_before, _ref, _citation, _partial_date, _location]
    objects = [*makers, Alias, Publisher, Identifier, Location, *map(_intern, names)]
    unique = list({id(o): o for o in objects}.values())
    memo = {id(o): (i, o) for i, o in enumerate(unique)}
    places = range(len(unique) + 2)  # (and the record's path and body)
    return memo, unique, b"".join(b"J%sQ\x940" % _PLACE.pack(n) for n in places)


_PLACE = struct.Struct("<i")


def _pack(record: Record) -> bytes:
    """A record's fields and field locations, pickled on their own: one bytes, which a new
    process loads as one object and unpacks only for the records a build reads (a build
    after a few edits reads a few: the fields are most of the parse memo's objects, some
    1.4 million at 10,000 stories). Unpickled and pickled again, unread, a record gives the
    very bytes it was given.

    (A story's body is not packed: every build in a new process asks each record's body
    for its digest, see `deps.survey`; it is one object, and its front matter's texts
    refer to it, as they do to the record's path: both are known to the record's pickle.)"""
    _tell_story(record)
    path = _intern(_at(record)[0])  # (as the values' own `__reduce__` give it)
    places = _places(record, path)
    if type(places) is tuple:  # the names interned too (see `_keyed`)
        names = list(map(_intern, places[0::3]))
        rows = zip(names, places[1::3], places[2::3], strict=True)
        places = tuple(itertools.chain.from_iterable(rows))
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    known = _known()[0]
    body = record.body
    pickler.memo = {**known, id(path): (len(known), path), id(body): (len(known) + 1, body)}
    pickler.dump((_keyed(record.fields), places))
    # Without the protocol (the unpickler needs none) and the first frame's length (only
    # a hint): 11 bytes a record.
    data = buffer.getbuffer()
    return bytes(data[11:] if data[2:3] == _FRAME else data[2:])


def _keyed(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields under their interned names, and so the entries of a list of records (a
    record made of another process's pickle has its own strs for them): those `_known`
    gives, which the pickle writes by their place."""
    return {
        _intern(name): tuple(map(_keyed_entry, value)) if _entries(value) else value
        for name, value in fields.items()
    }


def _entries(value: Any) -> bool:
    """Whether a field's value is a list of records (mappings), as parse makes it."""
    return type(value) is tuple and bool(value) and type(value[0]) is dict


def _keyed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {_intern(name): item for name, item in entry.items()}


def text_size(record: Record) -> int:
    """About how many characters of Markdown the record holds (its body's and its texts'),
    to share out the work of visiting records: of a record whose fields are packed, its
    body's and the packed bytes' length, about as many, without unpacking them (in a
    process that only hands the records to workers, they stay packed)."""
    size = len(record.body.value) if record.body is not None else 0
    packed = record.__dict__.get("_packed")
    if packed is not None:
        return size + len(packed)
    return size + sum(len(v.value) for v in record.fields.values() if isinstance(v, Text))


def _unpack(record: Record) -> None:
    """Put an unpickled record's fields and field locations in place (see `_pack`)."""
    state = record.__dict__
    objects, prologue = _known()[1:]
    data = state["_packed"]
    if len(data) < _FRAME_SIZE:  # one frame, which the unpickler reads at once
        data = b"".join((_FRAME, _SIZE.pack(len(prologue) + len(data)), prologue, data))
    else:  # (a record so large that its pickler framed it: the frames as they are)
        data = prologue + data
    unpickler = pickle.Unpickler(io.BytesIO(data))
    known = [*objects, state["_at"][0], state["body"]]
    unpickler.persistent_load = known.__getitem__  # type: ignore[method-assign]
    fields, places = unpickler.load()
    state["fields"] = fields
    if isinstance(places, tuple):
        state["_places"] = places  # the field locations, made when first asked
    else:
        state["field_locations"] = places
    del state["_packed"]
