"""Whether the content is what the last successful build read, though files' stamps changed.

A file saved without a change, touched, or checked out again keeps its text but not its
stamps, so the build's inputs look changed. Input: this build's walk of the content folder
and what the last build kept of it (`Files`: every entry's stamps, every document's text
digest). Output: whether every file holds what it held, found by reading only the files
whose stamps changed, without the build cache; and the record for the next build.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from .listing import Listing
from .reading import Document, Unread, reread

# An entry's stamps: type and permissions, size, times (ns), inode.
Stamps = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Files:
    """What a successful build read: every entry of the content folder (path below it) with
    its stamps, and each document, unread (with the digest of its text), by the same path."""

    stamps: dict[str, Stamps]
    documents: dict[str, Unread]


def record(listing: Listing, documents: Iterable[Document | Unread], shown: str) -> Files:
    """The record of a build that read `documents` from the content `listing` (`shown`: how
    their paths begin, see `reading.shown`)."""
    root = listing.root
    kept: dict[str, Unread] = {}
    for document in documents:
        if isinstance(document, Unread):
            kept[document.file.removeprefix(root)] = document
            continue
        relative = document.path.removeprefix(f"{shown}/")
        d = document
        kept[relative] = Unread(d.path, d.kind, d.stem, d.digest, d.assets, root + relative)
    return Files(_stamps(listing), kept)


def still(listing: Listing, files: Files) -> Files | None:
    """The record with the stamps of `listing`, if the content is still what `files`
    records: every entry of `listing` is one it knows, of the same type and permissions,
    and every file whose stamps changed is a document whose text is still the one recorded.
    (A folder's own times change when a file is saved by way of a temporary file: they are
    not compared.) None as soon as anything differs, or cannot be read."""
    now = _stamps(listing)
    if now.keys() != files.stamps.keys():
        return None
    for path, stamps in now.items():
        was = files.stamps[path]
        if stamps == was:
            continue
        if stamps[0] != was[0]:
            return None
        if stat.S_ISDIR(stamps[0]):
            continue
        document = files.documents.get(path)
        if document is None or not stat.S_ISREG(stamps[0]):
            return None  # an image, a file not read as a document, a link...
        read, _ = reread(document)
        if read is None or read.digest != document.digest:
            return None
    return Files(now, files.documents)


def _stamps(listing: Listing) -> dict[str, Stamps]:
    """Every entry's stamps, but for hidden files and folders, which are never read. (The
    last listing's are kept: a build whose stamps changed asks `still`, then `record`, for
    the same listing. Not to be changed.)"""
    global _last
    if _last is not None and _last[0] is listing:
        return _last[1]
    stamps = _listed(listing)
    _last = listing, stamps
    return stamps


# The last listing `_stamps` was asked for, and its stamps.
_last: tuple[Listing, dict[str, Stamps]] | None = None


def _listed(listing: Listing) -> dict[str, Stamps]:
    """`_stamps`, worked out."""
    stamps: dict[str, Stamps] = {}
    for folder in listing.folders:
        if folder.hidden:
            continue
        path = folder.path
        if folder.error is not None:
            stamps[f"{path}/\0error"] = (folder.error.errno or 0, 0, 0, 0, 0)
        prefix = f"{path}/" if path else ""
        for name, s in folder.entries:
            if name[:1] != ".":
                stamps[prefix + name] = _of(s)
    return stamps


def _of(s: os.stat_result) -> Stamps:
    return s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino
