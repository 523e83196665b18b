"""Make the site's files: run the makers whose inputs changed, keep the files of the others.

Input: the makers (`plan`), the corpus and links, the dependency record of the last build
(`deps`), and a `Staging` folder. Output: the files put into the staging folder and the new
dependency record. Makers run on forked workers when jobs > 1, each writing its own files
into the staging folder; the bytes do not depend on which process made them.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import multiprocessing
import operator
import os
import re
import stat
import struct
import sys
from array import array
from collections.abc import (
    Callable,
    Container,
    ItemsView,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, cast

from .deps import Fingerprints, Key, Reads, WatchedGazetteer, watch
from .diagnostics import Diagnostic
from .links import Links
from .model import Corpus
from .plan import Maker, Workshop
from .workers import can_fork, end_with, forking, quiet, run_all, slices
from .write import Staging, Stamp, as_written, stamp_of

# A packed trace's key: its place in the table, 4 bytes (see `Trace`).
_PLACE: Final = "I"
_SIZE: Final = array(_PLACE).itemsize
# A stamp packed (inode, size, modification time in ns): one bytes object, not four.
_STAMP = struct.Struct("<QQq")
# The memo of a trace that keeps none (read only: shared by all of them).
_NO_MEMO: Mapping[str, object] = MappingProxyType({})


class Trace(tuple[Any, ...]):
    """What a maker read (`keys`), the files it wrote with their stamps (so that a file
    changed by hand is not trusted), and what it kept for the next time it runs (`memo`).

    Compact, as a build keeps one per maker (145,000 at 10,000 stories) and a new process
    loads them all: a tuple without a __dict__; that of a maker that wrote one file and
    keeps no memo (all but the search index) is (keys, the file's name, its stamp packed
    in bytes): 3 objects and the keys, not 11. Any other is (keys, files, memo or None).
    Pickled as that tuple, and loaded without a call to Python code (see `__reduce__`).

    Packed (see `packed`), its keys are their places in a table of keys that the traces of
    a build share, 4 bytes each in one bytes object, and the table comes last: (places,
    name, stamp, table) or (places, files, memo, table). A new process loads 4.4 million
    keys so at 10,000 stories: 145,000 objects, not 4.4 million references in tuples.
    """

    __slots__ = ()

    def __new__(
        cls,
        keys: tuple[Key, ...],
        files: Sequence[tuple[str, Stamp]],
        memo: Mapping[str, object] | None = None,
    ) -> Trace:
        if not memo and len(files) == 1:
            name, stamp = files[0]
            with contextlib.suppress(struct.error, TypeError, ValueError):
                return tuple.__new__(cls, (keys, name, _STAMP.pack(*stamp)))
        return tuple.__new__(cls, (keys, tuple(files), memo or None))

    @property
    def keys(self) -> tuple[Key, ...]:
        """The keys the maker read, in the order noted."""
        if len(self) == 3:
            return self[0]  # type: ignore[no-any-return]
        return tuple(map(self[3].__getitem__, memoryview(self[0]).cast(_PLACE)))

    @property
    def files(self) -> tuple[tuple[str, Stamp], ...]:
        """The files the maker wrote, by name in the site, with their stamps."""
        name = self[1]
        if type(name) is str:
            return ((name, _STAMP.unpack(self[2])),)
        return name  # type: ignore[no-any-return]

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the files the maker wrote."""
        name = self[1]
        return (name,) if type(name) is str else tuple(n for n, _ in name)

    @property
    def memo(self) -> Mapping[str, object]:
        """What the maker kept for the next time it runs (empty for most)."""
        memo = self[2]
        return _NO_MEMO if memo is None or type(memo) is bytes else memo

    def with_keys(self, keys: tuple[Key, ...]) -> Trace:
        """The same trace with these keys (equal to its own: the same, interned)."""
        return tuple.__new__(Trace, (keys, self[1], self[2]))

    def named(self, name: str) -> Trace:
        """The same trace, its one file's name the very object `name` (equal to it): the
        maker's name, which keys it in the traces, is then pickled once."""
        if self[1] == name and self[1] is not name:
            return tuple.__new__(Trace, (self[0], name, *self[2:]))
        return self

    def packed(self, table: tuple[Key, ...], places: Mapping[Key, int]) -> Trace:
        """The same trace packed (see `Trace`): its keys by their `places` in the `table`;
        as it is if the table lacks one of them, or it keeps a memo. (That is the search
        index's, whose maker runs after every edit: its 187,000 keys at 10,000 stories would
        be made again from their places by each rebuild in serve, three times.)"""
        if len(self) == 4 and self[3] is table:
            return self
        if self.memo:
            return self
        try:
            data = array(_PLACE, map(places.__getitem__, self.keys)).tobytes()
        except KeyError:
            return self
        return tuple.__new__(Trace, (data, self[1], self[2], table))

    def __reduce__(self) -> tuple[Any, ...]:
        # tuple.__new__(Trace, items): called from C when loaded, where NEWOBJ would call
        # `__new__` above (Python code, per trace).
        return tuple.__new__, (Trace, tuple(self))

    def __repr__(self) -> str:
        return f"Trace(keys={self.keys!r}, files={self.files!r}, memo={dict(self.memo)!r})"


