"""Write a complete site atomically: build beside the old one, then swap it in.

The new tree goes into a hidden temporary folder beside the output folder; only when every
file is written is it renamed into place, so a failed or killed build leaves `site/` as it
was. Folders we make carry a marker file; anything else is never overwritten or deleted.
A file whose bytes are unchanged is hard-linked from the old site instead of written again.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

MARKER = ".factsheet-site"
_TEMP_PREFIX = ".factsheet-tmp-"
_OLD_PREFIX = ".factsheet-old-"


class OutputError(Exception):
    """The output folder cannot be used; the message says why, for the editor."""


def check_output(out: Path, content: Path) -> None:
    """Refuse an output folder that holds the content, a repository, or foreign files."""
    target, source = out.resolve(), content.resolve()
    if target == source or source.is_relative_to(target):
        raise OutputError(f"the output folder {out} holds the content folder; choose another")
    if target.is_relative_to(source):
        raise OutputError(f"the output folder {out} is inside the content folder; choose another")
    if (target / ".git").exists() or target == Path(target.anchor):
        raise OutputError(f"the output folder {out} is a repository or a root; choose another")
    if target.exists() and not target.is_dir():
        raise OutputError(f"the output path {out} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists():
        raise OutputError(
            f"the output folder {out} is not empty and was not made by factsheet; "
            "empty it or choose another"
        )


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in name:
        raise OutputError(f"refusing to write outside the output folder: {name!r}")
    return path


def write_site(out: Path, files: Mapping[str, bytes], copies: Mapping[str, Path]) -> None:
    """Write `files` (path -> bytes) and `copies` (path -> source file) as the new `out`."""
    staging = Staging(out)
    try:
        for name, data in files.items():
            staging.put(name, data)
        for name, source in copies.items():
            staging.put(name, source.read_bytes())
        staging.commit()
    except BaseException:
        staging.discard()
        raise


class Staging:
    """The next site, built in a hidden folder beside the output folder, then swapped in.

    Files are put into it one by one (by any process: `put` needs only the folder's path);
    a file unchanged since the old site is hard-linked from there, and `keep` links an old
    file whose inputs did not change without looking at it. `commit` swaps the folder in;
    `discard` removes it, leaving the old site as it was.
    """

    def __init__(self, out: Path) -> None:
        self.out = out.absolute()
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(parent, self.out.name)
        self.folder = parent / f"{_TEMP_PREFIX}{self.out.name}-{os.getpid()}"
        self.folder.mkdir()
        self._made: set[PurePosixPath] = set()

    def _target(self, name: str) -> tuple[Path, Path]:
        relative = _safe_relative(name)
        if relative.parent not in self._made:
            (self.folder / relative.parent).mkdir(parents=True, exist_ok=True)
            self._made.add(relative.parent)
        return self.out / relative, self.folder / relative

    def put(self, name: str, data: bytes) -> os.stat_result:
        """Write a file (or link the old site's, when its bytes are the same); its status."""
        old, target = self._target(name)
        if not _keep(old, target, data):
            target.write_bytes(data)
        return os.lstat(target)

    def keep(self, name: str) -> None:
        """Link the old site's file, known to be what this build would write."""
        old, target = self._target(name)
        os.link(old, target, follow_symlinks=False)

    def commit(self) -> None:
        (self.folder / MARKER).write_text("made by factsheet; safe to delete with the folder\n")
        _swap(self.folder, self.out)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def site_stamp(out: Path) -> tuple[int, int] | None:
    """The identity of the site now in `out` (its marker file's inode and time), if any:
    a build that finds the stamp it left knows the files there are the ones it wrote."""
    try:
        status = os.lstat(out / MARKER)
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def file_stamp(path: Path) -> tuple[int, int] | None:
    """A file's size and modification time, None if it is not a regular file."""
    try:
        status = os.lstat(path)
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns) if stat.S_ISREG(status.st_mode) else None


def _keep(old: Path, target: Path, data: bytes) -> bool:
    """Link the old site's file into the new tree when its bytes are the same: an unchanged
    page keeps its file (and time), so a deploy tool sees only what changed."""
    try:
        status = os.lstat(old)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return False
        if old.read_bytes() != data:
            return False
        os.link(old, target, follow_symlinks=False)
    except OSError:
        return False
    return True


def _swap(temp: Path, out: Path) -> None:
    if not out.exists():
        temp.rename(out)
        return
    if _exchange(temp, out):
        shutil.rmtree(temp, ignore_errors=True)  # it holds the old site now
        return
    # Without an atomic exchange there is a moment with no output folder at all; a build
    # killed then leaves the old site under _OLD_PREFIX, and the next build puts it back.
    old = out.parent / f"{_OLD_PREFIX}{out.name}-{os.getpid()}"
    out.rename(old)
    temp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two folders in one step (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    status = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if status == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # a kernel or file system without it
    raise OSError(error, os.strerror(error), str(second))


def _remove_leftovers(parent: Path, name: str) -> None:
    """Folders a killed build left beside the output (they carry our prefixes).

    A build killed mid-swap leaves the old site renamed and no output folder: put it back.
    """
    if not (parent / name).exists():
        olds = sorted(p for p in _ours(parent, _OLD_PREFIX, name) if (p / MARKER).exists())
        if olds:
            olds[-1].rename(parent / name)
    for prefix in (_TEMP_PREFIX, _OLD_PREFIX):
        for leftover in _ours(parent, prefix, name):
            shutil.rmtree(leftover, ignore_errors=True)


def _ours(parent: Path, prefix: str, name: str) -> list[Path]:
    """Our hidden folders for the output `name` only: '<prefix><name>-<pid>', not 'site-2'."""
    start = f"{prefix}{name}-"
    return [
        p
        for p in parent.glob(f"{start}*")
        if p.name[len(start) :].isdigit() and p.is_dir() and not p.is_symlink()
    ]
