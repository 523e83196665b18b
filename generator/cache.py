"""The build cache: what earlier builds worked out, kept to skip work that would come out the same.

Input: a folder (beside the content by default) and the running code; output: one `Memo` per
stage, whose entries are keyed by a fingerprint of everything that entry depends on. A cache
that cannot be read, or that other code wrote, is ignored; it is saved (atomically, holding
only what this build used) only after a build succeeded.

On disk: a base (every entry, as one build left them; a pickle per memo, one that holds
another's objects after it and referring to them; a memo's many entries of which a build
looks up few, in chunks after its part, each read when one of them is first recalled) and
deltas, each the changes one later build made to what the base and the deltas before it
give. A save writes only what changed since the cache was read (most builds change a few
entries of hundreds of thousands), or a new base when the deltas have grown (when they are
many, a process of its own writes it after the build: see `_compact_aside`). Every file
names the one it applies to by a random id, so a delta left by a killed save, or written
for another base, is never applied.
"""

from __future__ import annotations

import atexit
import contextlib
import copyreg
import gc
import hashlib
import io
import itertools
import operator
import os
import pickle
import secrets
import struct
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import IO, Any, cast

try:
    import fcntl
except ImportError:  # (Windows: no fork either, so nothing saves aside: see `_compact_aside`)
    fcntl = None  # type: ignore[assignment]

from . import workers

FILE = "cache.pickle"  # the base
# The deltas, applied to the base in this order: delta-1.pickle, delta-2.pickle...
DELTA = "delta-{}.pickle"
# The last build's inputs and outcome, small, so that a build with nothing to do is quick;
# then its details, read only by a build that needs them.
STATE = "state.pickle"
_CODE = Path(__file__).resolve().parent
_LEFTOVER_SECONDS = 3600
# (Jinja2 too: the build cache keeps templates as it compiled them; see `plan.Compiled`.)
_LIBRARIES = ("markdown", "pyyaml", "nh3", "jinja2", "markupsafe", "orjson")
# A new base instead of a delta when the deltas would hold more than this share of the
# base's bytes (loading them then costs more than they save), or be more than this many.
_DELTA_SHARE = 0.25
_MAX_DELTAS = 16
# Held by the process that writes a new base aside (see `_compact_aside`) while it does.
COMPACTING = "compacting.lock"
# Values compared by equality (cheap, and identity means nothing for them); others by identity.
_ATOMS = (str, bytes, int, float, bool, type(None))
_SMALL = frozenset((int, float, bool, type(None)))  # atoms never worth a reference
_MISSING = object()
# Memos whose entries hold the very objects of another memo's: the markdown memo's visits
# hold the parse memo's records, recognised by identity (see `links._World.recall`). In a
# base, such a memo is pickled after the other, with those objects known (see `_parts`).
# Every other memo is pickled on its own.
_WITH = {"markdown": "parse"}
# The memo that a process may load alone, without the others (see `load_alone`): the deps
# memo's traces, which `rebuild.Look` loads on another core while the build loads the rest.
# The base's trailer tells where its part begins (see `_trailer`), and each delta pickles
# its changes first, on their own, referring to no other memo's objects.
_ALONE = "deps"
# How deep into a replaced entry a delta looks for parts of it that the new one took over,
# and the length from which a str or bytes is worth a reference.
_DEPTH = 4
_LONG = 64
_LONG_TUPLE = 8
# The length from which a dict, list or tuple that differs from the old one in its place by
# a few items is written as those items (a patch of the old one).
_LONG_PATCH = 64


@dataclass
class Memo:
    """Entries of the last build (`old`, read only) and those this build used or made (`new`).

    `disk` is what the cache folder holds, if it was read from (or last saved to) it: a save
    writes only how `new` differs from that.
    """

    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    disk: _Disk | None = field(default=None, repr=False, compare=False)

    def get(self, key: str) -> Any:
        value = recall(self.old, key)
        if value is not None:
            self.new[key] = value
        return value


@dataclass(frozen=True, eq=False)
class _Disk:
    """The files of a cache folder, base first (their ids and sizes), and the entries they
    give (the memos' `old` as loaded, or their `new` as saved: read only, both)."""

    folder: Path
    version: str
    ids: tuple[str, ...]
    sizes: tuple[int, ...]
    entries: dict[str, dict[str, Any]] = field(repr=False)


def default_folder(content: Path) -> Path:
    """A hidden folder beside the content folder."""
    return content.absolute().parent / ".factsheet-cache"


def fingerprint(*parts: object) -> str:
    """A hash of the parts' text: equal parts, equal fingerprint."""
    text = repr(parts).encode("utf-8", "backslashreplace")
    return hashlib.sha256(text).hexdigest()


def code_version() -> str:
    """The generator's source, its libraries, Python's version and the machine's byte order:
    from other code, or another kind of machine, stale (packed traces hold their keys'
    places as the machine writes numbers: see `rebuild.Trace`).

    (Templates are not part of it: nothing kept here depends on them.)
    """
    digest = hashlib.sha256(f"{sys.version} {sys.byteorder}\0".encode())
    digest.update(_code())
    return digest.hexdigest()