class Seen(Mapping[Key, str]):
    """The value of every key the traces name, as a build saw it (see `seen`), compact: a
    new process loads it whole (460,000 keys at 10,000 stories: as a dict, 0.18 s) and
    a save compares it with what it loaded (as a dict, key by key in C, every save).

    The values of the keys of a `table` (the one the traces are packed with) in one text,
    in the table's order, with where each ends (`ends`, 4 bytes each); and in a dict
    (`more`), the keys whose value changed since, those the table lacks, and those it
    holds that are gone (None). Builds after the table was made add to `more` only: the
    table, text and ends stay the very objects, which a delta of the build cache refers to.
    A value is found from its key by a scan of the table in C (see `values_of`).
    """

    def __init__(
        self, table: tuple[Key, ...], text: str, ends: bytes, more: dict[Key, str | None]
    ) -> None:
        self.table = table
        self.text = text
        self.ends = ends
        self.more = more

    @classmethod
    def of(cls, values: Mapping[Key, str], table: tuple[Key, ...]) -> Seen:
        """`values` (every key's value) by the table `table`."""
        if isinstance(values, Seen) and values.table is table:
            return values
        given = values if type(values) is dict else dict(values.items())
        texts = list(map(given.get, table))
        more: dict[Key, str | None] = {}
        if None in texts:  # (a key of the table that is gone)
            more = {key: None for key, text in zip(table, texts, strict=True) if text is None}
            texts = [text or "" for text in texts]
        if len(given) != len(table) - len(more):  # (keys the table lacks)
            known = set(table)
            more.update((key, value) for key, value in given.items() if key not in known)
        ends = array(_PLACE, itertools.accumulate(map(len, cast(list[str], texts))))
        return cls(table, "".join(cast(list[str], texts)), ends.tobytes(), more)

    def values_of(self, keys: Iterable[Key]) -> dict[Key, str]:
        """The value of each of `keys` that it holds, by key: the table's found in one scan
        of it, in C."""
        more = self.more
        found: dict[Key, str] = {}
        wanted = set()
        for key in keys:
            if key in more:
                value = more[key]
                if value is not None:
                    found[key] = value
            else:
                wanted.add(key)
        if wanted:
            table, text, ends = self.table, self.text, memoryview(self.ends).cast(_PLACE)
            for place in _places_of(table, wanted):
                found[table[place]] = text[ends[place - 1] if place else 0 : ends[place]]
        return found

    def as_dict(self) -> dict[Key, str]:
        """Every key's value, in a dict (for all of them at once: see `values_of`)."""
        ends = memoryview(self.ends).cast(_PLACE)
        spans = map(slice, itertools.chain((0,), ends), ends)
        found = dict(zip(self.table, map(self.text.__getitem__, spans), strict=True))
        for key, value in self.more.items():
            if value is None:
                found.pop(key, None)
            else:
                found[key] = value
        return found

    def __getitem__(self, key: Key) -> str:
        return self.values_of((key,))[key]

    def __bool__(self) -> bool:  # (not by its length: every key's value in a dict)
        more = self.more
        gone = [key for key, value in more.items() if value is None]
        return len(more) > len(gone) or any(more.get(key, "") is not None for key in self.table)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.values_of((key,)))

    def __iter__(self) -> Iterator[Key]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def items(self) -> ItemsView[Key, str]:
        return self.as_dict().items()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.as_dict() == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Seen({self.as_dict()!r})"


def _places_of(table: tuple[Key, ...], keys: set[Key]) -> Iterable[int]:
    """The places in `table` of those of `keys` it holds: by the places this process keeps
    of its keys (see `by_place`), else found by one scan of it, in C; a few keys, each by
    `tuple.index`, which compares them with the table's keys without hashing those (a
    new process has not hashed them yet: at 2,000 stories 4 ms, and `Look`'s forked one
    would copy every page of them to store their hashes)."""
    if _by_place is not None and _by_place[0] is table:
        places = _by_place[1]
        return [place for key in keys if (place := places.get(key)) is not None]
    if len(keys) > _INDEXED:
        return itertools.compress(itertools.count(), map(keys.__contains__, table))
    found = []
    for key in keys:
        with contextlib.suppress(ValueError):
            found.append(table.index(key))
    return sorted(found)


# The most keys found in a table each by `tuple.index` (see `_places_of`): a scan for one
# takes a fifth of one that hashes them all, a quarter of one that looks up their hashes.
_INDEXED: Final = 3


def by_place(seen: Mapping[Key, str]) -> None:
    """Keys of `seen`'s table looked up by place in this process from now on, not by a scan
    of it: for a process that builds the same site again and again (serve), which makes the
    dict of places once per table (at 10,000 stories, 460,000 keys: 0.16 s, paid by its
    first rebuild after a save, against some 0.05 s of scans in every one). A new process
    makes one build and scans the table twice: a fifth of what the dict would cost."""
    global _by_place
    if isinstance(seen, Seen) and (_by_place is None or _by_place[0] is not seen.table):
        table = seen.table
        _by_place = table, dict(zip(table, range(len(table)), strict=True))


