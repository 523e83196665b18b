"""Disk -> documents: find the content files, read them safely, and classify them by kind.

Text comes out decoded, NFC-normalised, with `\\n` line ends and no BOM; every problem with a
file (links, encoding, size, control characters, misplaced files) is a located diagnostic.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, cast

from .cache import Memo
from .diagnostics import Diagnostic, Diagnostics, Location, did_you_mean
from .listing import MODE, SIZE, Folder, Listing, Stamps, hidden, stamps_of, walk
from .schema import KINDS, STORY

FACT_LIMIT = 1024 * 1024
STORY_LIMIT = 2 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif")
SITE_FILE = "site.yaml"
_T = TypeVar("_T")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Folder names an editor may reach for, and the kind they mean ('people/' -> 'actors/').
_FOLDER_MEANS = {
    "people": "actors",
    "persons": "actors",
    "organisations": "actors",
    "organizations": "actors",
    "states": "actors",
    "countries": "actors",
    "mines": "deposits",
    "locations": "places",
    "towns": "places",
    "regions": "places",
    "dates": "events",
    "letters": "notes",
    "statements": "quotes",
    "articles": "stories",
}


@dataclass(frozen=True)
class Document:
    """One content file: `kind` is 'site' or a kind name; `stem` the id its name gives."""

    path: str
    kind: str
    stem: str
    text: str
    assets: tuple[Path, ...] = ()

    @cached_property
    def digest(self) -> str:
        """Names the text (in the parse cache, and in the memo of files read)."""
        return hashlib.blake2b(self.text.encode("utf-8"), digest_size=16).hexdigest()


class Unread(NamedTuple):
    """A content file left unread: its name, size, times and inode are those of a file read
    before, whose text had `digest`; `file` is where it is on disk. `reread` reads it, if
    its text is needed after all. (A named tuple, quicker to make than a dataclass: a build
    with a memo makes one for nearly every file.)"""

    path: str
    kind: str
    stem: str
    digest: str
    assets: tuple[Path, ...]
    file: str


def read_content(
    content: Path,
    memo: Memo | None = None,
    listing: Listing | None = None,
    changed: Iterable[Path | str] | None = None,
) -> tuple[list[Document | Unread], list[Diagnostic]]:
    """Every content file, read, and every problem with the files.

    `listing` is this build's walk of `content` (`listing.walk`), if it made one: the folder is
    not listed again, and each file's stamps are those the listing saw. With a memo of
    earlier builds, a fact file or story whose stamps (name, size, times, inode) are as when
    it was read is not read again: it comes back as `Unread`, and the warnings reading it
    gave are given again.

    `changed`, the files saved since the last build in this process (serve's watcher tells
    them), spares the walk: when the memo is the one that build left, and each of them is a
    file that build read (or left aside without a word), only they are looked at again;
    the rest comes back as that build read it. Any doubt (a new, deleted or renamed file, a
    folder, site.yaml, a file that becomes or stops being a document): the walk, as always.
    """
    diagnostics = Diagnostics()
    base = content.resolve().parent
    documents: list[Document | Unread] = []
    if not content.is_dir():
        diagnostics.error(
            Location(_display(content.absolute(), base)), "E0101", "no content folder here"
        )
        return documents, diagnostics.items
    if changed is not None and listing is None and memo is not None:
        again = _again(content, memo, changed)
        if again is not None:
            return again
    top = _display(content, base)  # how paths below it are shown: "content/actors/x.yaml"
    if listing is None or listing.top != os.fspath(content):
        listing = walk(content)
    # Where the files are on disk: the listing's top, then each file's path below it.
    root = listing.root
    for folder, files in _files(listing, content, base, diagnostics):
        documents.extend(_folder(folder, files, root, top, diagnostics, memo))
    if not any(d.kind == "site" for d in documents) and not any(
        d.code == "E0101" and d.location.path.endswith(SITE_FILE) for d in diagnostics.items
    ):
        diagnostics.error(
            Location(_display(content / SITE_FILE, base)),
            "E0101",
            "site.yaml is missing: create it with a line giving the site's title, "
            "e.g. 'title: Mining fact sheets'",
        )
    if memo is not None:  # what the next build given this memo's entries may start from
        folders = {folder.path: folder for folder in listing.folders}
        kept = documents.copy()
        for i in [i for i, d in enumerate(documents) if type(d) is Document]:
            kept[i] = _unread(documents[i], top, root)
        items = diagnostics.items
        _last.keep(memo.new, _Last(os.fspath(content), top, root, folders, kept, items))
    return documents, diagnostics.items


def _unread(document: Document | Unread, top: str, root: str) -> Document | Unread:
    """A document as the next build in this process may be given it again: unread, its
    text not kept (but site.yaml's, always read again)."""
    d = document
    if isinstance(d, Unread) or d.kind == "site":
        return d
    return Unread(d.path, d.kind, d.stem, d.digest, d.assets, root + d.path[len(top) + 1 :])


class Recent(Generic[_T]):
    """What the last few builds in this process left, each by the memo entries it left
    (`Memo.new`): the build given those very entries as its memo's `old` (`cache.carry`),
    and no other, may start from it. (A few: tests build other sites between two builds.)"""

    # Every one made (one per module that keeps what its last builds left).
    made: ClassVar[list[Recent[Any]]] = []

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._kept: dict[int, tuple[dict[str, Any], _T]] = {}
        Recent.made.append(self)

    @staticmethod
    def forget(entries: dict[str, Any]) -> None:
        """Let go of what any build kept by these entries (no build will start from them)."""
        for recent in Recent.made:
            recent.take(entries)

    def keep(self, entries: dict[str, Any], value: _T) -> None:
        self._kept.pop(id(entries), None)
        self._kept[id(entries)] = (entries, value)
        while len(self._kept) > self.size:
            del self._kept[next(iter(self._kept))]

    def take(self, entries: dict[str, Any]) -> _T | None:
        """What the build that left `entries` kept, if it is still known; forgotten then."""
        found = self._kept.pop(id(entries), None)
        return found[1] if found is not None and found[0] is entries else None


@dataclass(frozen=True, eq=False)
class _Last:
    """What a `read_content` with a memo read: the content folder, how its paths are shown
    and where it is on disk, its folders by path as listed, the documents (unread, but for
    site.yaml), and every problem; and each document's index by path (made when first
    asked for: a new process reads once)."""

    content: str
    top: str
    root: str
    folders: dict[str, Folder]
    documents: list[Document | Unread]
    diagnostics: list[Diagnostic]

    @cached_property
    def where(self) -> dict[str, int]:
        return {document.path: i for i, document in enumerate(self.documents)}


_last: Recent[_Last] = Recent()

# More saved files than this at once (a checkout, a copy): the walk is as quick.
MOST_CHANGED = 64


def _again(
    content: Path, memo: Memo, changed: Iterable[Path | str]
) -> tuple[list[Document | Unread], list[Diagnostic]] | None:
    """The documents and problems of the last read, with the `changed` files read again;
    None if the last read is not known to be the memo's, or any changed path is in doubt."""
    last = _last.take(memo.old)
    if last is None or last.content != os.fspath(content) or memo.new:
        return None
    try:
        return _reread(content, memo, changed, last)
    except Doubt:
        memo.new.clear()  # as it was: the walk fills it
        return None


class Doubt(Exception):
    """What the last build left cannot be trusted for this one: do as if it were not known."""


def _reread(
    content: Path, memo: Memo, changed: Iterable[Path | str], last: _Last
) -> tuple[list[Document | Unread], list[Diagnostic]]:
    """`_again`'s work, once it knows what the last read left (`Doubt` if it cannot)."""
    paths = list(changed)
    if len(paths) > MOST_CHANGED:
        raise Doubt
    where = os.path.abspath(content)
    if os.path.realpath(where) != where:
        raise Doubt  # a link on the way: a saved path may name its files another way
    inside = where + os.sep
    folders = dict(last.folders)
    documents, kept = list(last.documents), list(last.documents)
    diagnostics = last.diagnostics
    news: dict[str, dict[str, tuple[Document | Unread | None, str, list[Diagnostic]]]] = {}
    memo.new.update(memo.old)
    for path in paths:
        file = os.path.abspath(path)
        if not file.startswith(inside):
            if file == where or os.path.realpath(file).startswith(inside):
                raise Doubt
            continue  # a template, say: not content
        relative = file[len(inside) :].replace(os.sep, "/")
        if hidden(relative):
            continue  # never read
        parts = relative.split("/")
        folder = folders.get("/".join(parts[:-1]))
        names = [name for name, _ in folder.entries] if folder is not None else []
        i = bisect.bisect_left(names, parts[-1])
        listed = i < len(names) and names[i] == parts[-1]
        try:
            status = stamps_of(os.lstat(file))
        except FileNotFoundError:
            if listed:
                raise Doubt from None  # deleted
            continue  # made and gone since (an editor's temporary file): nothing to read
        except OSError:
            raise Doubt from None  # cannot be looked at
        if folder is None or folder.error is not None or not listed or len(parts) == 1:
            raise Doubt  # new; or site.yaml, or a file beside it
        was = folder.entries[i][1]
        if not (stat.S_ISREG(was[MODE]) and stat.S_ISREG(status[MODE])):
            raise Doubt
        folder = folders[folder.path] = folder.patched(i, status)
        shown = f"{last.top}/{relative}"
        found = Diagnostics()
        document = _classify(relative, status, folder, last.root, last.top, found, memo)
        index = last.where.get(shown)
        if (index is None) != (document is None):
            raise Doubt  # becomes, or stops being, a document
        if index is not None and document is not None:
            documents[index], kept[index] = document, _unread(document, last.top, last.root)
        diagnostics = [d for d in diagnostics if d.location.path != shown] + found.items
        old, new = _stamp(shown, was), _stamp(shown, status)
        if old != new:
            memo.new.pop(old, None)
        news.setdefault(folder.path, {})[shown] = (document, new, found.items)
    for path, saved in news.items():
        _refile(folders[path], saved, last.top, last.root, memo)
    again = replace(last, folders=folders, documents=kept, diagnostics=diagnostics)
    again.__dict__["where"] = last.where  # (the same paths in the same places)
    _last.keep(memo.new, again)
    return documents, diagnostics


def _refile(
    folder: Folder,
    saved: dict[str, tuple[Document | Unread | None, str, list[Diagnostic]]],
    top: str,
    root: str,
    memo: Memo,
) -> None:
    """Mend the memo's entry for a folder (as `_folder` would make it now) whose `saved`
    files `_again` read again (by path shown: document, stamp, problems); or drop it."""
    key = f"folder\0{root}\0{top}\0{folder.path}"
    known = memo.new.pop(key, None)
    if not (isinstance(known, tuple) and len(known) == 4):
        return
    _, kept, problems, stamps = known
    if sum(d.path in saved for d in kept) != sum(d is not None for d, _, _ in saved.values()):
        return
    fresh, again = list(kept), list(stamps)
    for path, (document, stamp, _) in saved.items():
        # The folder's documents are in the order of their names, as its entries are.
        i = bisect.bisect_left(kept, path, key=attrgetter("path"))
        if document is None:
            continue
        if i == len(kept) or kept[i].path != path:
            return
        d = document
        if isinstance(d, Document):
            d = Unread(d.path, d.kind, d.stem, d.digest, d.assets, kept[i].file)
        fresh[i], again[i] = d, stamp
    problems = [d for d in problems if d.location.path not in saved]
    problems.extend(item for _, _, found in saved.values() for item in found)
    memo.new[key] = (folder.stamps, tuple(fresh), problems, tuple(again))


def _folder(
    folder: Folder,
    listed: _Files,
    root: str,
    top: str,
    diagnostics: Diagnostics,
    memo: Memo | None,
) -> list[Document | Unread]:
    """The documents of one folder's regular files (`listed`: path below the content
    folder, stat), if it holds any.

    A folder whose entries have the stamps (`Folder.stamps`) they had in the memo's build
    gives that build's documents (unread) and problems again, without a look at each file:
    serve's rebuild after a story is saved classifies the stories only. (Not the content
    folder itself, whose site.yaml is always read; nor a folder that holds links, which may
    lead elsewhere.)
    """
    if memo is None or folder.path == "" or listed.links:
        return [d for _, d in _classified(listed.files, folder, root, top, diagnostics, memo)]
    key = f"folder\0{root}\0{top}\0{folder.path}"
    known = memo.get(key)
    if known is not None and known[0] == folder.stamps:
        _, documents, problems, stamps = known
        diagnostics.extend(problems)
        # Each file's own entry, for the build after the folder changes.
        old = memo.old
        try:
            memo.new.update(zip(stamps, map(old.__getitem__, stamps), strict=True))
        except KeyError:  # (an entry the memo lacks: each that it has, one by one)
            for stamp in stamps:
                memo.get(stamp)
        return list(documents)
    files = listed.files
    found = Diagnostics()
    restamped = _restamped(files, folder, root, top, found, memo, known)
    if restamped is not None:
        classified, kept, stamps = restamped
    else:
        classified = _classified(files, folder, root, top, found, memo)
        status = dict(files)
        # What the folder's last entry kept, and is the same still (all but the edited
        # file, as a rule), is kept as those very objects: the cache's delta refers to them,
        # instead of writing every file of the folder again.
        was = _kept(known)
        kept = tuple(_same_as(_unread(d, top, root), was) for _, d in classified)
        stamps = tuple(_same_as(_stamp(d.path, status[r]), was) for r, d in classified)
    diagnostics.extend(found.items)
    memo.new[key] = (folder.stamps, kept, found.items, stamps)
    return [d for _, d in classified]


def _restamped(
    files: list[tuple[str, Stamps]],
    folder: Folder,
    root: str,
    top: str,
    diagnostics: Diagnostics,
    memo: Memo,
    known: object,
) -> (
    tuple[list[tuple[str, Document | Unread]], tuple[Document | Unread, ...], tuple[str, ...]]
    | None
):
    """The documents among `files`, as `_classified` finds them, and the folder's new memo
    entry's documents and stamps (as `_folder` keeps them), when the folder's last entry
    (`known`) holds a document for each file, of the same path, in the same order, and no
    problem: the files whose stamps are those it kept are those very documents (their memo
    entries kept, as reading them would), and only the others are looked at (when one
    story is edited: one of 10,000, not each of them classified and its entry looked up
    again). An entry's document or stamps equal to the last one's, in its place, is that
    one (the only one it could equal: each names its own path). None otherwise."""
    if not (isinstance(known, tuple) and len(known) == 4) or known[2]:
        return None
    _, documents, _, stamps = known
    if len(documents) != len(files) or len(stamps) != len(files):
        return None
    shown = [f"{top}/{relative}" for relative, _ in files]
    if list(map(_PATH, documents)) != shown:
        return None
    now = list(map(_stamp, shown, map(_STATUS, files)))
    old = memo.old
    classified: list[tuple[str, Document | Unread]] = []
    kept = list(documents)
    found = Diagnostics()
    for i, (relative, status) in enumerate(files):
        if now[i] == stamps[i] and now[i] in old:
            memo.new[now[i]] = old[now[i]]
            classified.append((relative, documents[i]))
            continue
        document = _classify(relative, status, folder, root, top, found, memo)
        if document is None:  # (it was a document: a folder in its place, say)
            return None
        classified.append((relative, document))
        unread = _unread(document, top, root)
        if unread != documents[i]:
            kept[i] = unread
    diagnostics.extend(found.items)
    kept_stamps = tuple(
        was if was == stamp else stamp for was, stamp in zip(stamps, now, strict=True)
    )
    return classified, tuple(kept), kept_stamps


_PATH, _STATUS = operator.attrgetter("path"), operator.itemgetter(1)


def _kept(known: object) -> dict[object, object]:
    """The documents and stamps a folder's earlier entry kept, each by itself."""
    if not (isinstance(known, tuple) and len(known) == 4):
        return {}
    _, documents, _, stamps = known
    return {item: item for item in itertools.chain(documents, stamps)}


def _same_as(value: _T, was: dict[object, object]) -> _T:
    """The equal object of `was`, if there is one, else `value`."""
    return cast(_T, was.get(value, value))


def _classified(
    files: list[tuple[str, Stamps]],
    folder: Folder,
    root: str,
    top: str,
    diagnostics: Diagnostics,
    memo: Memo | None,
) -> list[tuple[str, Document | Unread]]:
    """The documents among `files`, each with its path below the content folder."""
    found = []
    for relative, status in files:
        document = _classify(relative, status, folder, root, top, diagnostics, memo)
        if document is not None:
            found.append((relative, document))
    return found


def _stamp(shown: str, status: Stamps) -> str:
    """A file's name and stamps (size, times, inode): its key in the memo of files read."""
    _, size, mtime, ctime, inode = status
    return f"{shown}\0{size} {mtime} {ctime} {inode}"


def shown(content: Path) -> str:
    """How the paths of documents and diagnostics below `content` begin ('content')."""
    return _display(content, content.resolve().parent)


def _display(path: Path, base: Path) -> str:
    try:
        return path.absolute().relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


class _Files(NamedTuple):
    """A folder's regular files (path below the content folder, stat), in the order of their
    names, listed when first asked for; and whether the folder holds links."""

    folder: Folder
    links: bool

    @property
    def files(self) -> list[tuple[str, Stamps]]:
        path = self.folder.path
        prefix = f"{path}/" if path else ""
        return [
            (prefix + name, status)
            for name, status in self.folder.entries
            if name[:1] != "." and stat.S_ISREG(status[MODE])
        ]


def _files(
    listing: Listing, content: Path, base: Path, diagnostics: Diagnostics
) -> list[tuple[Folder, _Files]]:
    """Every folder in `listing` that holds regular files, with them (`_Files`), in the
    order os.walk finds them: hidden files and folders skipped, links reported, never
    followed, and every folder that cannot be listed reported."""
    found: list[tuple[Folder, _Files]] = []
    for folder in listing.folders:
        if folder.hidden:
            continue
        path = folder.path
        here = os.path.join(listing.top, path) if path else listing.top
        if folder.error is not None:
            # Its files must not vanish silently.
            error = folder.error
            diagnostics.error(
                Location(_display(Path(error.filename or here), base)),
                "E0101",
                f"cannot read the folder: {error.strerror or error}",
            )
            continue
        links = [n for n, s in folder.entries if stat.S_ISLNK(s[MODE])]
        shown = [n for n in links if n[:1] != "."]
        to_folders = [n for n in shown if os.path.isdir(os.path.join(here, n))]
        for name in to_folders:
            _refuse_link(Path(here, name), base, diagnostics, "folder")
        for name in shown:
            if name not in to_folders:
                _refuse_link(Path(here, name), base, diagnostics, "file")
        regular = (n[:1] != "." and stat.S_ISREG(s[MODE]) for n, s in folder.entries)
        if any(regular):
            found.append((folder, _Files(folder, bool(links))))
    return found


def _refuse_link(path: Path, base: Path, diagnostics: Diagnostics, what: str) -> None:
    diagnostics.error(
        Location(_display(path, base)),
        "E0101",
        f"this {what} is a symbolic link, and links are not followed in content/; "
        f"copy the {what} here instead",
    )


def _classify(
    relative: str,
    status: Stamps,
    folder: Folder,
    root: str,
    top: str,
    diagnostics: Diagnostics,
    memo: Memo | None,
) -> Document | Unread | None:
    parts = relative.split("/")
    stem, suffix = _stem_suffix(parts[-1])
    shown = f"{top}/{relative}"  # as _display shows it, without its cost
    file = root + relative
    if len(parts) == 1:
        if parts[0] == SITE_FILE or parts[0] == "site.yml":
            return _read(file, shown, "site", "site", FACT_LIMIT, diagnostics, (), None, status)
        if suffix in YAML_SUFFIXES or suffix == ".md":
            diagnostics.error(
                Location(shown),
                "E0105",
                f"'{parts[0]}' is not read here: put stories in stories/ and facts in a "
                "folder named after their kind (actors/, deposits/, ...)",
            )
        return None
    kind = parts[0]
    if kind not in KINDS:
        if suffix in YAML_SUFFIXES or suffix == ".md":
            diagnostics.error(
                Location(shown),
                "E0105",
                f"'{kind}/' is not a kind of record{_folder_hint(kind)}; "
                f"the kinds are {', '.join(KINDS)}",
            )
        return None
    if kind == STORY:
        return _classify_story(file, parts, stem, suffix, status, folder, shown, diagnostics, memo)
    if suffix in YAML_SUFFIXES:
        return _read(file, shown, kind, stem, FACT_LIMIT, diagnostics, (), memo, status)
    if suffix == ".md":
        diagnostics.error(
            Location(shown),
            "E0105",
            f"a Markdown file in {kind}/: facts are YAML files (.yaml); stories go in stories/",
        )
    return None


def _stem_suffix(name: str) -> tuple[str, str]:
    """A file name's stem, and its suffix in lower case (as `Path.stem`, `Path.suffix`)."""
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:].lower()
    return name, ""