@cache
def _code() -> bytes:
    """The digest of the generator's source and its libraries' versions: worked out once
    per process (a build asks for the code's version four times, and each time would read
    every module and the libraries' metadata again), as the code running is the code
    first imported."""
    digest = hashlib.sha256()
    for library in _LIBRARIES:
        digest.update(f"{library} {metadata.version(library)}\0".encode())
    for path in sorted(_CODE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def load(
    folder: Path | None, names: tuple[str, ...], stop: Callable[[], bool] | None = None
) -> dict[str, Memo]:
    """A Memo per name, empty when there is no cache, or it is corrupt, stale or foreign.

    The base, then each delta that applies to what came before it; a delta that is missing,
    unreadable, stale or for another base ends the chain (what came before is what an
    earlier build saved: as good a cache as a build killed before its save leaves).

    `stop`, if given, is asked now and then as the base loads (see `_Asking`): once it says
    so, the loading stops, and the memos are empty (the build found it has nothing to do).
    """
    disk = None
    if folder is not None:
        with no_collection(), _locked(folder, shared=True):
            disk = _read(folder.absolute(), code_version(), stop)
    entries = disk.entries if disk is not None else {}
    return {name: Memo(old=entries.get(name, {}), disk=disk) for name in names}


def _read(folder: Path, version: str, stop: Callable[[], bool] | None = None) -> _Disk | None:
    try:
        with (folder / FILE).open("rb") as opened:
            file = opened if stop is None else cast(IO[bytes], _Asking(opened, stop))
            header = pickle.load(file)
            if not _fits(header, version, None, 0) or type(header.get("parts")) is not int:
                return None
            leads = header.get("leads")
            if type(leads) is not list or len(leads) != header["parts"]:
                return None
            payload: dict[str, Any] = {}
            held: dict[str, list[Any]] = {}  # (see `_dump_part`)
            for lead in leads:  # each part a dict of memos (see `_parts`)
                part, holds = _load_part(file, None if lead is None else held[lead])
                payload.update(part)
                held.update(holds)
            size = os.fstat(opened.fileno()).st_size
    except Exception:  # a missing, truncated or foreign file is not worth a failed build
        return None  # (nor one whose loading was stopped: see `_Asking`)
    entries = {name: _entries(value) for name, value in payload.items()}
    ids, sizes = [header["id"]], [size]
    _follow(folder, version, entries, ids, sizes)
    return _Disk(folder, version, tuple(ids), tuple(sizes), entries)


def _follow(
    folder: Path,
    version: str,
    entries: dict[str, dict[str, Any]],
    ids: list[str],
    sizes: list[int],
    alone: bool = False,
) -> None:
    """Apply to `entries` each delta of the chain after the files `ids` names (its id and
    size appended to `ids` and `sizes`), until one is missing, or does not apply: it is
    stale, for another base, truncated or foreign (what came before is what an earlier
    build saved). `alone`: only the changes to the memo `_ALONE` (see `load_alone`)."""
    for seq in itertools.count(len(ids)):
        try:
            with (folder / DELTA.format(seq)).open("rb") as file:
                header = pickle.load(file)
                if not _fits(header, version, ids[-1], seq):
                    break
                changes = _alone(_Resolving(file, entries).load())  # (see `_save_delta`)
                if not alone:
                    changes.update(_Resolving(file, entries).load())
                changes = _checked(changes, entries)
                size = os.fstat(file.fileno()).st_size
        except Exception:  # missing (the end of the chain), truncated or foreign
            break
        _apply(entries, changes)
        ids.append(header["id"])
        sizes.append(size)


def load_alone(folder: Path, name: str) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """The memo `_ALONE` (`name`) read without the others (its part of the base, found by
    the base's trailer, and its changes in each delta, pickled first), and the ids of the
    files read. `load` gives the ids it read too (`Memo.disk`): the same ids, the same
    entries. (Not always the same files: a delta whose other changes cannot be read ends
    `load`'s chain, not this one's; another process may save between the two. The ids tell.)
    None where the base cannot be read so."""
    if name != _ALONE:
        raise ValueError(f"{name} is not pickled alone")
    version, folder = code_version(), folder.absolute()
    with no_collection():
        try:
            with (folder / FILE).open("rb") as file:
                header = pickle.load(file)
                if not _fits(header, version, None, 0):
                    return None
                file.seek(-_PLACE.size, os.SEEK_END)
                file.seek(_PLACE.unpack(file.read(_PLACE.size))[0])
                places = pickle.load(file)
                file.seek(places[name])
                part, _ = _load_part(file, None)
            entries = {name: _entries(part[name])}
        except Exception:  # (as `_read`: such a file is as good as none)
            return None
        ids = [header["id"]]
        _follow(folder, version, entries, ids, [], alone=True)
    return tuple(ids), entries[name]


def _alone(changes: Any) -> _Changes:
    """A delta's changes to the memo `_ALONE`, pickled on their own (ValueError if they are
    not that memo's)."""
    if not isinstance(changes, dict) or not changes.keys() <= {_ALONE}:
        raise ValueError(_ALONE)
    return changes


class _Stopped(Exception):
    pass


class _Asking:
    """The base's file, as its unpicklers read it (a frame of 64 KiB at a time), asking
    `stop` every few milliseconds whether to go on: loading the base takes seconds (2.2 s
    at 10,000 stories), and the build may find meanwhile that it has nothing to do (its
    inputs, listed on another core, are those of the last build: see `pipeline._Inputs`).
    Once `stop` says so, reading ends (`_Stopped`)."""

    def __init__(self, file: IO[bytes], stop: Callable[[], bool]) -> None:
        self.file = file
        self.stop = stop
        self.asked = time.perf_counter()

    def read(self, size: int = -1, /) -> bytes:
        self._ask()
        return self.file.read(size)

    def readinto(self, buffer: Any, /) -> int:
        self._ask()
        return self.file.readinto(buffer)  # type: ignore[attr-defined, no-any-return]

    def readline(self, size: int = -1, /) -> bytes:
        return self.file.readline(size)

    def peek(self, size: int = 0, /) -> bytes:
        """(What the unpicklers read a few bytes at a time from, outside frames: see
        `_prologue`.)"""
        return self.file.peek(size)  # type: ignore[attr-defined, no-any-return]

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def fileno(self) -> int:
        return self.file.fileno()

    def _ask(self) -> None:
        now = time.perf_counter()
        if now - self.asked >= _ASK_SECONDS:
            self.asked = now
            if self.stop():
                raise _Stopped


_ASK_SECONDS = 0.002


def _fits(header: Any, version: str, parent: str | None, seq: int) -> bool:
    """A file's header: this code's, in its place in the chain, after `parent`."""
    return (
        isinstance(header, dict)
        and header.get("version") == version
        and isinstance(header.get("id"), str)
        and header.get("parent") == parent
        and header.get("seq") == seq
    )


# A delta: per memo, None (the memo is gone) or its new or replaced entries, the keys of
# those removed, and, for entries that are dicts on both sides, their own (changed, removed).
_Changes = dict[str, Any]


def _checked(changes: Any, entries: dict[str, dict[str, Any]]) -> _Changes:
    """The delta, if it is well formed and applies to `entries` (else ValueError): checked
    before anything is applied, so that a bad delta leaves them as they were."""
    if not isinstance(changes, dict):
        raise ValueError("not a delta")
    for name, change in changes.items():
        if change is None:
            continue
        changed, removed, nested = change
        if not (isinstance(changed, dict) and isinstance(removed, list)):
            raise ValueError(name)
        if not isinstance(nested, dict):
            raise ValueError(name)
        set(removed)  # TypeError if a key could not be one
        memo = entries.get(name, {})
        for key, (inner_changed, inner_removed) in nested.items():
            if not isinstance(memo.get(key), dict):
                raise ValueError(key)
            if not (isinstance(inner_changed, dict) and isinstance(inner_removed, list)):
                raise ValueError(key)
            set(inner_removed)
    return changes


def _apply(entries: dict[str, dict[str, Any]], changes: _Changes) -> None:
    for name, change in changes.items():
        if change is None:
            entries.pop(name, None)
            continue
        changed, removed, nested = change
        memo = entries.setdefault(name, {})
        for key in removed:
            memo.pop(key, None)
        memo.update(changed)
        for key, (inner_changed, inner_removed) in nested.items():
            inner = memo[key]
            for inner_key in inner_removed:
                inner.pop(inner_key, None)
            inner.update(inner_changed)


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """Make objects that last as long as the build (what the cache loads, the makers' list)
    without the cyclic garbage collector, then exempt them from it.

    Unpickling makes millions of objects, and the collector, woken every few hundred
    allocations, would walk all of them again and again (0.8 s of 1 s at 1,000 stories).
    What the cache holds lives as long as the build; freezing it spares every later
    collection the walk too (objects are still freed when no longer referenced).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def carry(memos: dict[str, Memo], succeeded: bool) -> dict[str, Memo]:
    """Memos for the next build in this process: what this one used (all it knew, if it
    failed before using everything)."""
    return {
        name: Memo(old=memo.new if succeeded else {**memo.old, **memo.new}, disk=memo.disk)
        for name, memo in memos.items()
    }


# The memos whose entries the stages before rendering made: no later stage changes them.
EARLY = ("files", "parse", "markdown")


@dataclass(eq=False)
class _Begun:
    """A new base begun before the site is made (see `begin`): the temporary file, holding
    the header and the early memos' parts (or being written by `aside`, the process forked
    to write them); what they were (the very dicts, and their sizes); and the id and leads
    the header gave."""

    folder: Path
    version: str
    ident: str
    path: Path
    written: dict[str, tuple[dict[str, Any], int]]
    names: tuple[str, ...]
    aside: workers.Aside | None = None


# The base begun by the last `begin`, if its save is still to come.
_begun: _Begun | None = None


@atexit.register
def _at_exit() -> None:
    discard()  # (a build that failed after `begin`, its process ending without a save)


def begin(folder: Path, memos: dict[str, Memo], aside: bool = False) -> None:
    """Begin the base that `save` will write, if it will write one (the memos were not
    read from the folder: a cold build): the memos of `EARLY`, which later stages leave as
    they are, are pickled now, before the site is made. Their picklers' memory (a table of
    an entry per object, 190 MiB for the markdown memo at 10,000 stories) is then freed
    before the workers that render fork and the makers' traces come back, instead of on
    top of them all (the peak of a cold build). `save` adds the other memos, or, if the
    early memos changed meanwhile, discards the file and writes a base as ever.

    `aside`: pickled by a process forked to do it (`workers.aside`) while this one goes on
    to make the site, instead of before it: on another core, where there is one (7 s of a
    cold build at 10,000 stories, while nothing else ran). Its memory is its own, freed
    when it ends; `save` waits for it."""
    global _begun
    discard()
    if not memos or any(memo.disk is not None for memo in memos.values()):
        return
    if not all(name in memos for name in EARLY):
        return
    folder.mkdir(parents=True, exist_ok=True)
    folder, version = folder.absolute(), code_version()
    new = {name: memos[name].new for name in memos}
    parts = _parts(new, EARLY)
    early = list(itertools.takewhile(lambda part: next(iter(part[0])) in EARLY, parts))
    ident = secrets.token_hex(16)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    path = Path(temporary)
    written = {name: (new[name], len(new[name])) for part, _ in early for name in part}

    def write() -> None:
        with os.fdopen(handle, "wb") as file:
            _header(file, version, ident, parts)
            held: dict[str, list[Any]] = {}
            for part, lead in early:
                held.update(_dump_part(file, part, None if lead is None else held[lead]))

    try:
        forked = workers.aside(write) if aside else None
        if forked is not None:
            os.close(handle)  # (the forked process writes with its own)
        else:
            write()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _begun = _Begun(folder, version, ident, path, written, tuple(new), forked)


def release(memos: dict[str, Memo]) -> list[dict[str, Any]]:
    """Let go of the early memos' entries, once a base is begun for them (see `begin`) and
    no build follows in this process to start from them: each memo's `new` is an empty
    stand-in from now on, which `save` takes for them. What is let go (the entries) is
    returned. The workers that render then fork from a smaller process (a worker counts
    every page of it as its own). Nothing, if no base was begun for these memos."""
    begun = _begun
    if begun is None or begun.names != tuple(memos):
        return []
    let_go: list[dict[str, Any]] = []
    for name, (entries, size) in begun.written.items():
        if memos[name].new is not entries or len(entries) != size:
            return let_go  # (changed since: `save` writes a base as ever)
        memos[name].new = stand_in = _Released()
        begun.written[name] = (stand_in, 0)
        let_go.append(entries)
    return let_go


class _Released(dict[str, Any]):
    """The entries of an early memo that `release` let go of, written already."""


def discard() -> None:
    """Forget the base begun, if any, and remove its file (the build failed, or another
    began)."""
    global _begun
    begun, _begun = _begun, None
    if begun is not None:
        _remove(begun)


def _remove(begun: _Begun) -> None:
    if begun.aside is not None:
        begun.aside.stop()
    begun.path.unlink(missing_ok=True)


def _finish(folder: Path, version: str, new: dict[str, dict[str, Any]]) -> _Disk | None:
    """The base begun, finished with the memos not written yet, if it is for these memos
    (the early ones the very dicts begun with, of the same sizes); None, if not (it is
    discarded)."""
    global _begun
    begun, _begun = _begun, None
    if begun is None:
        return None
    same = begun.folder == folder and begun.version == version and begun.names == tuple(new)
    same = same and all(
        new[name] is entries and len(entries) == size
        for name, (entries, size) in begun.written.items()
    )
    if not same or len(begun.written) != len(EARLY):
        _remove(begun)
        return None
    if begun.aside is not None and not begun.aside.wait():  # (killed, or it failed)
        _remove(begun)
        return None
    try:
        with begun.path.open("ab") as file:
            places = {}
            for part, lead in _parts(new, EARLY):
                if next(iter(part)) not in EARLY:  # (a memo they hold objects of: early)
                    places.update(dict.fromkeys(part, file.tell()))
                    _dump_part(file, part, None if lead is None else _held_items(new[lead]))
            _trailer(file, places)
            size = file.tell()
        os.replace(begun.path, folder / FILE)
    except BaseException:
        begun.path.unlink(missing_ok=True)
        raise
    _remove_deltas(folder, lambda n: True)
    return _Disk(folder, version, (begun.ident,), (size,), new)


def save(folder: Path, memos: dict[str, Memo], state: Any = None, details: Any = None) -> None:
    """Write the entries this build used, and its `state` with its `details`, each by a
    temporary file renamed into place (the state last: it vouches for the cache written
    before it).

    Only how they differ from what the folder holds, when the memos were read from it and
    it holds those files still; otherwise (or when the deltas have grown) a new base.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(".tmp-*"):  # from a killed build (not one still running)
        if time.time() - leftover.stat().st_mtime > _LEFTOVER_SECONDS:
            leftover.unlink(missing_ok=True)
    (folder / STATE).unlink(missing_ok=True)
    version = code_version()
    new = {name: memo.new for name, memo in memos.items()}
    with _locked(folder):  # (against a base written aside that would replace the files)
        disk = _held(folder.absolute(), memos, version)
        saved = _save_delta(disk, new) if disk is not None else None
        if saved is None and disk is None:
            saved = _finish(folder.absolute(), version, new)
        discard()  # (a base begun for other memos)
        if saved is None and any(type(entries) is _Released for entries in new.values()):
            return  # (a base without the entries let go would be wrong; none costs only time)
        if saved is None:
            saved = _save_base(folder.absolute(), version, new)
    for memo in memos.values():
        memo.disk = saved
    if len(saved.ids) > _MAX_DELTAS + 1:  # (the base, and more than that many deltas)
        _compact_aside(saved)
    if state is not None:
        _write(folder / STATE, _dumper({"version": version, "state": state}, details))