# The table whose keys' places this process keeps, and those places (see `by_place`). One
# site at a time.
_by_place: tuple[tuple[Key, ...], dict[Key, int]] | None = None


def values_of(seen: Mapping[Key, str], keys: Iterable[Key]) -> dict[Key, str]:
    """The value in `seen` of each of `keys` it holds (a `Seen`'s found in one scan)."""
    if isinstance(seen, Seen):
        return seen.values_of(keys)
    return {key: seen[key] for key in keys if key in seen}


def changed(
    seen: Mapping[Key, str], fingerprints: Fingerprints, suspects: Iterable[Key] | None = None
) -> set[Key]:
    """The keys whose value is not what the last build saw: of the `suspects` only, when
    given (every other key is known to have kept its value, see `deps.survey`)."""
    values = seen.items() if suspects is None else values_of(seen, suspects).items()
    return {key for key, value in values if fingerprints(key) != value}


def stale(
    makers: Sequence[Maker],
    traces: Mapping[str, Trace],
    changed: set[Key],
    unwritten: Container[str] = (),
    readers: Container[str] | None = None,
) -> list[int]:
    """The makers to run: those with no trace, a changed input, or named `unwritten` (their
    files are not in the site as written: see `Unwritten`, or `Look`). `readers`, if given,
    are the names of the makers whose trace names a key `changed` (see `Look.readers`);
    else they are found in the traces (see `_Places`)."""
    if readers is None:
        readers = _Places(traces).readers(changed)
    todo = []
    for index, maker in enumerate(makers):
        name = maker.name
        if name in readers or name in unwritten or name not in traces:
            todo.append(index)
    return todo


class Unwritten(Container[str]):
    """The names of the makers whose files are not in the site `out` as their trace has
    them (a regular file with the stamp it had when written), each looked at when asked."""

    def __init__(self, traces: Mapping[str, Trace], out: Path) -> None:
        self.traces = traces
        self.site = f"{out}/"

    def __contains__(self, name: object) -> bool:
        trace = self.traces.get(name)  # type: ignore[call-overload]
        return trace is not None and not as_written(self.site, trace.files)


def unwritten(traces: Mapping[str, Trace], out: Path) -> list[str]:
    """Every name `Unwritten` holds.

    A tight loop over the site's files (145,000 at 10,000 stories, looked at by `Look`'s
    forked process while the build reads the content, and wanted before the makers are
    listed): each named from the site's folder, opened once, not from the root, and the
    stamp of a trace of one file compared as it holds it, packed (at 2,000 stories, 0.12 s
    of CPU -> 0.09 s)."""
    found = Unwritten(traces, out)
    folder = None
    if os.stat in os.supports_dir_fd:
        with contextlib.suppress(OSError):
            folder = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    if folder is None:
        return [name for name in traces if name in found]
    lstat, regular, pack = os.lstat, stat.S_ISREG, _STAMP.pack
    names = []
    try:
        for name, trace in traces.items():
            file = trace[1]
            if type(file) is not str:  # (a trace of more files than one, or none)
                if name in found:
                    names.append(name)
                continue
            try:
                status = lstat(file, dir_fd=folder)
                stamp = pack(*stamp_of(status))
                written = stamp == trace[2] and regular(status.st_mode)
            except (OSError, struct.error):
                written = False
            if not written:
                names.append(name)
    finally:
        os.close(folder)
    return names


class Look:
    """`unwritten`, worked out on another core while this process goes on with the build;
    then there too, the makers whose trace names a key that changed, while this process
    lists the makers.

    A build in a new process looks at every file of the site (one changed by hand is made
    again): 145,000 at 10,000 stories, as long as the rest of a one-story rebuild's
    bookkeeping. Once the traces are known, a forked process looks at them meanwhile and
    sends back the few names. Without fork, or if that process fails, they are looked at
    here when asked.

    Once this process knows the keys that changed, it sends them (`ask`); the forked
    process looks for them in the traces (4 million keys at 10,000 stories, by the bytes
    of their places, joined while it waited for the keys: see `_Places`) while this one
    lists the makers, and sends back the names (`readers`).

    Given `load` instead of the traces, the process is forked before they are known, from
    a small process (a new one, before it loads the build cache), and loads them itself,
    once told to (`go`): forked after the load, from a process of 1.2 GB at 10,000 stories,
    it would share that memory, and each page this process then writes to (a count of
    references) would be copied first (0.3 s of a one-story rebuild, spread over reading,
    parsing and linking). `load` gives the traces and what tells them apart (the build
    cache's files: see `cache.load_alone`); this process, once it has loaded them too,
    takes the forked process on only if it loaded the same (`adopt`).
    """

    def __init__(
        self,
        traces: Mapping[str, Trace] | None,
        out: Path,
        fork: bool = True,
        load: Callable[[], tuple[object, Mapping[str, Trace]] | None] | None = None,
    ) -> None:
        self.traces = traces
        self.out = out
        self._found: set[str] | None = None
        self.here = False  # whether they were looked at here after all
        self.asked = False  # whether the forked process was asked for the readers
        self._loads = load is not None  # (see `go`)
        self._told = False  # whether the forked process was told to load the traces
        self._process: Any = None
        self._pipe: Any = None
        if fork and can_fork() and (traces is None) != (load is None):
            context = multiprocessing.get_context("fork")
            self._pipe, there = context.Pipe()
            args = (traces, out, there, os.getpid(), load)
            self._process = context.Process(target=_look_there, args=args)
            with forking():
                self._process.start()
            there.close()

    def go(self) -> None:
        """Have the forked process load the traces (given `load`): the build has something
        to do. (Until then it waits, and ends if the build ends.)"""
        if self._process is not None and self._loads and not self._told:
            with contextlib.suppress(OSError):
                self._pipe.send(True)
                self._told = True

    def adopt(self, ident: object, traces: Mapping[str, Trace]) -> bool:
        """Whether the forked process loaded these `traces` (given `load`): what `load` gave
        with them is `ident` (which this process found with them). Then they are this Look's;
        if not, the process is stopped, and this Look is of no use."""
        self.go()
        loaded: object = None
        if self._process is not None and self._told:
            with contextlib.suppress(EOFError, OSError):
                loaded = self._pipe.recv()
        if loaded is None or loaded != ident:
            self._end(stop=True)
            return False
        self.traces = traces
        return True

    def unwritten(self) -> set[str]:
        """The names of the makers whose files are not as written (see `unwritten`)."""
        if self._found is None:
            assert self.traces is not None  # (given, or adopted)
            found = None
            if self._process is not None:
                with contextlib.suppress(EOFError, OSError):
                    found = self._pipe.recv()
            if not isinstance(found, list):
                self._end(stop=True)
                found = unwritten(self.traces, self.out)
                self.here = True
            self._found = set(found)
        return self._found

    def ask(self, changed: set[Key]) -> None:
        """Have the forked process, if any, find the makers whose trace names a key
        `changed` (see `readers`); after `unwritten`, which it sends first."""
        self.unwritten()
        if self._process is not None and not self.asked:
            with contextlib.suppress(OSError):
                self._pipe.send(changed)
                self.asked = True

    def readers(self) -> set[str] | None:
        """The names of the makers whose trace names a key of those `ask` gave, as
        `Readers.stale` gives them; None if that process was not asked or did not answer
        (the caller looks at the traces)."""
        found = None
        if self._process is not None and self.asked:
            with contextlib.suppress(EOFError, OSError):
                found = self._pipe.recv()
        if not isinstance(found, list):
            self._end(stop=True)
            return None
        # The process has said all it had to say, and ends on its own: it is waited for
        # by `close`, at the end of the build, not here (the system takes a while to end
        # a fork of a big process: at 10,000 stories, 0.08 s of the 0.2 s waited here).
        self._pipe.close()
        return set(found)

    def close(self) -> None:
        """End the forked process, if any: stopped (a build that ends before it makes the
        site does not wait for it, and the process is not left writing to a pipe no one
        reads, nor waiting for keys that do not come), and waited for (a process that
        builds again and again, serve, is left no child, nor its pipes)."""
        self._end(stop=True)

    def _end(self, stop: bool) -> None:
        if self._process is not None:
            if stop:
                self._process.terminate()
            self._pipe.close()
            self._process.join()
            self._process = None


def _look_there(
    traces: Mapping[str, Trace] | None,
    out: Path,
    pipe: Any,
    parent: int,
    load: Callable[[], tuple[object, Mapping[str, Trace]] | None] | None = None,
) -> None:
    """In the forked process: load the traces, if not given, once told to (see `Look`), and
    send back what tells them apart; look, and send the names back; then find the readers
    of the keys that changed, when they come, and send their names back. It ends with the
    build: killed, the build would not close the pipe's other end, which this process
    holds too, and it would wait for ever."""
    gc.disable()  # what it makes is a short list; what it inherited is not its to walk
    quiet()  # (the build, interrupted, stops it: see `Look.close`)
    end_with(parent)
    with contextlib.suppress(EOFError, OSError):  # (not told: the build had nothing to do)
        if traces is None and load is not None:
            pipe.recv()
            loaded = load()
            pipe.send(None if loaded is None else loaded[0])
            if loaded is None:
                return
            traces = loaded[1]
        assert traces is not None
        pipe.send(unwritten(traces, out))
        places = _Places(traces)
        places.ready()  # (while the build works out the keys that changed)
        changed = pipe.recv()  # (not asked: the build went on without)
        pipe.send(list(places.readers(changed)))
    pipe.close()


