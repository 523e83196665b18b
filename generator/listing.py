"""The content's files, listed once per build: each with its stamps (name, type, size, times,
inode), and a digest of them all that any edit, new, moved or deleted file changes.

Input: a folder. Output: a `Listing` that reading uses instead of walking again, and the
`stamps` digest that tells a build with nothing to do (`pipeline`). No file is read here.
A build in a new process lists the content on another core while it loads its cache (`Walk`).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from multiprocessing.connection import Connection
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from . import workers

# An entry's stamps: type and permissions, size, times (ns), inode. A tuple, not the
# os.stat_result they come from: made, and sent by a forked walk (see `Walk`), for a
# fraction of what those cost (a fifth, unpickled: 62,500 entries at 10,000 stories).
Stamps = tuple[int, int, int, int, int]
MODE, SIZE = 0, 1  # (their places in Stamps)
stamps_of: Callable[[os.stat_result], Stamps] = attrgetter(
    "st_mode", "st_size", "st_mtime_ns", "st_ctime_ns", "st_ino"
)


@dataclass(frozen=True)
class Folder:
    """One folder a walk listed: its path below the top ('' for the top itself, names joined
    by '/'), and its entries sorted by name, each with its stamps (links not followed); or,
    for a folder that could not be listed, no entries and the error."""

    path: str
    entries: list[tuple[str, Stamps]]
    error: OSError | None = None

    @property
    def hidden(self) -> bool:
        """A hidden folder ('.git'), or one inside one: content that is never read."""
        return hidden(self.path)

    @cached_property
    def stamps(self) -> str:
        """A digest of the folder's entries: names, types, sizes, times (ns), inodes. Any
        edit, new, moved or deleted file changes it (a save changes a file's ctime even
        when its size and mtime stay), without reading a single file."""
        # NUL ends every name, path and number group: no two folders give the same text.
        if self.error is not None:
            text = f"\0{self.path}\0!{self.error.errno}\0"
        else:
            text = f"\0{self.path}\0" + "".join(self._lines)
        data = text.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    @cached_property
    def _lines(self) -> list[str]:
        """Each entry's part of the text `stamps` digests."""
        return [_line(name, s) for name, s in self.entries]

    def patched(self, index: int, status: Stamps) -> Folder:
        """The folder with the entry at `index` given new stamps (its file was saved)."""
        entries = list(self.entries)
        name = entries[index][0]
        entries[index] = (name, status)
        folder = Folder(self.path, entries, self.error)
        if "_lines" in self.__dict__:  # worked out already: the others' lines are the same
            lines = list(self._lines)
            lines[index] = _line(name, status)
            folder.__dict__["_lines"] = lines
        return folder


def _line(name: str, s: Stamps) -> str:
    mode, size, mtime, ctime, inode = s
    return f"{name}\0{mode} {size} {mtime} {ctime} {inode}\0"


@dataclass(frozen=True)
class Listing:
    """Every file and folder below `top` (as a string), listed once: the folders in the order
    `os.walk` visits them (a folder, then each of its subfolders' in turn, by name). Links
    are listed, never followed. A build lists the content once, for `stamps` and for
    reading."""

    top: str
    folders: list[Folder]

    @property
    def root(self) -> str:
        """The top with a slash after it: what a path below it is joined to."""
        return self.top if self.top.endswith("/") else f"{self.top}/"


def walk(top: Path | str) -> Listing:
    """List every file and folder below `top`, with its stamps (one stat each, no reading)."""
    folders: list[Folder] = []
    _list(os.fspath(top), "", folders)
    return Listing(os.fspath(top), folders)


def _list(top: str, path: str, folders: list[Folder]) -> None:
    where = os.path.join(top, path) if path else top
    entries: list[tuple[str, Stamps]] = []
    try:
        with os.scandir(where) as found:
            for entry in found:
                try:
                    entries.append((entry.name, stamps_of(entry.stat(follow_symlinks=False))))
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
        if stat.S_ISDIR(status[MODE]):
            _list(top, f"{path}/{name}" if path else name, folders)