def _folder_hint(name: str) -> str:
    meant = _FOLDER_MEANS.get(name.lower())
    return f" (did you mean '{meant}'?)" if meant else did_you_mean(name.lower(), KINDS)


def _classify_story(
    file: str,
    parts: list[str],
    stem: str,
    suffix: str,
    status: Stamps,
    folder: Folder,
    shown: str,
    diagnostics: Diagnostics,
    memo: Memo | None,
) -> Document | Unread | None:
    if parts[-1] == "index.md" and len(parts) >= 3:
        # The images beside it (regular files, not links), sorted by name as listed.
        here = os.path.dirname(file)
        assets = tuple(
            Path(here, name)
            for name, found in folder.entries
            if _stem_suffix(name)[1] in IMAGE_SUFFIXES and stat.S_ISREG(found[MODE])
        )
        return _read(file, shown, STORY, parts[-2], STORY_LIMIT, diagnostics, assets, memo, status)
    if suffix == ".md":
        beside = parts[-2] != STORY and os.path.join(os.path.dirname(file), "index.md")
        if beside and os.path.exists(beside):
            return None  # a note kept beside a story folder's index.md, not a story
        return _read(file, shown, STORY, stem, STORY_LIMIT, diagnostics, (), memo, status)
    if suffix in YAML_SUFFIXES:
        diagnostics.error(
            Location(shown),
            "E0105",
            "a YAML file in stories/: a story is a Markdown file (.md) with front matter",
        )
    return None


def reread(document: Unread) -> tuple[Document | None, list[Diagnostic]]:
    """Read a file `read_content` left unread; None and why, if it cannot be read now."""
    found = Diagnostics()
    limit = STORY_LIMIT if document.kind == STORY else FACT_LIMIT
    kind, stem, assets = document.kind, document.stem, document.assets
    read = _read(document.file, document.path, kind, stem, limit, found, assets)
    return cast(Document | None, read), found.items


def _read(
    file: str,
    shown: str,
    kind: str,
    stem: str,
    limit: int,
    diagnostics: Diagnostics,
    assets: tuple[Path, ...] = (),
    memo: Memo | None = None,
    status: Stamps | None = None,
) -> Document | Unread | None:
    """Read `file` (`status`: its stamps, if it has been listed), or leave it unread if the
    memo knows its stamps."""
    try:
        if status is None:
            status = stamps_of(os.stat(file))
        size = status[SIZE]
        if size > limit:
            what, advice = (
                ("a story", "move long material out of it")
                if kind == STORY
                else ("a fact file", "split it into several files")
            )
            diagnostics.error(
                Location(shown),
                "E0103",
                f"the file is too large ({size:,} bytes): {what} may hold at most "
                f"{limit // 1048576} MiB ({limit:,} bytes); {advice}",
            )
            return None
        stamp = _stamp(shown, status)
        known = memo.get(stamp) if memo is not None and kind != "site" else None
        if known is not None:
            digest, warnings = known
            if warnings:
                diagnostics.extend(warnings)
            return Unread(shown, kind, stem, digest, assets, file)
        with open(file, "rb") as opened:
            raw = opened.read()
    except OSError as error:
        diagnostics.error(Location(shown), "E0101", f"cannot read the file: {error.strerror}")
        return None
    found = Diagnostics()  # this file's warnings (a BOM), kept with its stamp
    text = _decode(raw, shown, found)
    diagnostics.extend(found.items)
    if text is None:
        return None
    match = _CONTROL.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        name = (
            "a NUL byte"
            if match.group() == "\x00"
            else f"control character U+{ord(match.group()):04X}"
        )
        diagnostics.error(
            Location(shown, line, column),
            "E0104",
            f"the file holds {name}; remove it (is this a text file?)",
        )
        return None
    document = Document(shown, kind, stem, unicodedata.normalize("NFC", text), assets)
    if memo is not None:
        memo.new[stamp] = (document.digest, found.items)
    return document


def _decode(raw: bytes, shown: str, diagnostics: Diagnostics) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        diagnostics.warning(
            Location(shown),
            "W0101",
            "the file starts with a byte-order mark (BOM); it is ignored "
            "(save the file as UTF-8 without BOM to remove it)",
        )
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        column = len(raw[line_start : error.start].decode("utf-8", errors="replace")) + 1
        diagnostics.error(
            Location(shown, line, column),
            "E0102",
            f"the file is not UTF-8 text (byte 0x{raw[error.start]:02X} here): it was saved in "
            "another encoding; save it as UTF-8 and check this character",
        )
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")