class Readers:
    """The traces inverted: the names of the makers whose trace names each key, so that the
    makers a changed key makes stale are found from the key (serve's rebuild after a save:
    not by looking at each of 145,000 traces at 10,000 stories). Kept up to date by
    difference (`update`) as long as it describes the traces of the site this process made.
    """

    def __init__(self, traces: Mapping[str, Trace]) -> None:
        self.traces = traces
        by_key: dict[Key, set[str]] = {}
        # Packed traces by the places of their keys in their table (a list per table, by
        # place), their keys not made again: 6 million at 10,000 stories.
        tables: dict[int, tuple[tuple[Key, ...], list[set[str] | None]]] = {}
        for name, trace in traces.items():
            if len(trace) == 3:
                for k in trace[0]:
                    found = by_key.get(k)
                    if found is None:
                        by_key[k] = {name}
                    else:
                        found.add(name)
                continue
            table = trace[3]
            kept = tables.get(id(table))
            if kept is None:
                kept = tables[id(table)] = (table, [None] * len(table))
            by_place = kept[1]
            for place in memoryview(trace[0]).cast(_PLACE):
                found = by_place[place]
                if found is None:
                    by_place[place] = {name}
                else:
                    found.add(name)
        for table, by_place in tables.values():
            for k, names in zip(table, by_place, strict=True):
                if names is not None:
                    found = by_key.get(k)
                    if found is None:
                        by_key[k] = names
                    else:
                        found |= names
        self.by_key = by_key

    def stale(self, changed: Iterable[Key]) -> set[str]:
        """The names of the makers whose trace names one of the keys `changed`."""
        found: set[str] = set()
        for k in changed:
            found.update(self.by_key.get(k, ()))
        return found

    def update(self, traces: Mapping[str, Trace], made: Mapping[str, Trace]) -> None:
        """Describe `traces` now: the traces described before, with those of `made` (makers
        that ran, by name) in place of theirs. (`traces` holds no other change.)"""
        by_key = self.by_key
        for name, trace in made.items():
            was = self.traces.get(name)
            old = was.keys if was is not None else ()
            if old == trace.keys:
                continue
            before, after = set(old), set(trace.keys)
            for k in before - after:
                readers = by_key[k]
                readers.discard(name)
                if not readers:
                    del by_key[k]
            for k in after - before:
                by_key.setdefault(k, set()).add(name)
        self.traces = traces


def seen(
    traces: Mapping[str, Trace],
    fingerprints: Fingerprints,
    last: Mapping[Key, str],
    changed: set[Key],
    made: Mapping[str, Trace],
    before: Mapping[str, Trace] | None = None,
) -> Mapping[Key, str]:
    """The value of every key the traces name, for the next build to compare.

    From `last` (what the last build saw) when few makers ran: only the keys that changed
    and the new keys of the makers that ran are worked out; `before`, if given, are the
    traces of the last build (every key they name is in `last`): a maker that read the
    same keys as then has none new. (Keys no trace names any more stay until a build that
    runs most makers starts afresh; they cost nothing but room.) A `Seen` from a `Seen`,
    with the same table; else a dict.
    """
    if not last or len(made) * 2 > len(traces):
        keys = {key for trace in traces.values() for key in trace.keys}
        return {key: fingerprints(key) for key in keys}
    now: dict[Key, str | None] = dict(last.more) if isinstance(last, Seen) else dict(last)
    for key in changed:
        now[key] = fingerprints(key)
    was = before or {}
    read: dict[Key, None] = {}  # the keys of the makers that read others than then
    for name, trace in made.items():
        then = was.get(name)
        if then is None or then.keys != trace.keys:
            read.update(dict.fromkeys(trace.keys))
    if isinstance(last, Seen):
        found = last.values_of(key for key in read if key not in now)
        for key in read:
            if key not in found and now.get(key) is None:
                now[key] = fingerprints(key)
        return Seen(last.table, last.text, last.ends, now)
    for key in read:
        if key not in now:
            now[key] = fingerprints(key)
    return cast(dict[Key, str], now)


def pack(
    traces: dict[str, Trace],
    made: Mapping[str, Trace],
    before: Mapping[str, Trace],
    seen: Mapping[Key, str],
    table: tuple[Key, ...] | None,
) -> tuple[dict[str, Trace], tuple[Key, ...]]:
    """The traces packed (see `Trace`), and the table of keys they are packed with.

    A new table, of every key `seen` holds, when there is none or most makers ran (as
    `seen` starts afresh then): every trace is packed with it. Otherwise the last build's:
    the trace of a maker that ran (`made`) and read the keys it read then (`before`, the
    last build's traces) is packed as that one was, with the very bytes (a delta of the
    build cache refers to them); any other (a story's pages after its edit: few, short)
    stays as it is until the next new table.
    """
    if table is None or not table or len(made) * 2 > len(traces):
        table = tuple(seen)
        places = dict(zip(table, range(len(table)), strict=True))
        return {name: trace.packed(table, places) for name, trace in traces.items()}, table
    if not made:
        return traces, table
    now = dict(traces)
    for name in made:
        trace, then = now[name], before.get(name, ())
        if len(trace) == 3 and len(then) == 4 and then[3] is table and then.keys == trace[0]:
            now[name] = tuple.__new__(Trace, (then[0], trace[1], trace[2], table))
    return now, table