def stamps(*listings: Listing) -> str:
    """A digest of every file and folder in `listings`, from each folder's `stamps`."""
    digest = hashlib.blake2b(digest_size=16)
    for listing in listings:
        lines = [f"{listing.top}\0", *(folder.stamps for folder in listing.folders)]
        digest.update("\0".join(lines).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def hidden(relative: str) -> bool:
    """Whether a path relative to the content folder ('/'-separated) is hidden, or inside
    a hidden folder: content that is never read."""
    return relative[:1] == "." or "/." in relative


class Walk:
    """A walk of `top` (`walk`) made on another core while this process goes on: a build in
    a new process loads its cache meanwhile (see `pipeline._build`). A forked process walks
    (0.26 s at 10,000 stories, most of it in 62,500 stat calls), and sends back the digest
    of what it listed (`stamps`: all that a build with nothing to do needs), then the
    listing (`_packed`). Not asked to fork, or without fork, the walk is made here and now;
    if the forked process fails, here when its results are asked for.
    """

    def __init__(self, top: Path | str, fork: bool = True) -> None:
        self.top = top
        self._stamps: str | None = None
        self._listing: Listing | None = None
        self._pipe: Connection | None = None
        self._walker: workers.Aside | None = None
        if fork and workers.can_fork():
            self._pipe, there = multiprocessing.Pipe(duplex=False)
            try:
                self._walker = workers.aside(lambda: _walk_there(top, there))
            except OSError:  # (no process to be had: the walk is made here)
                pass
            finally:
                there.close()  # (the forked process's end: it alone holds it now)
                if self._walker is None:
                    self.close()
        if self._walker is None:
            self._here()

    def ready(self) -> bool:
        """Whether what the forked process sends next (the digest, then the listing) has
        come, or is not waited for: never waits."""
        if self._listing is not None or self._pipe is None:
            return True
        try:
            return self._pipe.poll()  # (it, or the end of a process that failed)
        except OSError:
            return True

    def stamps(self) -> str:
        """The digest of the listing (see `stamps`), waited for if need be."""
        if self._stamps is None:
            found = self._receive()
            self._stamps = found if isinstance(found, str) else self._here()[0]
        return self._stamps

    def listing(self) -> Listing:
        """The listing, waited for if need be."""
        self.stamps()  # (first in the pipe)
        if self._listing is None:
            try:
                self._listing = _unpacked(self._receive())
            except Exception:  # the process failed, or sent what it does not send
                self._listing = self._here()[1]
        return self._listing

    def close(self) -> None:
        """End the forked process, if any: stopped where it is (a build with nothing to do
        does not wait for the listing, which would be sent to no one), and waited for
        (serve, which builds again and again, is left no child, nor its pipe)."""
        if self._walker is not None:
            self._walker.stop()
            self._walker = None
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    def _receive(self) -> Any:
        """What the forked process sent next; None if it ended without sending it."""
        try:
            return self._pipe.recv() if self._pipe is not None else None
        except Exception:  # (ended, or killed, midway)
            self.close()
            return None

    def _here(self) -> tuple[str, Listing]:
        """The walk, made in this process (what the forked one sent, if anything, set
        aside: the digest and the listing describe the same walk)."""
        self.close()
        self._listing = walk(self.top)
        self._stamps = stamps(self._listing)
        return self._stamps, self._listing


def _walk_there(top: Path | str, pipe: Connection) -> None:
    """In the forked process: walk, send the digest, then the listing."""
    listing = walk(top)
    pipe.send(stamps(listing))
    pipe.send(_packed(listing))


# A listing as `_packed` gives it: the top, and each folder's path, entries, error, stamps.
_Packed = tuple[str, list[tuple[str, list[tuple[str, Stamps]], OSError | None, str]]]


def _packed(listing: Listing) -> _Packed:
    """The listing as plain tuples, lists and strings, which pickle and unpickle in C, each
    folder with its stamps, worked out."""
    folders = [(f.path, f.entries, f.error, f.stamps) for f in listing.folders]
    return listing.top, folders


def _unpacked(data: _Packed) -> Listing:
    top, packed = data
    folders = []
    for path, entries, error, digest in packed:
        folder = Folder(path, entries, error)
        folder.__dict__["stamps"] = digest  # (worked out by the forked process)
        folders.append(folder)
    return Listing(top, folders)
