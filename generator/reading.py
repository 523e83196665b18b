"""Disk -> documents: find the content files, read them safely, and classify them by kind.

Text comes out decoded, NFC-normalised, with `\\n` line ends and no BOM; every problem with a
file (links, encoding, size, control characters, misplaced files) is a located diagnostic.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import cast

from .cache import Memo
from .diagnostics import Diagnostic, Diagnostics, Location, did_you_mean
from .schema import KINDS, STORY

FACT_LIMIT = 1024 * 1024
STORY_LIMIT = 2 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif")
SITE_FILE = "site.yaml"

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


@dataclass(frozen=True)
class Unread:
    """A content file left unread: its name, size, times and inode are those of a file read
    before, whose text had `digest`. `reread` reads it, if its text is needed after all."""

    path: str
    kind: str
    stem: str
    digest: str
    assets: tuple[Path, ...]
    file: Path


def read_content(
    content: Path, memo: Memo | None = None
) -> tuple[list[Document | Unread], list[Diagnostic]]:
    """Every content file, read, and every problem with the files.

    With a memo of earlier builds, a fact file or story whose stamps (name, size, times,
    inode) are as when it was read is not read again: it comes back as `Unread`, and the
    warnings reading it gave are given again.
    """
    diagnostics = Diagnostics()
    base = content.resolve().parent
    documents: list[Document | Unread] = []
    if not content.is_dir():
        diagnostics.error(
            Location(_display(content.absolute(), base)), "E0101", "no content folder here"
        )
        return documents, diagnostics.items
    top = _display(content, base)  # how paths below it are shown: "content/actors/x.yaml"
    for path in _walk(content, base, diagnostics):
        document = _classify(path, content, top, diagnostics, memo)
        if document is not None:
            documents.append(document)
    if not any(d.kind == "site" for d in documents) and not any(
        d.code == "E0101" and d.location.path.endswith(SITE_FILE) for d in diagnostics.items
    ):
        diagnostics.error(
            Location(_display(content / SITE_FILE, base)),
            "E0101",
            "site.yaml is missing: create it with a line giving the site's title, "
            "e.g. 'title: Mining fact sheets'",
        )
    return documents, diagnostics.items


def _display(path: Path, base: Path) -> str:
    try:
        return path.absolute().relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _walk(content: Path, base: Path, diagnostics: Diagnostics) -> list[Path]:
    """Every regular file below `content`, sorted; links are reported, never followed."""
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        # os.walk skips a folder it cannot list; its files must not vanish silently.
        where = Path(error.filename) if error.filename else content
        diagnostics.error(
            Location(_display(where, base)),
            "E0101",
            f"cannot read the folder: {error.strerror or error}",
        )

    for folder, dirs, files in os.walk(content, onerror=unreadable, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [*dirs]:
            if (here / name).is_symlink():
                dirs.remove(name)
                _refuse_link(here / name, base, diagnostics, "folder")
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                _refuse_link(path, base, diagnostics, "file")
            elif stat.S_ISREG(mode):
                found.append(path)
    return found


def _refuse_link(path: Path, base: Path, diagnostics: Diagnostics, what: str) -> None:
    diagnostics.error(
        Location(_display(path, base)),
        "E0101",
        f"this {what} is a symbolic link, and links are not followed in content/; "
        f"copy the {what} here instead",
    )


def _classify(
    path: Path, content: Path, top: str, diagnostics: Diagnostics, memo: Memo | None
) -> Document | Unread | None:
    relative = path.relative_to(content)
    parts = relative.parts
    suffix = path.suffix.lower()
    shown = f"{top}/{relative.as_posix()}"  # as _display shows it, without its cost
    if len(parts) == 1:
        if parts[0] == SITE_FILE or parts[0] == "site.yml":
            return _read(path, shown, "site", "site", FACT_LIMIT, diagnostics)
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
        return _classify_story(path, relative, shown, diagnostics, memo)
    if suffix in YAML_SUFFIXES:
        return _read(path, shown, kind, path.stem, FACT_LIMIT, diagnostics, memo=memo)
    if suffix == ".md":
        diagnostics.error(
            Location(shown),
            "E0105",
            f"a Markdown file in {kind}/: facts are YAML files (.yaml); stories go in stories/",
        )
    return None


def _folder_hint(name: str) -> str:
    meant = _FOLDER_MEANS.get(name.lower())
    return f" (did you mean '{meant}'?)" if meant else did_you_mean(name.lower(), KINDS)


def _classify_story(
    path: Path, relative: Path, shown: str, diagnostics: Diagnostics, memo: Memo | None
) -> Document | Unread | None:
    suffix = path.suffix.lower()
    if path.name == "index.md" and len(relative.parts) >= 3:
        assets = tuple(
            sorted(
                p
                for p in path.parent.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.is_symlink()
            )
        )
        return _read(path, shown, STORY, path.parent.name, STORY_LIMIT, diagnostics, assets, memo)
    if suffix == ".md":
        if (path.parent / "index.md").exists() and path.parent.name != STORY:
            return None  # a note kept beside a story folder's index.md, not a story
        return _read(path, shown, STORY, path.stem, STORY_LIMIT, diagnostics, memo=memo)
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
    path: Path,
    shown: str,
    kind: str,
    stem: str,
    limit: int,
    diagnostics: Diagnostics,
    assets: tuple[Path, ...] = (),
    memo: Memo | None = None,
) -> Document | Unread | None:
    try:
        status = path.stat()
        size = status.st_size
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
        stamp = f"{shown}\0{size} {status.st_mtime_ns} {status.st_ctime_ns} {status.st_ino}"
        known = memo.get(stamp) if memo is not None and kind != "site" else None
        if known is not None:
            digest, warnings = known
            diagnostics.extend(warnings)
            return Unread(shown, kind, stem, digest, assets, path)
        raw = path.read_bytes()
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