class Table(dict[Key, int]):
    """A new table of keys for the traces of a build that runs most makers (see `Trace`),
    made as their traces come from the workers, with the value of each key (see `seen`).

    Each worker packs its traces by a table of its own, and works out the value of each
    key when its table gains it (`packed_there`); with each slice it sends the keys its
    table gained meanwhile, with their values, and this table looks up only those (`take`).
    This process no longer interns every key of every trace as they come, then, after
    every page is made, gathers them (`seen`), works out the value of each alone on one
    core, and looks each up again (`pack`): at 10,000 stories, 4.4 million keys, 460,000
    of them distinct, as long as the rest of the work left after the pages.

    By key, its place; `order` the keys by place (a list while it grows, the table once
    done: see `done`), and `texts` their values, by place. The keys are added in the order
    of the makers that read them first: the same table whatever the number of workers.
    """

    def __init__(self, fingerprints: Callable[[Key], str]) -> None:
        super().__init__()
        self.order: list[Key] = []
        self.texts: list[str] = []
        self._value = fingerprints
        # By process, the place here of each key by its place in that process's table.
        self._places: dict[int, list[int]] = {}

    def __missing__(self, key: Key) -> int:
        return self._add(key, self._value(key))

    def _add(self, key: Key, text: str) -> int:
        """Add a key the table lacks, with its value: its place. (Interned, as the keys of
        the traces a build makes in this process: a trace of the next build in serve is
        compared with this one's key by key.)"""
        key = sys.intern(key)
        place = self[key] = len(self.order)
        self.order.append(key)
        self.texts.append(text)
        return place

    def packed_there(self, trace: Trace) -> Trace:
        """In a worker, whose own table this is: the trace, its keys by their places in it,
        and no table yet (see `take`); a trace that keeps a memo as it is, its keys added."""
        places = array(_PLACE, map(self.__getitem__, trace.keys))
        if trace.memo:
            return trace
        return tuple.__new__(Trace, (places.tobytes(), trace[1], trace[2], None))

    def take(self, ran: list[_Ran], news: _News) -> list[_Ran]:
        """A slice's results from process `news[0]`, packed there (see `packed_there`),
        and the keys its table gained meanwhile, with their values: packed by this table.
        Only those keys are looked up here, not every key of every trace."""
        process, keys, texts = news
        places = self._places.setdefault(process, [])
        for key, text in zip(keys, texts, strict=True):
            place = self.get(key)
            places.append(self._add(key, text) if place is None else place)
        here = places.__getitem__
        order = self.order
        taken: list[_Ran] = []
        for name, trace, found in ran:
            if trace is not None and len(trace) == 4 and trace[3] is None:
                data = array(_PLACE, map(here, memoryview(trace[0]).cast(_PLACE))).tobytes()
                trace = tuple.__new__(Trace, (data, trace[1], trace[2], order))
            elif trace is not None:
                trace = self.pack(trace)
            taken.append((name, trace, found))
        return taken

    def pack(self, trace: Trace) -> Trace:
        """The trace packed by this table, its keys added; a trace that keeps a memo (the
        search index's: see `Trace.packed`) is not packed, its keys are the table's."""
        order = self.order
        if len(trace) == 4 and trace[3] is order:
            return trace
        places = array(_PLACE, map(self.__getitem__, trace.keys))
        if trace.memo:
            return trace.with_keys(tuple(map(order.__getitem__, places)))
        return tuple.__new__(Trace, (places.tobytes(), trace[1], trace[2], order))

    def done(self, traces: Mapping[str, Trace]) -> tuple[dict[str, Trace], tuple[Key, ...], Seen]:
        """The traces packed (those not packed as they came too: makers that did not run),
        the table, and the value of every key it holds (as `seen` and `pack` give them for
        a build that starts afresh)."""
        packed = {name: self.pack(trace) for name, trace in traces.items()}
        table = tuple(self.order)
        for name, trace in packed.items():
            if len(trace) == 4:
                packed[name] = tuple.__new__(Trace, (trace[0], trace[1], trace[2], table))
        ends = array(_PLACE, itertools.accumulate(map(len, self.texts)))
        values = Seen(table, "".join(self.texts), ends.tobytes(), {})
        return packed, table, values


