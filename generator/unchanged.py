"""Whether the content is what the last successful build read, though files' stamps changed.

A file saved without a change, touched, or checked out again keeps its text but not its
stamps, so the build's inputs look changed. Input: this build's walk of the content folder
and what the last build kept of it (`Files`: by folder, every entry's stamps and every
document's text digest). Output: whether every file holds what it held, found by reading
only the files whose stamps changed, without the build cache; and the record for the next
build. Only the folders whose entries' stamps changed are looked at (when one story is
edited: the stories' folder, not the 50,000 fact files).
"""

from __future__ import annotations

import pickle
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .listing import Folder, Listing, Stamps
from .reading import Document, Unread, reread

# A folder's part of the record: each entry's stamps, and each document, unread, by path
# below the content folder.
Part = tuple[dict[str, Stamps], dict[str, Unread]]


@dataclass(frozen=True, eq=False)
class Files:
    """What a successful build read from the content folder listed as `root` (its
    documents' paths shown from `shown`): for each folder (path below it, '' for the folder
    itself; hidden ones left out), the digest of its entries as listed (`Folder.stamps`)
    and its part of the record, pickled (`Part`), to be loaded only when that digest
    changed."""

    root: str
    shown: str
    folders: dict[str, tuple[str, bytes]]

    def part(self, path: str) -> Part:
        """The part of the folder at `path` (a pickle of this module's own making)."""
        stamps, documents = pickle.loads(self.folders[path][1])
        return stamps, documents

    def __eq__(self, other: object) -> bool:
        """The same folders, digests and parts (their pickles may differ in which equal
        objects they share)."""
        if not isinstance(other, Files):
            return NotImplemented
        return (
            (self.root, self.shown) == (other.root, other.shown)
            and self.folders.keys() == other.folders.keys()
            and all(
                digest == other.folders[path][0] and self.part(path) == other.part(path)
                for path, (digest, _) in self.folders.items()
            )
        )

    __hash__ = None  # type: ignore[assignment]


def record(
    listing: Listing,
    documents: Iterable[Document | Unread],
    shown: str,
    last: Files | None = None,
) -> Files:
    """The record of a build that read `documents` from the content `listing` (`shown`: how
    their paths begin, see `reading.shown`). A folder listed as in `last` (the record of the
    last build, if loaded: the same digest of its entries) has the part it had there: the
    same stamps, so the same documents."""
    root = listing.root
    same = last is not None and (last.root, last.shown) == (root, shown)
    kept = last.folders if last is not None and same else {}
    folders: dict[str, tuple[str, bytes]] = {}
    for folder in listing.folders:
        if not folder.hidden:
            known = kept.get(folder.path)
            if known is not None and known[0] == folder.stamps:
                folders[folder.path] = known
    # The documents of the other folders, grouped by folder (one story edited: the stories'
    # folder, not the 52,000 documents of the others at 10,000 stories).
    grouped: dict[str, dict[str, Unread]] = {}
    for document in documents:
        if isinstance(document, Unread):
            relative = document.file.removeprefix(root)
        else:
            relative = document.path.removeprefix(f"{shown}/")
        path = relative.rpartition("/")[0]
        if path in folders:
            continue
        if isinstance(document, Unread):
            kept_as = document
        else:
            d = document
            kept_as = Unread(d.path, d.kind, d.stem, d.digest, d.assets, root + relative)
        grouped.setdefault(path, {})[relative] = kept_as
    for folder in listing.folders:
        if not folder.hidden and folder.path not in folders:
            part = _stamps(listing, folder), grouped.get(folder.path, {})
            folders[folder.path] = folder.stamps, _dumped(part)
    return Files(root, shown, {f.path: folders[f.path] for f in listing.folders if not f.hidden})


def still(listing: Listing, files: Files, shown: str) -> Files | None:
    """The record with the stamps of `listing`, if the content is still what `files`
    records: every entry of `listing` is one it knows, of the same type and permissions,
    and every file whose stamps changed is a document whose text is still the one recorded.
    (A folder's own times change when a file is saved by way of a temporary file: they are
    not compared.) None as soon as anything differs, or cannot be read; or if `files` are
    of a content folder listed or shown (`shown`) otherwise."""
    if (files.root, files.shown) != (listing.root, shown):
        return None
    now = {folder.path: folder for folder in listing.folders if not folder.hidden}
    if now.keys() != files.folders.keys():
        return None
    folders = dict(files.folders)
    for path, folder in now.items():
        if folder.stamps == files.folders[path][0]:
            continue
        try:
            then, documents = files.part(path)
        except Exception:  # (not a part this module pickled: a record to ignore)
            return None
        stamps = _stamps(listing, folder)
        if not _same(stamps, then, documents):
            return None
        folders[path] = folder.stamps, _dumped((stamps, documents))
    return Files(files.root, files.shown, folders)


def _same(now: dict[str, Stamps], then: dict[str, Stamps], documents: dict[str, Unread]) -> bool:
    """Whether a folder's entries with stamps `now` hold what they held with stamps `then`
    (see `still`)."""
    if now.keys() != then.keys():
        return False
    for path, stamps in now.items():
        was = then[path]
        if stamps == was:
            continue
        if stamps[0] != was[0]:
            return False
        if stat.S_ISDIR(stamps[0]):
            continue
        document = documents.get(path)
        if document is None or not stat.S_ISREG(stamps[0]):
            return False  # an image, a file not read as a document, a link...
        read, _ = reread(document)
        if read is None or read.digest != document.digest:
            return False
    return True


def _dumped(part: Part) -> bytes:
    return pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)


def _stamps(listing: Listing, folder: Folder) -> dict[str, Stamps]:
    """The stamps of every entry of a folder of `listing` but hidden files, which are never
    read, by path below the content folder. (Those of the last listing asked about are
    kept: a build whose stamps changed asks `still`, then `record`, for the same listing.
    Not to be changed.)"""
    global _last
    if _last is None or _last[0] is not listing:
        _last = listing, {}
    known: dict[str, dict[str, Stamps]] = _last[1]
    found = known.get(folder.path)
    if found is None:
        found = known[folder.path] = _listed(folder)
    return found


# The last listing `_stamps` was asked about, and the stamps it found, by folder.
_last: tuple[Listing, dict[str, Any]] | None = None


def _listed(folder: Folder) -> dict[str, Stamps]:
    """`_stamps`, worked out."""
    stamps: dict[str, Stamps] = {}
    path = folder.path
    if folder.error is not None:
        stamps[f"{path}/\0error"] = (folder.error.errno or 0, 0, 0, 0, 0)
    prefix = f"{path}/" if path else ""
    for name, s in folder.entries:
        if name[:1] != ".":
            stamps[prefix + name] = s
    return stamps
