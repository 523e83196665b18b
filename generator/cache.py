"""The build cache: what earlier builds worked out, kept to skip work that would come out the same.

Input: a folder (beside the content by default) and the running code; output: one `Memo` per
stage, whose entries are keyed by a fingerprint of everything that entry depends on. A cache
that cannot be read, or that other code wrote, is ignored; it is saved (atomically, holding
only what this build used) only after a build succeeded.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Any

FILE = "cache.pickle"
# The last build's inputs and outcome, small, so that a build with nothing to do is quick.
STATE = "state.pickle"
_CODE = Path(__file__).resolve().parent
_LEFTOVER_SECONDS = 3600
_LIBRARIES = ("markdown", "pyyaml", "nh3")


@dataclass
class Memo:
    """Entries of the last build (`old`, read only) and those this build used or made (`new`)."""

    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        value = self.old.get(key)
        if value is not None:
            self.new[key] = value
        return value


def default_folder(content: Path) -> Path:
    """A hidden folder beside the content folder."""
    return content.absolute().parent / ".factsheet-cache"


def fingerprint(*parts: object) -> str:
    """A hash of the parts' text: equal parts, equal fingerprint."""
    text = repr(parts).encode("utf-8", "backslashreplace")
    return hashlib.sha256(text).hexdigest()


def code_version() -> str:
    """The generator's source, its libraries and Python's version: from other code, stale.

    (Templates are not part of it: nothing kept here depends on them.)
    """
    digest = hashlib.sha256(sys.version.encode())
    for library in _LIBRARIES:
        digest.update(f"{library} {metadata.version(library)}\0".encode())
    for path in sorted(_CODE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load(folder: Path | None, names: tuple[str, ...]) -> dict[str, Memo]:
    """A Memo per name, empty when there is no cache, or it is corrupt, stale or foreign."""
    data: Any = None
    if folder is not None:
        try:
            with (folder / FILE).open("rb") as file, _no_collection():
                data = pickle.load(file)
        except Exception:  # a missing, truncated or foreign file is not worth a failed build
            data = None
    if not isinstance(data, dict) or data.get("version") != code_version():
        data = {}
    return {name: Memo(old=_entries(data.get(name))) for name in names}


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Load without the cyclic garbage collector, then exempt what was loaded from it.

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
        name: Memo(old=memo.new if succeeded else {**memo.old, **memo.new})
        for name, memo in memos.items()
    }


def save(folder: Path, memos: dict[str, Memo], state: Any = None) -> None:
    """Write the entries this build used, and its `state`, each by a temporary file
    renamed into place (the state last: it vouches for the cache written before it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(".tmp-*"):  # from a killed build (not one still running)
        if time.time() - leftover.stat().st_mtime > _LEFTOVER_SECONDS:
            leftover.unlink(missing_ok=True)
    (folder / STATE).unlink(missing_ok=True)
    version = code_version()
    _write(folder / FILE, {"version": version, **{n: memo.new for n, memo in memos.items()}})
    if state is not None:
        _write(folder / STATE, {"version": version, "state": state})


def load_state(folder: Path | None) -> Any:
    """The state the last successful build saved, None if there is none (or it is stale)."""
    if folder is None:
        return None
    try:
        with (folder / STATE).open("rb") as file:
            data = pickle.load(file)
    except Exception:  # missing, truncated or foreign: build as if there were none
        return None
    if not isinstance(data, dict) or data.get("version") != code_version():
        return None
    return data.get("state")


@dataclass(frozen=True)
class Folder:
    """One folder a walk listed: its path below the top ('' for the top itself, names joined
    by '/'), and its entries sorted by name, each with its stat result (links not followed);
    or, for a folder that could not be listed, no entries and the error."""

    path: str
    entries: list[tuple[str, os.stat_result]]
    error: OSError | None = None


@dataclass(frozen=True)
class Listing:
    """Every file and folder below `top` (as a string), listed once: the folders in the order
    `os.walk` visits them (a folder, then each of its subfolders' in turn, by name). Links
    are listed, never followed. A build lists the content once, for `stamps` and for
    reading."""

    top: str
    folders: list[Folder]


def walk(top: Path | str) -> Listing:
    """List every file and folder below `top`, with its stamps (one stat each, no reading)."""
    folders: list[Folder] = []
    _list(os.fspath(top), "", folders)
    return Listing(os.fspath(top), folders)


def _list(top: str, path: str, folders: list[Folder]) -> None:
    where = os.path.join(top, path) if path else top
    entries: list[tuple[str, os.stat_result]] = []
    try:
        with os.scandir(where) as found:
            for entry in found:
                try:
                    entries.append((entry.name, entry.stat(follow_symlinks=False)))
                except FileNotFoundError:  # gone since it was listed: as if never there
                    continue
                except OSError as error:  # listed, but its entries cannot be looked at
                    raise OSError(error.errno, error.strerror, where) from error
    except OSError as error:
        folders.append(Folder(path, [], error))
        return
    entries.sort(key=itemgetter(0))
    folders.append(Folder(path, entries))
    for name, status in entries:
        if stat.S_ISDIR(status.st_mode):
            _list(top, f"{path}/{name}" if path else name, folders)


def stamps(*listings: Listing) -> str:
    """A digest of every file and folder in `listings`: names, types, sizes, times, inodes.

    Any edit, new, moved or deleted file changes it (a save changes a file's ctime even
    when its size and mtime stay), without reading a single file.
    """
    digest = hashlib.blake2b(digest_size=16)
    for listing in listings:
        # NUL ends every name, path and number group: no two listings give the same text.
        lines = [f"{listing.top}\0"]
        for folder in listing.folders:
            if folder.error is not None:
                lines.append(f"\0{folder.path}\0!{folder.error.errno}\0")
                continue
            lines.append(f"\0{folder.path}\0")
            lines.extend(
                f"{name}\0{s.st_mode} {s.st_size} {s.st_mtime_ns} {s.st_ctime_ns} {s.st_ino}\0"
                for name, s in folder.entries
            )
        digest.update("".join(lines).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _write(path: Path, data: Any) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _entries(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