class _Places:
    """The places of the packed traces' keys (see `Trace`), each table's in one bytes object,
    the traces' one after another: the traces that name one of a few keys are found by a
    search for the bytes of its place, in C, not by an int made of each place of each
    trace (4 million at 10,000 stories: 0.4 s in `Look`'s forked process, which the build
    waited for; at 2,000 stories, a story edited: 45 ms, now 6 ms once joined). A place
    found where it does not begin one (across two) is no place of a trace.

    Made before the keys are known (`_look_there`: while the build works them out); the
    bytes of each table's places are joined then (`ready`), or when first looked in.
    """

    def __init__(self, traces: Mapping[str, Trace]) -> None:
        names, values = list(traces), list(traces.values())
        packed = list(map((4).__eq__, map(len, values)))
        # (the traces not packed: a few that read keys their table lacked, see `pack`)
        plain = zip(names, values, strict=True)
        self.plain = list(itertools.compress(plain, map(operator.not_, packed)))
        names = list(itertools.compress(names, packed))
        values = list(itertools.compress(values, packed))
        tables = list(map(operator.itemgetter(3), values))
        if not tables or tables.count(tables[0]) == len(tables):  # (one table, as a rule)
            self.strips = [_Strip(tables[0], names, values)] if tables else []
            return
        by_table: dict[int, _Strip] = {}
        for name, trace, table in zip(names, values, tables, strict=True):
            strip = by_table.get(id(table))
            if strip is None:
                strip = by_table[id(table)] = _Strip(table, [], [])
            strip.names.append(name)
            strip.traces.append(trace)
        self.strips = list(by_table.values())

    def ready(self) -> None:
        """Join the bytes of each table's places now, before the keys come."""
        for strip in self.strips:
            strip.joined()

    def readers(self, changed: set[Key]) -> set[str]:
        """The names of the traces that name one of the keys `changed`."""
        found = {name for name, trace in self.plain if not changed.isdisjoint(trace[0])}
        for strip in self.strips:
            strip.readers(set(_places_of(strip.table, changed)), found)
        return found


# The most places of changed keys looked for by their bytes (see `_Strip.readers`), one
# search of a table's places each (at 2,000 stories, 2 places: 4 ms, 12: 34 ms); more (an
# actor renamed, a template edited) in one scan of the places as ints (50 ms).
_FIND: Final = 12


class _Strip:
    """The places of the traces packed by one table, in one bytes object (see `_Places`)."""

    def __init__(self, table: tuple[Key, ...], names: list[str], traces: list[Trace]) -> None:
        self.table = table
        self.names = names
        self.traces = traces
        self._joined: tuple[bytes, list[int]] | None = None

    def joined(self) -> tuple[bytes, list[int]] | None:
        """The places of the traces one after another, and where each trace's places end;
        None if a trace's are not whole places (then not found by their bytes)."""
        if self._joined is None:
            data = list(map(operator.itemgetter(0), self.traces))
            if any(map(_SIZE.__rmod__, map(len, data))):
                return None
            self._joined = b"".join(data), list(itertools.accumulate(map(len, data)))
        return self._joined

    def readers(self, places: set[int], found: set[str]) -> None:
        """Add to `found` the names of the traces that name one of the `places`."""
        if not places:
            return
        joined = self.joined() if len(places) <= _FIND else None
        if joined is None:
            for name, trace in zip(self.names, self.traces, strict=True):
                if not places.isdisjoint(memoryview(trace[0]).cast(_PLACE)):
                    found.add(name)
            return
        data, ends = joined
        for place in places:
            # (the place's bytes as a pattern: looked for by their first, in C, twice as
            # fast as by `bytes.find`, which looks at their last, a 0 as a rule, and finds
            # one in every other byte)
            wanted = re.compile(re.escape(array(_PLACE, (place,)).tobytes()))
            match = wanted.search(data)
            while match is not None:
                at = match.start()
                if at % _SIZE:  # (the end of one place and the start of the next)
                    match = wanted.search(data, at + 1)
                    continue
                index = bisect.bisect_right(ends, at)
                found.add(self.names[index])
                match = wanted.search(data, ends[index])  # (that trace is found: the next)


# So few makers to run that they run in this process.
_FEW = 32

# What running one maker gives: its name, its trace (None if it failed) and its problems.
_Ran = tuple[str, Trace | None, list[Diagnostic]]
# With a new table (see `Table.take`): the process that ran a slice, and the keys its table
# gained while it ran it, with their values.
_News = tuple[int, list[Key], list[str]]
# What running a slice of the makers gives: what each gave, and with a new table the news
# of its process's (None once taken).
_Slice = tuple[list[_Ran], _News | None]