def save_state(folder: Path, state: Any, details: Any = None) -> None:
    """Write the state alone: for a build that found the last one's outcome still holds
    (the cache stays as that build left it, and the state still vouches for it)."""
    _write(folder / STATE, _dumper({"version": code_version(), "state": state}, details))


def _held(folder: Path, memos: dict[str, Memo], version: str) -> _Disk | None:
    """What the folder holds, as the memos know it: None if they do not all know the same,
    or the folder's files are no longer those (another process saved since, or a
    delta that could not be read when loading is there)."""
    disk = next(iter(memos.values())).disk if memos else None
    if disk is None or disk.folder != folder or disk.version != version:
        return None
    if any(memo.disk is not disk for memo in memos.values()):
        return None
    if _chain(folder, len(disk.ids)) == list(disk.ids):
        return disk
    return _compacted(disk)


def _chain(folder: Path, count: int) -> list[Any]:
    """The ids in the headers of the folder's base and its first `count - 1` deltas (None
    for a file that cannot be read)."""
    ids = []
    for seq in range(count):
        try:
            with (folder / (DELTA.format(seq) if seq else FILE)).open("rb") as file:
                header = pickle.load(file)
        except Exception:
            header = None
        ids.append(header.get("id") if isinstance(header, dict) else None)
    return ids


def _compacted(disk: _Disk) -> _Disk | None:
    """The folder's files as `disk` would be, if a base written aside has taken the place
    of the first of the files `disk` names (see `_compact_aside`): the same entries, in that
    base and the deltas after it. None if they are anything else."""
    try:
        with (disk.folder / FILE).open("rb") as file:
            header = pickle.load(file)
            size = os.fstat(file.fileno()).st_size
    except Exception:
        return None
    if not _fits(header, disk.version, None, 0):
        return None
    stands_for = header.get("stands for")
    if type(stands_for) is not list or not stands_for:
        return None
    if list(disk.ids[: len(stands_for)]) != stands_for:
        return None
    later = disk.ids[len(stands_for) :]
    if _chain(disk.folder, len(later) + 2) != [header["id"], *later, None]:
        return None  # (another build's save since: not ours)
    sizes = (size, *disk.sizes[len(stands_for) :])
    return _Disk(disk.folder, disk.version, (header["id"], *later), sizes, disk.entries)


def _save_delta(disk: _Disk, new: dict[str, dict[str, Any]]) -> _Disk | None:
    """Write how `new` differs from the disk's entries as the next delta; None (nothing
    written) when a new base is due."""
    seq = len(disk.ids)
    if seq > _MAX_DELTAS and (seq > 2 * _MAX_DELTAS or not _can_compact_aside()):
        return None  # (a new base here: none was written aside, see `_compact_aside`)
    changes = _diff(disk.entries, new)
    if changes is None:  # much changed: no need to measure the delta
        return None
    ident = secrets.token_hex(16)
    header = {"version": disk.version, "id": ident, "parent": disk.ids[-1], "seq": seq}
    buffer = _Bounded(int(disk.sizes[0] * _DELTA_SHARE) - sum(disk.sizes[1:]))
    try:
        pickle.dump(header, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        alone = {_ALONE: changes.pop(_ALONE)} if _ALONE in changes else {}  # (see `_ALONE`)
        entries = {_ALONE: disk.entries.get(_ALONE, {})}
        _Referring(buffer, *_places(entries, alone)).dump(alone)
        _Referring(buffer, *_places(disk.entries, changes)).dump(changes)
    except _TooBig:
        return None
    data = buffer.getvalue()
    _write_bytes(disk.folder / DELTA.format(seq), data)
    # Deltas after this one (of a chain a killed save or a failed load left) apply to
    # other files than this one: never read, they only take room.
    _remove_deltas(disk.folder, lambda n: n > seq)
    return _Disk(disk.folder, disk.version, (*disk.ids, ident), (*disk.sizes, len(data)), new)


_Places = dict[int, tuple[Any, ...]]
_Tuples = dict[Any, tuple[Any, ...]]  # a long str, or a tuple of atoms -> its place
# A new dict, list or tuple (by id) -> how it differs from the one in its place before:
# ("d", place, changed items, removed keys, ((index, added key)...)) or
# ("s", place, ((index, item)...)).
_Patches = dict[int, tuple[Any, ...]]
# An item of a long tuple or list (by id) -> the place of the tuple or list, and its index.
_Members = dict[int, tuple[tuple[Any, ...], int]]
_Found = tuple[_Places, _Tuples, _Patches, _Members]


def _places(entries: dict[str, dict[str, Any]], changes: _Changes) -> _Found:
    """Where the objects that the entries a delta replaces held are (by id), and their
    long str and tuples of str, numbers... (by value: a worker process sends copies): a new
    entry made of many of its old one's parts (a page's trace, with what it read and the
    search index's entry of every record) is written as references to them, and loaded as
    those very objects. And the new entries' long dicts, lists and tuples that are, but for
    a few items, those in their place in the old entry (the search index's trace, after
    one story changed): written as those few items."""
    places: _Places = {}
    tuples: _Tuples = {}
    patches: _Patches = {}
    members: _Members = {}
    patched: set[int] = set()  # the ids of the old ones the patches are of
    found = places, tuples, members
    for name, change in changes.items():
        if change is None:
            continue
        changed, _, nested = change
        memo = entries.get(name, {})
        if len(memo) < _LONG_PATCH:
            # A small memo's entries that stay are places too: the new entries may refer
            # to them (the traces to the table of keys they are packed with: see
            # `rebuild.Trace`), and are loaded with those very objects.
            for key, value in memo.items():
                if key not in changed and key not in nested and type(value) not in _SMALL:
                    places.setdefault(id(value), ("e", name, key))
        for key, value in changed.items():
            if key in memo:
                place: tuple[Any, ...] = ("e", name, key)
                was = _peeked(memo[key], key)  # (shelved: as read, if it was)
                _pair(value, was, place, patches, _DEPTH, patched)
                _index(was, place, found, _DEPTH, patched)
        for key, (inner_changed, _) in nested.items():
            inner = memo[key]
            for inner_key, value in inner_changed.items():
                if inner_key in inner:
                    place = ("n", name, key, inner_key)
                    _pair(value, inner[inner_key], place, patches, _DEPTH, patched)
                    _index(inner[inner_key], place, found, _DEPTH, patched)
    return places, tuples, patches, members


def _pair(
    new: Any, old: Any, place: tuple[Any, ...], patches: _Patches, depth: int, patched: set[int]
) -> None:
    """Find the parts of `new` that are patches of the part in the same place of `old`."""
    kind = type(new)
    if new is old or kind is not type(old) or kind in _SMALL or kind is str or kind is bytes:
        return
    if kind is dict:
        if len(new) >= _LONG_PATCH and (patch := _dict_patch(old, new)) is not None:
            patches[id(new)] = ("d", place, *patch)
            patched.add(id(old))
        elif depth and len(new) < _LONG_PATCH:
            for key, item in new.items():
                if key in old:
                    _pair(item, old[key], (*place, ("k", key)), patches, depth - 1, patched)
    elif kind is tuple or kind is list or isinstance(new, tuple):
        # (a tuple of another type, a compact record such as a trace, is looked into as a
        # tuple is, but never patched as a whole: a patch makes a tuple or a list)
        if len(new) != len(old):
            return
        if len(new) >= _LONG_PATCH:
            if kind is not tuple and kind is not list:
                return
            if (items := _items_patch(old, new)) is not None:
                patches[id(new)] = ("s", place, items)
                patched.add(id(old))
        elif depth:
            for index, (item, was) in enumerate(zip(new, old, strict=True)):
                _pair(item, was, (*place, index), patches, depth - 1, patched)
    elif depth and hasattr(new, "__dict__") and hasattr(old, "__dict__"):
        before = vars(old)
        for attribute, item in vars(new).items():
            if attribute in before:
                _pair(
                    item, before[attribute], (*place, ("a", attribute)), patches, depth - 1, patched
                )


def _dict_patch(
    old: dict[Any, Any], new: dict[Any, Any]
) -> tuple[dict[Any, Any], list[Any], tuple[tuple[int, Any], ...]] | None:
    """The items of `new` that are not those of `old`, the keys it lacks, and where the
    keys it adds come (by index, in order); None if they are many, or the keys both hold
    do not come in the same order. (Told in C, but for the keys added: the uses of the
    renderings that a link keeps, 19,000 at 2,000 stories, one replaced by another.)"""
    limit = len(new) * _DELTA_SHARE
    changed, removed = _diff_dict(old, new)
    if len(changed) + len(removed) > limit:
        return None
    if not removed and len(new) == len(old):  # no key added or removed
        return (changed, removed, ()) if list(new) == list(old) else None
    keys = list(new)
    held = list(map(old.__contains__, keys))
    kept = itertools.filterfalse(set(removed).__contains__, old)
    if list(itertools.compress(keys, held)) != list(kept):
        return None  # (the keys both hold come in another order)
    added = itertools.compress(itertools.count(), map(operator.not_, held))
    return changed, removed, tuple((index, keys[index]) for index in added)


def _items_patch(old: Any, new: Any) -> tuple[tuple[int, Any], ...] | None:
    """The items of `new` (of the same length as `old`) not the same as those of `old`, by
    index; None if they are many.

    Most are the very objects of `old` (a list copied from the old one, then a few items
    replaced: the search index's entries, 62,500 at 10,000 stories): those that are not are
    found in C, then looked at one by one (an equal str, number... is the same)."""
    limit = len(new) * _DELTA_SHARE
    moved = itertools.compress(itertools.count(), map(operator.is_not, new, old))
    differ = list(itertools.islice(moved, int(limit) + 1))
    if len(differ) > limit and {*map(type, new), *map(type, old)} == {str}:
        # All str (the keys of the search index's trace, 187,000 at 10,000 stories, not the
        # very objects loaded, but equal): the same when equal, told apart in C.
        found = itertools.compress(itertools.count(), map(operator.ne, new, old))
        changed = list(itertools.islice(found, int(limit) + 1))
        return tuple((index, new[index]) for index in changed) if len(changed) <= limit else None
    if len(differ) > limit:
        differ = list(itertools.compress(itertools.count(), map(operator.is_not, new, old)))
    items = []
    for index in differ:
        item, was = new[index], old[index]
        if not _same_atom(item, was):
            items.append((index, item))
            if len(items) > limit:
                return None
    return tuple(items)


def _index(
    value: Any,
    place: tuple[Any, ...],
    found: tuple[_Places, _Tuples, _Members],
    depth: int,
    patched: set[int],
) -> None:
    places, tuples, members = found
    if isinstance(value, str | bytes):
        if len(value) >= _LONG:  # shorter ones are written in fewer bytes than a reference
            places.setdefault(id(value), place)
            if type(value) in (str, bytes):  # equal is as good as the same (from a worker)
                tuples.setdefault(value, place)
        return
    if isinstance(value, _ATOMS) or id(value) in places:
        return
    places[id(value)] = place
    if id(value) in patched:
        # A long dict, list or tuple that a new one is a patch of: the patch takes over its
        # items, which are not looked at one by one (the search index's trace: 190,000).
        return
    # The types of a long tuple's or list's items, told in C (the ids of every record that
    # the parse memo's Corpus keeps: 62,500 at 10,000 stories).
    long = isinstance(value, tuple | list) and len(value) >= _LONG_TUPLE
    kinds = set(map(type, value)) if long else None
    if kinds is not None and type(value) is tuple and _ATOM_TYPES.issuperset(kinds):
        tuples.setdefault(value, place)  # equal is as good as the same
    if depth == 0:
        return
    if isinstance(value, tuple | list):
        if kinds is not None and len(value) >= _LONG_PATCH:
            if depth == 1 and not any(issubclass(kind, _BY_VALUE) for kind in kinds):
                # Items that would only be noted by id, not looked into (the records of
                # each kind the parse memo's Corpus keeps): noted at once, their places
                # made only for those the delta refers to.
                at = zip(itertools.repeat(place), range(len(value)))
                members.update(zip(map(id, value), at, strict=False))  # (at: as long as value)
                return
            if kinds == {str}:  # (ids: only the long ones are looked at, found in C)
                for index in itertools.compress(
                    itertools.count(), map(_LONG.__le__, map(len, value))
                ):
                    _index(value[index], (*place, index), found, depth - 1, patched)
                return
        for index, item in enumerate(value):
            # Short str and numbers (most items of the long lists) are never referred to.
            kind = type(item)
            if (kind is str and len(item) < _LONG) or kind in _SMALL:
                continue
            _index(item, (*place, index), found, depth - 1, patched)
    elif isinstance(value, dict):
        for key, item in value.items():
            _index(item, (*place, ("k", key)), found, depth - 1, patched)
    elif hasattr(value, "__dict__"):
        for attribute, item in vars(value).items():
            _index(item, (*place, ("a", attribute)), found, depth - 1, patched)


# The items `_index` notes by value, or never refers to: a tuple or list of none of these is
# noted item by item by id alone.
_BY_VALUE = (str, bytes, tuple, int, float, type(None))
_ATOM_TYPES = frozenset(_ATOMS)


class _Referring(pickle.Pickler):
    """Pickles the objects `places` knows, and long str and tuples equal to those `tuples`
    knows, as references to their place."""

    def __init__(
        self,
        file: IO[bytes],
        places: _Places,
        tuples: _Tuples,
        patches: _Patches,
        members: _Members,
    ) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.places = places
        self.tuples = tuples
        self.patches = patches
        self.members = members

    def persistent_id(self, obj: Any) -> Any:
        place = self.places.get(id(obj))
        if place is None and self.patches:
            # The same patch object each time: loaded once, as one object (see _Resolving).
            place = self.patches.get(id(obj))
        if place is None and (member := self.members.get(id(obj))) is not None:
            place = (*member[0], member[1])
        if place is None and self.tuples:
            kind = type(obj)
            if kind is tuple and len(obj) >= _LONG_TUPLE:
                with contextlib.suppress(TypeError):  # unhashable: holds no tuple of atoms
                    place = self.tuples.get(obj)
            elif (kind is str or kind is bytes) and len(obj) >= _LONG:
                place = self.tuples.get(obj)
        return place


class _Resolving(pickle.Unpickler):
    """Unpickles references to places as the objects there, in the entries before the delta."""

    def __init__(self, file: IO[bytes], entries: dict[str, dict[str, Any]]) -> None:
        super().__init__(file)
        self.entries = entries
        self.patched: dict[int, tuple[Any, Any]] = {}  # id of a patch -> (it, what it made)

    def persistent_load(self, pid: Any) -> Any:
        if pid[0] == "d" or pid[0] == "s":
            made = self.patched.get(id(pid))
            if made is None:
                made = self.patched[id(pid)] = (pid, _patched(pid, self._at(pid[1])))
            return made[1]
        return self._at(pid)

    def _at(self, pid: Any) -> Any:
        if pid[0] == "e":
            # (an entry of the base that was shelved: recalled now, see `Shelving`)
            value, steps = recall(self.entries[pid[1]], pid[2], _MISSING), pid[3:]
            if value is _MISSING:
                raise KeyError(pid[2])
        else:
            value, steps = self.entries[pid[1]][pid[2]][pid[3]], pid[4:]
        for step in steps:
            if type(step) is int:
                value = value[step]
            elif step[0] == "k":
                value = value[step[1]]
            else:
                value = getattr(value, step[1])
        return value


def _patched(patch: Any, old: Any) -> Any:
    """A copy of `old` with a patch (see `_Patches`) applied; old itself is left as it was."""
    if patch[0] == "d":
        _, _, changed, removed, added = patch
        if type(old) is not dict or type(changed) is not dict:
            raise ValueError("not a dict")
        gone = set(removed)
        if not gone <= old.keys() or any(key in old or key not in changed for _, key in added):
            raise KeyError("a key removed that is not there, or added that is")
        kept = len(old) - len(gone)
        if all(index == kept + n for n, (index, _) in enumerate(added)):
            # None added, or each after the keys kept (the uses of the renderings, after a
            # story's edit: 19,000 keys at 2,000 stories, a copy in 0.07 ms, not the dict
            # made again item by item in 8 ms)
            value = dict(old)
            for key in removed:
                del value[key]
            value.update((key, changed[key]) for _, key in added)
            value.update(changed)
            return value
        keys = list(itertools.filterfalse(gone.__contains__, old))
        for index, key in added:  # in order: each in its place among those before it
            if not 0 <= index <= len(keys):
                raise IndexError(index)
            keys.insert(index, key)
        value = dict.fromkeys(keys)  # (the keys in their order, then their values: in C)
        value.update(old)
        for key in removed:
            del value[key]
        value.update(changed)
        return value
    if type(old) is not tuple and type(old) is not list:
        raise ValueError("not a sequence")
    items = list(old)
    for index, item in patch[2]:
        if not 0 <= index < len(items):
            raise IndexError(index)
        items[index] = item
    return tuple(items) if type(old) is tuple else items


class _TooBig(Exception):
    pass


class _Bounded(io.BytesIO):
    """Bytes in memory, up to `limit` (more: _TooBig, and the pickling stops there)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any, /) -> int:
        if self.tell() + len(data) > self.limit:
            raise _TooBig
        return super().write(data)


def _save_base(folder: Path, version: str, new: dict[str, dict[str, Any]]) -> _Disk:
    ident = secrets.token_hex(16)
    size = _write(folder / FILE, lambda file: _dump_base(file, version, ident, new))
    # The deltas name the base they apply to: left by a killed save, they are not read.
    _remove_deltas(folder, lambda n: True)
    return _Disk(folder, version, (ident,), (size,), new)


def _dump_base(
    file: IO[bytes],
    version: str,
    ident: str,
    new: dict[str, dict[str, Any]],
    stands_for: tuple[str, ...] = (),
) -> None:
    parts = _parts(new)
    _header(file, version, ident, parts, stands_for)
    places = {}
    held: dict[str, list[Any]] = {}
    for part, lead in parts:
        places.update(dict.fromkeys(part, file.tell()))
        held.update(_dump_part(file, part, None if lead is None else held[lead]))
    _trailer(file, places)


def _compact_aside(disk: _Disk) -> None:
    """Have a process of its own write a new base of the entries the files `disk` names
    give, in their place, while this one ends (or serves on): once there are more than
    `_MAX_DELTAS` deltas (each makes every later load longer), and no other such process
    is at it.

    Written here, that base (all of a memo's entries, 560 MB at 10,000 stories) would make
    the build that found the deltas too many take 8 s more than the others, one in
    `_MAX_DELTAS` + 1. The new base says which files it stands for (their ids), and replaces
    them only if they are still all the folder holds (no build saved since: under the
    folder's lock, see `_locked`). A build that loaded those files takes the new base for
    them at its save (see `_compacted`), and writes its delta after it. Where that process
    cannot be started, or fails, the deltas go on, up to twice as many: then a build writes
    a base itself, as ever."""
    if not _can_compact_aside():
        return
    try:
        lock = os.open(disk.folder / COMPACTING, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        try:  # (the process started holds it until it ends: the very open file's lock)
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # (another is at it, or this file system has no locks)
        workers.detached(lambda: _compact(disk))
    finally:
        os.close(lock)


def _can_compact_aside() -> bool:
    """Whether this system can have a base written aside: it forks, and it locks files."""
    return fcntl is not None and workers.can_fork()


def _compact(disk: _Disk) -> None:
    """Write the base of `_compact_aside`, and put it in place of the files it stands for,
    if the folder holds them still: the deltas saved since (after the last of them) then
    follow it, as they were, but numbered from 1 and the first's parent the new base."""
    folder = disk.folder
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            ident = secrets.token_hex(16)
            _dump_base(file, disk.version, ident, disk.entries, disk.ids)
        with _locked(folder):
            if _chain(folder, len(disk.ids)) != list(disk.ids):
                return  # (another base since)
            later = _renumbered(folder, disk, ident)
            os.replace(temporary, folder / FILE)
            _remove_deltas(folder, lambda n: True)
            for seq, data in enumerate(later, 1):
                _write_bytes(folder / DELTA.format(seq), data)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _renumbered(folder: Path, disk: _Disk, base: str) -> list[bytes]:
    """The deltas saved after the files `disk` names, as they follow the base `base` that
    stands for those: numbered from 1, the first's parent that base (their ids, and what
    they hold, as they were)."""
    later: list[bytes] = []
    parent = disk.ids[-1]
    for seq in itertools.count(len(disk.ids)):
        try:
            with (folder / DELTA.format(seq)).open("rb") as file:
                header = pickle.load(file)
                rest = file.read()
        except Exception:
            break
        if not _fits(header, disk.version, parent, seq):
            break
        parent = header["id"]
        header.update(parent=base if not later else header["parent"], seq=len(later) + 1)
        later.append(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL) + rest)
    return later


def wait_compacted(folder: Path) -> None:
    """Return once no process writes a new base aside in `folder` (see `_compact_aside`)."""
    if fcntl is None:
        return
    try:
        lock = os.open(folder / COMPACTING, os.O_RDWR)
    except OSError:
        return  # (none was ever started)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
    finally:
        os.close(lock)


@contextlib.contextmanager
def _locked(folder: Path, shared: bool = False) -> Iterator[None]:
    """The cache folder locked (the lock of the folder itself) while its files are replaced
    or added to, by a save or by a base written aside (see `_compact_aside`); `shared`,
    while they are read (a load: the base it began with, then the deltas after it)."""
    if fcntl is None:
        yield
        return
    try:
        lock = os.open(folder, os.O_RDONLY)
    except OSError:
        yield  # (none to take: what follows fails as it would have)
        return
    try:
        with contextlib.suppress(OSError):  # (a file system without locks: as before them)
            fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def _header(
    file: IO[bytes], version: str, ident: str, parts: list[_Part], stands_for: tuple[str, ...] = ()
) -> None:
    leads = [lead for _, lead in parts]  # (see `_read`)
    header: dict[str, Any] = {
        "version": version,
        "id": ident,
        "parent": None,
        "seq": 0,
        "parts": len(parts),
        "leads": leads,
    }
    if stands_for:  # (see `_compacted`)
        header["stands for"] = list(stands_for)
    pickle.dump(header, file, protocol=pickle.HIGHEST_PROTOCOL)


def _trailer(file: IO[bytes], places: dict[str, int]) -> None:
    """After the parts: where the part of the memo `_ALONE` begins (a table, empty if it has
    none), then where that table begins, in 8 bytes: a process that needs that memo alone
    reads its part, and no other (see `load_alone`)."""
    start = file.tell()
    alone = {name: place for name, place in places.items() if name == _ALONE}
    pickle.dump(alone, file, protocol=pickle.HIGHEST_PROTOCOL)
    file.write(_PLACE.pack(start))


_PLACE = struct.Struct("<Q")


_Part = tuple[dict[str, dict[str, Any]], str | None]


def _parts(new: dict[str, dict[str, Any]], first: tuple[str, ...] = ()) -> list[_Part]:
    """The memos, each on its own, with the name of the memo whose objects it holds (see
    `_WITH`), which comes before it; each part is pickled by its own pickler, whose memory
    of what it wrote (an entry per object, millions, in a table up to 3 times as large) is
    freed before the next part's. (The parse and markdown memos pickled together took a
    table of 16 million entries at 10,000 stories: 384 MiB at its peak, as it grew.)
    The memos named `first` come first (see `begin`), those they hold the objects of
    being among them."""
    alone = [name for name in new if _WITH.get(name) not in new]
    parts = [({name: new[name]}, None) for name in alone] + [
        ({name: new[name]}, _WITH[name]) for name in new if name not in alone
    ]
    return sorted(parts, key=lambda part: next(iter(part[0])) not in first)


def _held_items(entries: dict[str, Any]) -> list[Any]:
    """The items of the list that starts each of a memo's entries, in turn (the parse memo's
    records: an entry is (records, problems)), whose objects another memo's entries may
    hold (see `_WITH`, `_with_ids`). (Gathered in Python, a list per entry: 62,505 records
    at 10,000 stories. A base keeps them: see `_dump_part`.)"""
    return list(
        itertools.chain.from_iterable(
            [value[0] for value in entries.values() if _starts_with_list(value)]
        )
    )


def _with_ids(items: list[Any]) -> list[Any]:
    """The objects that another memo's entries may hold of those of the memo whose `items`
    they are (see `_held_items`): each item followed by its `id` if it is a str, each object
    once, where it first comes. The memo's entries as saved and as loaded give them in the
    same order. (Told in C.)"""
    idents = list(map(getattr, items, itertools.repeat("id"), itertools.repeat(None)))
    if set(map(type, idents)) <= {str}:
        both = list(itertools.chain.from_iterable(zip(items, idents, strict=True)))
    else:
        both = [
            value
            for item, ident in zip(items, idents, strict=True)
            for value in ((item, ident) if type(ident) is str else (item,))
        ]
    # Each once, where it first comes (the same id, the same object: all are alive).
    return list(dict(zip(map(id, both), both, strict=True)).values())


def _starts_with_list(value: Any) -> bool:
    return type(value) is tuple and bool(value) and type(value[0]) is list


# The prologue of a part that holds another memo's objects (see `_dump_part`): the persistent
# id 0, which the loader gives as the function that takes n to the n-th of those objects
# (BININT1 0, BINPERSID, MEMOIZE, POP), then for each n, a call of it (BINGET 0, BININT n,
# TUPLE1, REDUCE, MEMOIZE, POP), and BININT count and STOP. It unpickles as the count, and
# leaves the unpickler knowing the objects 0, 1... at the places 1, 2... in its memory:
# without a call to Python code per object (but the one persistent id).
_PRIME = b"h\x00J%s\x85R\x940"
_INDEX = struct.Struct("<i")


def _prologue(count: int) -> bytes:
    primes = b"".join(map(_PRIME.__mod__, map(_INDEX.pack, range(count))))
    return b"\x80\x05K\x00Q\x940" + primes + b"J" + _INDEX.pack(count) + b"."


def _dump_part(
    file: IO[bytes], part: dict[str, Any], held: list[Any] | None
) -> dict[str, list[Any]]:
    """Pickle a part. Given the objects it holds of another memo's (`held`: see `_parts`),
    those objects are named first, in a prologue that puts them in the loader's memory (see
    `_PRIME`), and the part's pickler starts knowing them: it writes each as a reference to
    that memory, without the Python call per object that a `persistent_id` would cost.

    A memo whose objects another holds is pickled with the items they are found from
    (`_held_items`, under `_HELD`), which are returned, by its name: its loader gets them as
    they were listed (as references to what it loaded), without looking into each entry
    again (62,505 records at 10,000 stories, gathered in Python: 0.06 s of a one-story
    rebuild). Their ids are added as the loaded records have them (see `_with_ids`)."""
    pickler = pickle.Pickler(file, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = reducers()
    if held is not None:
        held = _with_ids(held)
        file.write(_prologue(len(held)))
        # (the place 0 is the function's: the list stands for it, held by the memo)
        pickler.memo = {id(item): (index, item) for index, item in enumerate([held, *held])}
    holds = {name: _held_items(part[name]) for name in part if name in _LEADS}
    shelves = {name: _shelf(part[name], SHELVES[name], held) for name in part if name in SHELVES}
    eager = {name: shelf.eager for name, shelf in shelves.items()}
    marks: dict[str, Any] = {_HELD: holds} if holds else {}
    if any(shelf.chunks for shelf in shelves.values()):
        marks[_SHELF] = {name: (s.shared, s.chunks) for name, s in shelves.items() if s.chunks}
    pickler.dump({**part, **eager, **marks})
    for shelf in shelves.values():
        shelf.write(file)
    return holds


def _load_part(
    file: IO[bytes], held: list[Any] | None
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Unpickle a part (see `_dump_part`), given the items of another memo's that it holds
    objects of, as loaded; and the items of its memos whose objects others hold, by name."""
    if held is None:
        part = pickle.load(file)
    else:
        held = _with_ids(held)
        unpickler = _Primed(file, held)
        if unpickler.load() != len(held):
            raise ValueError("another memo's objects")
        part = unpickler.load()
    if not isinstance(part, dict):
        raise ValueError("not a part")
    holds = part.pop(_HELD, {})
    if not isinstance(holds, dict):
        raise ValueError("not a part")
    shelved = part.pop(_SHELF, {})
    if not isinstance(shelved, dict) or not shelved.keys() <= part.keys():
        raise ValueError("not a part")
    for name, (shared, chunks) in shelved.items():
        part[name].update(_Shelf.after(file, shared, chunks).stubs())
    return part, holds


# The memos whose objects another holds (see `_WITH`), and the key their part pickles those
# objects under (see `_dump_part`), which no memo has.
_LEADS = frozenset(_WITH.values())
_HELD = "\0held"
# The key a part pickles what it shelved under, by memo (see `Shelving`).
_SHELF = "\0shelf"


class _Primed(pickle.Unpickler):
    """Unpickles the persistent id 0 as the function that takes n to the n-th of the
    objects given (for the prologue: see `_PRIME`)."""

    def __init__(self, file: IO[bytes], held: list[Any]) -> None:
        super().__init__(file)
        self.held = held

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not int or pid != 0:
            raise pickle.UnpicklingError("not a known object")
        return self.held.__getitem__


@dataclass(frozen=True)
class Shelving:
    """How a base keeps a memo's many entries of which a build looks up few (the markdown
    memo's visits and renderings: 158,000 of its entries at 10,000 stories, two thirds of
    its load, where one story's edit looks up a handful): shelved, in chunks after the
    memo's part, each read when one of its entries is first recalled (see `recall`). The
    memo as loaded holds a stand-in per chunk under each of its keys (see `_Shelved`).

    `shelved`: whether the entry of a key is shelved. `shared`: objects, found in all the
    memo's entries, that shelved ones hold, and other entries or other chunks too (the HTML
    and edges of the visits that the link stage gathered; the questions the visits asked,
    and their answers): the part keeps them, a chunk refers to them, and loads them as
    those very objects (as it does the objects of another memo that the part holds, see
    `_WITH`). Any other object that two chunks share, each loads a copy of."""

    shelved: Callable[[str], bool]
    shared: Callable[[dict[str, Any]], list[Any]]


# The memos a base shelves entries of (see `Shelving`), by name: registered by the stage
# whose entries they are. A memo with fewer entries to shelve than `_SHELF_MIN` is pickled
# whole; the others, `_SHELF_CHUNK` entries a chunk.
SHELVES: dict[str, Shelving] = {}
_SHELF_MIN = 4096
_SHELF_CHUNK = 256


def recall(entries: dict[str, Any], key: str, default: Any = None) -> Any:
    """The memo's entry, as `entries.get` gives it, but read from the base if it was
    shelved (see `Shelving`): then every entry of its chunk takes its place in `entries`
    (those that cannot be read are dropped)."""
    value = entries.get(key, default)
    if type(value) is _Shelved:
        value = value.take(entries).get(key, default)
    return value


def recall_all(entries: dict[str, Any]) -> None:
    """Every shelved entry of the memo read from the base, in place (see `recall`): before
    a stage looks at all of them."""
    stubs = {id(value): value for value in entries.values() if type(value) is _Shelved}
    for stub in stubs.values():
        stub.take(entries)


class _Shelved:
    """The stand-in of each entry of a chunk of a shelved memo, until it is recalled."""

    __slots__ = ("index", "shelf")

    def __init__(self, shelf: _Shelf, index: int) -> None:
        self.shelf = shelf
        self.index = index

    def take(self, entries: dict[str, Any]) -> dict[str, Any]:
        """The chunk's entries (none, if it cannot be read), each put in its place in
        `entries` where this stands for it."""
        chunk = self.shelf.chunk(self.index)
        for key in self.shelf.keys[self.index]:
            if entries.get(key) is self:
                if key in chunk:
                    entries[key] = chunk[key]
                else:
                    del entries[key]
        return chunk

    def peek(self, key: str) -> Any:
        """The entry of `key`, if its chunk was read; else this."""
        chunk = self.shelf.chunks[self.index]
        return chunk[key] if type(chunk) is dict and key in chunk else self

    def __reduce__(self) -> Any:
        raise TypeError("a shelved entry is never pickled: it is recalled first")


class _Shelf:
    """A base's shelved entries of a memo: their chunks' places in the base (read by an
    open descriptor of its own: another save may replace the file, and processes forked
    since read at their own place), the objects the chunks refer to (see `Shelving`), and
    the chunks read so far."""

    def __init__(
        self, fd: int, places: list[tuple[int, int]], shared: list[Any], keys: list[list[str]]
    ) -> None:
        self.fd = fd
        self.places = places
        self.shared = shared
        self.keys = keys
        self.chunks: list[dict[str, Any] | None] = [None] * len(keys)
        weakref.finalize(self, os.close, fd)

    @classmethod
    def after(cls, file: IO[bytes], shared: Any, keys: Any) -> _Shelf:
        """The shelf whose chunks follow in `file` (each its length in 8 bytes, then its
        pickle: see `_ShelfWriter`), the file left after them."""
        if type(shared) is not list or type(keys) is not list:
            raise ValueError("not a shelf")
        if not all(type(chunk) is list and chunk for chunk in keys):
            raise ValueError("not a shelf")
        places = []
        for _ in keys:
            (length,) = _PLACE.unpack(file.read(_PLACE.size))
            places.append((file.tell(), length))
            file.seek(length, os.SEEK_CUR)
        if file.tell() > os.fstat(file.fileno()).st_size:
            raise ValueError("a shelf cut short")
        return cls(os.dup(file.fileno()), places, shared, keys)

    def stubs(self) -> dict[str, _Shelved]:
        """Each shelved key, and the stand-in of its chunk."""
        stubs: dict[str, _Shelved] = {}
        for index, keys in enumerate(self.keys):
            stubs.update(dict.fromkeys(keys, _Shelved(self, index)))
        return stubs

    def chunk(self, index: int) -> dict[str, Any]:
        """The chunk's entries, read the first time (none, if it cannot be read)."""
        made = self.chunks[index]
        if made is None:
            self.chunks[index] = {}  # (a chunk that refers to itself cannot be read)
            try:
                made = self._load(index)
            except Exception:  # (as `_read`: entries that cannot be read are none)
                made = {}
            self.chunks[index] = made
        return made

    def _load(self, index: int) -> dict[str, Any]:
        offset, length = self.places[index]
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise ValueError("a chunk cut short")
        with no_collection():
            made = _ChunkUnpickler(io.BytesIO(data), self).load()
        if type(made) is not dict or list(made) != self.keys[index]:
            raise ValueError("another chunk")
        return made


class _ChunkUnpickler(pickle.Unpickler):
    """Unpickles a chunk's references (see `_ShelfWriter`): to the shelf's shared objects,
    by place, and to another chunk's entries, by the chunk's place and the key."""

    def __init__(self, file: IO[bytes], shelf: _Shelf) -> None:
        super().__init__(file)
        self.shelf = shelf

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is int:
            return self.shelf.shared[pid]
        if type(pid) is not tuple or len(pid) != 2:
            raise pickle.UnpicklingError("not a known object")
        return self.shelf.chunk(pid[0])[pid[1]]  # (KeyError: the chunk cannot be read)


@dataclass
class _ShelfWriter:
    """A memo's entries as a part pickles them (`eager`: all but those shelved), and those
    shelved, by chunk (see `Shelving`), with the objects they refer to (`shared`)."""

    entries: dict[str, Any]
    eager: dict[str, Any]
    chunks: list[list[str]]
    shared: list[Any]

    def write(self, file: IO[bytes]) -> None:
        """Write each chunk after the part: its length in 8 bytes, then its pickle, whose
        references to shared objects, and to other chunks' entries, are persistent ids."""
        if not self.chunks:
            return
        shared = dict(zip(map(id, self.shared), range(len(self.shared)), strict=True))
        entries = self.entries
        placed = {
            id(entries[key]): (index, key)
            for index, keys in enumerate(self.chunks)
            for key in keys
            if not isinstance(entries[key], _ATOMS)
        }
        for index, keys in enumerate(self.chunks):
            buffer = io.BytesIO()
            pickler = _ChunkPickler(buffer, shared, placed, index)
            pickler.dump({key: entries[key] for key in keys})
            data = buffer.getbuffer()
            file.write(_PLACE.pack(len(data)))
            file.write(data)


class _ChunkPickler(pickle.Pickler):
    """Pickles a chunk (see `_ShelfWriter`)."""

    def __init__(
        self,
        file: IO[bytes],
        shared: dict[int, int],
        placed: dict[int, tuple[int, str]],
        index: int,
    ) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.dispatch_table = reducers()
        self.shared = shared
        self.placed = placed
        self.index = index

    def persistent_id(self, obj: Any) -> Any:
        place = self.shared.get(id(obj))
        if place is None:
            entry = self.placed.get(id(obj))
            if entry is not None and entry[0] != self.index:
                return entry
        return place


def _shelf(entries: dict[str, Any], shelving: Shelving, held: list[Any] | None) -> _ShelfWriter:
    """How a part pickles the memo's `entries` (see `Shelving`): every entry as loaded
    first, where it was shelved (those that cannot be read are dropped); the memo's part
    refers to the objects `held` of another memo's, and so do the chunks."""
    recall_all(entries)
    which = list(map(shelving.shelved, entries))
    shelved = list(itertools.compress(entries, which))
    if len(shelved) < _SHELF_MIN:
        return _ShelfWriter(entries, entries, [], [])
    eager = dict(itertools.compress(entries.items(), map(operator.not_, which)))
    chunks = [shelved[at : at + _SHELF_CHUNK] for at in range(0, len(shelved), _SHELF_CHUNK)]
    shared = [*(held or ()), *shelving.shared(entries)]
    return _ShelfWriter(entries, eager, chunks, shared)


# How the build cache's base pickles objects of these classes, beside their own way (see
# `model._packed_reduce`: a record kept packed here, but not as it crosses to workers).
REDUCERS: dict[type, Callable[[Any], Any]] = {}


def reducers() -> dict[type, Callable[[Any], Any]]:
    """The dispatch table of the build cache's base picklers (see `REDUCERS`)."""
    return {**copyreg.dispatch_table, **REDUCERS}


def _remove_deltas(folder: Path, which: Callable[[int], bool]) -> None:
    prefix, suffix = DELTA.split("{}")
    for path in folder.glob(DELTA.format("*")):
        number = path.name.removeprefix(prefix).removesuffix(suffix)
        if number.isdigit() and which(int(number)):
            path.unlink(missing_ok=True)


def _diff(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> _Changes | None:
    """The delta from `old` to `new`; None if it changes much of a memo or of a dict in one.

    An entry is unchanged when it is the very object `old` holds (or an equal str, number...,
    or a tuple of the very same items); one that is a dict on both sides is compared key by
    key in the same way.
    """
    changes: _Changes = {name: None for name in old if name not in new}
    for name, entries in new.items():
        before = old.get(name, {})
        changed: dict[str, Any] = {}
        nested: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        moved, removed = _moved(before, entries)
        for key in moved:
            value, was = entries[key], before.get(key, _MISSING)
            if type(value) is _Shelved or type(was) is _Shelved:
                # (an entry loaded shelved, recalled on one side only: see `recall`)
                value, was = _peeked(value, key), _peeked(was, key)
                if type(value) is _Shelved and value is not was:
                    return None  # (never recalled, yet not the entry before: a new base)
            if _same(value, was):
                continue
            if type(value) is dict and type(was) is dict:
                inner = _diff_dict(was, value)
                if _much(inner, value):
                    return None
                if inner[0] or inner[1]:
                    nested[key] = inner
                continue
            changed[key] = value
        if _much((changed, removed), entries):
            return None
        if changed or removed or nested:
            changes[name] = (changed, removed, nested)
    return changes


def _peeked(value: Any, key: str) -> Any:
    return value.peek(key) if type(value) is _Shelved else value


def _diff_dict(old: dict[Any, Any], new: dict[Any, Any]) -> tuple[dict[Any, Any], list[Any]]:
    moved, removed = _moved(old, new)
    changed = {}
    for key in moved:
        value, was = new[key], old.get(key, _MISSING)
        if not _same(value, was):
            changed[key] = value
    return changed, removed


def _moved(old: dict[Any, Any], new: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    """The keys of `new` whose value is not the very object `old` holds under that key (the
    keys `old` lacks included), in the order of `new`; and the keys of `old` that `new`
    lacks, in the order of `old`.

    Most values are the very objects `old` holds (a dict of the pages' fingerprints has
    hundreds of thousands): they are told apart by a comparison in C, without a call per key.
    """
    if len(new) >= len(old) and all(map(operator.is_, new, old)):
        # Every key of old in its place in new, the very object (a dict copied from old, then
        # updated: the pages' traces, the values of the keys they read, 460,000 at 10,000
        # stories): compared place by place, without looking each key up; the keys after
        # them are new.
        same = map(operator.is_not, new.values(), old.values())
        return [*itertools.compress(new, same), *itertools.islice(new, len(old), None)], []
    found = old.get
    moved = list(
        itertools.compress(
            new, map(operator.is_not, new.values(), map(found, new, itertools.repeat(_MISSING)))
        )
    )
    added = sum(1 for key in moved if key not in old)
    if len(new) - added == len(old):  # every key of old is in new
        return moved, []
    return moved, list(itertools.filterfalse(new.__contains__, old))  # (by C: a third less)


def _much(change: tuple[dict[Any, Any], list[Any]], entries: dict[Any, Any]) -> bool:
    """Many entries changed (a delta would not be much smaller than a base; 1,000 at least)."""
    count = len(change[0]) + len(change[1])
    return count > 1000 and count > len(entries) * _DELTA_SHARE


def _same(value: Any, was: Any) -> bool:
    if value is was:
        return True
    if type(value) is not type(was):
        return False
    if isinstance(value, _ATOMS):
        return bool(value == was)
    # A tuple or list made afresh of the very same items (an entry a build took over as it
    # was, or the names of the same files: told in C first, 62,500 at 10,000 stories).
    return (
        isinstance(value, tuple | list)
        and len(value) == len(was)
        and (
            all(map(operator.is_, value, was))
            or all(a is b or _same_atom(a, b) for a, b in zip(value, was, strict=True))
        )
    )


def _same_atom(value: Any, was: Any) -> bool:
    return type(value) is type(was) and isinstance(value, _ATOMS) and value == was


def load_state(folder: Path | None, details: bool = False) -> Any:
    """The state the last successful build saved, None if there is none (or it is stale);
    with `details`, the details saved with it instead (read after the state)."""
    if folder is None:
        return None
    try:
        with (folder / STATE).open("rb") as file:
            data = pickle.load(file)
            if not isinstance(data, dict) or data.get("version") != code_version():
                return None
            return pickle.load(file) if details else data.get("state")
    except Exception:  # missing, truncated or foreign: build as if there were none
        return None


def _write_bytes(path: Path, data: bytes) -> int:
    """Write `data` as `_write` does."""
    return _write(path, lambda file: file.write(data))


def _write(path: Path, dump: Callable[[IO[bytes]], object]) -> int:
    """Write by a temporary file renamed into place; the bytes written."""
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            dump(file)
            size = file.tell()
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size


def _dumper(*objects: Any) -> Callable[[IO[bytes]], None]:
    """Pickles the objects one after the other (a header can be read without the rest)."""

    def dump(file: IO[bytes]) -> None:
        for data in objects:
            pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)

    return dump


def _entries(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