def run(
    makers: Sequence[Maker],
    todo: Sequence[int],
    corpus: Corpus,
    links: Links,
    templates: Path,
    fingerprints: Fingerprints,
    staging: Staging,
    jobs: int = 1,
    traces: Mapping[str, Trace] | None = None,
    table: Table | None = None,
) -> tuple[dict[str, Trace], list[Diagnostic]]:
    """Run the makers `todo` (indices), putting their files into staging: their traces and
    the problems (template errors) of those that failed. A maker is given the memo of its
    last trace in `traces`. With a new `table`, the traces are packed by it as they come
    (see `Table`)."""
    last = traces or {}
    # One workshop per process, shared by the slices it runs: building one (its views, a
    # gazetteer of every mapped record) costs as much as making many pages.
    shops: dict[int, tuple[Workshop, Reads, Table | None]] = {}
    here = os.getpid()

    def work(start: int, stop: int) -> _Slice:
        if os.getpid() not in shops:
            made_reads: Reads = set()
            shop = _workshop(
                corpus, links, templates, made_reads, fingerprints.known.get("templates")
            )
            # (the slices run in this process are packed by the new table itself)
            own = table if table is None or os.getpid() == here else Table(fingerprints.once)
            shops[os.getpid()] = shop, made_reads, own
        shop, reads, own = shops[os.getpid()]
        ran: list[_Ran] = []
        # Without the cyclic garbage collector: pages make no cycles to collect, and it
        # would walk, every few thousand objects made, all that lasts while they are made
        # (the slice's traces, the views' lines of chronologies and links kept for every
        # page), some 4% of the CPU of making them. (What a failure leaves in cycles waits
        # for the next collection, after the slice.)
        collecting = gc.isenabled()
        gc.disable()
        try:
            _make(start, stop, shop, reads, ran)
        finally:
            if collecting:
                gc.enable()
        if own is None:
            return ran, None
        if own is table:
            return [(n, None if t is None else table.pack(t), f) for n, t, f in ran], None
        # Packed by this process's own table, with the values of the keys new to it worked
        # out here, on the workers' cores, not in the parent after every page is made (the
        # keys a worker's pages read are mostly those of its earlier slices).
        start = len(own.order)
        ran = [(n, None if t is None else own.packed_there(t), f) for n, t, f in ran]
        return ran, (os.getpid(), own.order[start:], own.texts[start:])

    def _make(start: int, stop: int, shop: Workshop, reads: Reads, ran: list[_Ran]) -> None:
        for index in todo[start:stop]:
            maker = makers[index]
            reads.clear()
            trace = last.get(maker.name)
            shop.known, shop.used = (trace.memo if trace else {}), {}
            files, problems = maker.make(shop)
            if problems:
                ran.append((maker.name, None, problems))
                continue
            # What it was seen to read, after what it says it reads (the search index
            # names 187,000 keys at 10,000 stories: not sorted again at every run).
            noted = reads.union(fingerprints.globals).difference(maker.reads)
            keys = maker.reads + tuple(sorted(noted))
            stamps = tuple((name, staging.put(name, data)) for name, data in sorted(files.items()))
            ran.append((maker.name, _interned(Trace(keys, stamps, shop.used), trace), []))

    # A few slices per process, so that a process that finishes early takes another; a few
    # makers are run here (forking, and a workshop per process, would cost more than them).
    jobs = jobs if len(todo) > _FEW else 1
    tasks = [partial(work, a, b) for a, b in slices(len(todo), jobs * 4)]
    parts = run_all(tasks, jobs, _arrived if table is None else partial(_packed, table))
    made: dict[str, Trace] = {}
    problems: list[Diagnostic] = []
    # (in the order of `todo`: each slice gives one per maker, in order)
    # (a slice from a worker was taken as it came; one run here, packed as it was made)
    ran = itertools.chain.from_iterable(part for part, _ in parts)
    for index, (_, trace, found) in zip(todo, ran, strict=True):
        problems.extend(found)
        if trace is not None:
            name = makers[index].name  # (this process's object: the trace's file shares it)
            made[name] = trace.named(name)
    return made, problems


def _workshop(
    corpus: Corpus, links: Links, templates: Path, reads: Reads, version: str | None
) -> Workshop:
    """A workshop over the watched corpus and links; what building it read is not noted
    (every maker reads the global keys that stand for it; a page, the keys of the templates
    it is rendered with, see `plan._rendered`)."""
    watched_corpus, watched_links = watch(corpus, links, reads)
    shop = Workshop(watched_corpus, watched_links, templates, links, version, corpus)
    shop.views.gazetteer = WatchedGazetteer(shop.views.gazetteer, reads)
    for part in (shop.env, shop.exporter, shop.feeds):
        assert part is not None
    reads.clear()
    shop.reads = reads
    return shop


def _interned(trace: Trace, last: Trace | None = None) -> Trace:
    """The same trace with its keys interned: the many traces that name one key share it,
    in memory and in the pickled cache (and in a slice's results, pickled once each).

    With the very keys of the maker's `last` trace, if it is not packed and names the same
    (the search index's, which keeps a memo, after most edits: its maker runs after every
    one), not each interned again (187,000 at 10,000 stories; in a new process, those the
    cache's trace was loaded with, interned one by one: at 2,000 stories, 12 ms)."""
    if last is not None and len(last) == 3 and last[0] == trace[0]:
        return trace.with_keys(last[0])
    return trace.with_keys(tuple(map(sys.intern, trace.keys)))


def _arrived(part: _Slice) -> _Slice:
    """A slice's results from a worker, as they come: their keys, copies made when they
    were unpickled, interned in this process (the copies are freed with the slice's
    pickle, not held, 4 million of them at 10,000 stories, until every slice is done)."""
    ran, values = part
    return [
        (name, None if trace is None else _interned(trace), found) for name, trace, found in ran
    ], values


def _packed(table: Table, part: _Slice) -> _Slice:
    """A slice's results from a worker, as they come, their traces packed by the new `table`
    with the values the worker gave (see `Table`): their keys, copies made when they were
    unpickled, are freed with the slice's pickle, but those new to the table."""
    ran, news = part
    return (ran, None) if news is None else (table.take(ran, news), None)
