"""Write a complete site atomically: build beside the old one, then swap it in.

The new tree goes into a hidden temporary folder beside the output folder; only when every
file is written is it renamed into place, so a failed or killed build leaves `site/` as it
was. Folders we make carry a marker file; anything else is never overwritten or deleted.
A file whose bytes are unchanged is hard-linked from the old site instead of written again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import sys
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path, PurePosixPath

from . import workers

MARKER = ".factsheet-site"
_TEMP_PREFIX = ".factsheet-tmp-"
_OLD_PREFIX = ".factsheet-old-"
_SPARE_PREFIX = ".factsheet-spare-"
_COPY_PREFIX = ".factsheet-copy-"
_MARKER_TEXT = "made by factsheet; safe to delete with the folder\n"


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


def _safe_relative(name: str) -> str:
    """`name`, a path inside the output folder ('a/b.html'), or an OutputError."""
    parts = name.split("/")
    if not name or name.startswith("/") or ".." in parts or "\\" in name or "\0" in name:
        raise OutputError(f"refusing to write outside the output folder: {name!r}")
    return name


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


# A file's identity and state: inode, size, modification time (ns).
Stamp = tuple[int, int, int]


class Staging:
    """The next site, made in a hidden folder beside the output folder, then swapped in.

    The folder is new, or it is the spare: the site before the current one, which the last
    swap left beside it (`keep_spare`) and which `spare` lists, brought up to date file by
    file, so that only what differs from the new site is written, linked or removed. The
    spare's marker file goes first: a build killed meanwhile leaves a spare no one trusts.
    Files are put by any process (`put` needs only paths). `commit` swaps the folder in (the
    old site becomes the spare); `discard` removes the folder, leaving the site as it was.
    """

    def __init__(
        self,
        out: Path,
        spare: Iterable[str] | None = None,
        *,
        keep_spare: bool = False,
        copy: SiteCopy | None = None,
    ) -> None:
        self.out = out.absolute()
        self.keep_spare = keep_spare
        parent = self.out.parent
        # Whether there is an old site whose unchanged files `put` may link: not on a first
        # build, where looking for each file there (87,000 at 10,000 stories) finds none.
        self.linking = self.out.is_dir()
        parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(parent, self.out.name, copy.folder if copy is not None else None)
        self.spare = spare_folder(self.out)
        # (read at the commit, if at all: see there)
        self.spare_names = spare if keep_spare or copy is not None else None
        if copy is not None:  # a copy of the site, in the place of a spare (see `SiteCopy`)
            shutil.rmtree(self.spare, ignore_errors=True)
            self.folder = copy.folder
        elif self.spare_names is not None:
            self.folder = self.spare
            (self.folder / MARKER).unlink()
        else:
            shutil.rmtree(self.spare, ignore_errors=True)
            self.folder = parent / f"{_TEMP_PREFIX}{self.out.name}-{os.getpid()}"
            self.folder.mkdir()
        self._made: set[str] = set()

    def _target(self, name: str, *, make: bool = True) -> tuple[str, str]:
        """The file's path in the site and in the folder (made, unless make=False)."""
        relative = _safe_relative(name)
        parent = relative.rpartition("/")[0]
        if make and parent not in self._made:
            _folder(f"{self.folder}/{parent}")
            self._made.add(parent)
        return f"{self.out}/{relative}", f"{self.folder}/{relative}"

    def put(self, name: str, data: bytes) -> Stamp:
        """Write a file (or link the site's, when its bytes are the same); its stamp."""
        old, target = self._target(name)
        if self.spare_names is not None:
            _unlink(target)  # it may be a link to the site's file: never write into that
        if self.linking and _keep(old, target, data):
            return stamp_of(os.lstat(target))
        # (os.open and os.write: no file object for each of 145,000 files at 10,000 stories;
        # the stamp from the open file, which closing does not change)
        fd = os.open(target, _NEW_FILE, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return stamp_of(os.fstat(fd))
        finally:
            os.close(fd)

    def keep(self, name: str) -> None:
        """Link the site's file, known to be what this build would write."""
        if self.spare_names is not None:
            old, target = self._target(name, make=False)
            try:
                if os.lstat(target).st_ino == os.lstat(old).st_ino:
                    return  # the spare holds this very file already
            except OSError:
                pass
            _unlink(target)
        old, target = self._target(name)
        os.link(old, target, follow_symlinks=False)

    def commit(self, names: Iterable[str] = (), gone: Iterable[str] | None = None) -> None:
        """Swap the new site in. `names`: every file of the new site (the spare may hold
        others, which go); or, instead, `gone`: the files the spare holds that the new site
        does not, known to the caller."""
        if self.spare_names is not None:
            if gone is None:
                gone = set(self.spare_names).difference(names)
            for name in sorted(gone):
                _remove(self.folder, PurePosixPath(_safe_relative(name)))
        (self.folder / MARKER).write_text(_MARKER_TEXT)
        old = _swap(self.folder, self.out)
        if old is None:
            return
        if self.keep_spare:
            if old != self.spare:
                old.rename(self.spare)
        else:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if self.folder != self.spare:
            shutil.rmtree(self.folder, ignore_errors=True)


class SiteCopy:
    """The site's files hard-linked into a folder beside it by a forked process, while this
    one goes on with the build: staged there (as in a spare, see `Staging`), a new site
    needs only the files that changed written.

    For a new process's rebuild when there is no spare (see `pipeline._copy`; a full
    build leaves one, as a rule: see `SpareCopy`): it would otherwise link every unchanged
    file of the site itself, once
    the pages are made (145,000 files at 10,000 stories: 1.4 s of a one-story rebuild's
    5 s), while the other core waits for work. Begun before the build cache is loaded.
    """

    def __init__(self, out: Path) -> None:
        self.out = out.absolute()
        self.folder = _copy_folder(self.out)
        self.stamp = site_stamp(self.out)  # (the site copied: the build's, not changed since)
        self._names: list[str] | None = None
        read, write = os.pipe()
        self._task = workers.aside(partial(_copy_site, self.out, self.folder, read, write))
        os.close(write)
        self._pipe: int | None = read
        if self._task is None:
            self.close()

    def names(self) -> list[str] | None:
        """The names of the files copied (every file of the site but its marker), once the
        copy is made; None if it failed (or there was no fork)."""
        if self._pipe is None or self._task is None:
            return self._names
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := os.read(self._pipe, 1 << 20):
                chunks.append(chunk)
        if self._task.wait():  # (it ends once it has sent them)
            joined = b"".join(chunks)
            self._names = os.fsdecode(joined).split("\0") if joined else []
        self.close()
        return self._names

    def close(self) -> None:
        """Stop the copy if it is still being made (a build that failed, or had nothing
        to write: the folder is left for the next build to remove, see `_remove_leftovers`)."""
        if self._task is not None:
            self._task.stop()
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None


def _copy_folder(out: Path) -> Path:
    """This process's copy of the site `out`, beside it (see `SiteCopy`, `SpareCopy`): a
    folder with our prefix, which `_remove_leftovers` removes if a build leaves it."""
    return out.parent / f"{_COPY_PREFIX}{out.name}-{os.getpid()}"


def _copy_site(out: Path, folder: Path, read: int, write: int) -> None:
    """In the forked process (see `SiteCopy`): remove the copies that earlier builds left
    (not on the build's way; one may have had this process's id), link each file of `out`
    into `folder`, then send their names."""
    os.close(read)
    for leftover in _ours(out.parent, _COPY_PREFIX, out.name):
        shutil.rmtree(leftover, ignore_errors=True)
    names: list[str] = []
    os.mkdir(folder)
    _link_tree(f"{out}/", f"{folder}/", "", names)
    data = memoryview(os.fsencode("\0".join(names)))
    while data:
        data = data[os.write(write, data) :]
    os.close(write)


def _link_tree(source: str, target: str, relative: str, names: list[str]) -> None:
    """Link each file under `source` + `relative` into `target` + `relative` (a folder, its
    subfolders made), but the site's marker; their names (relative to `source`) go in
    `names`."""
    with os.scandir(source + relative) as entries:
        for entry in entries:
            name = relative + entry.name
            if entry.is_dir(follow_symlinks=False):
                os.mkdir(target + name)
                _link_tree(source, target, name + "/", names)
            elif name != MARKER:
                os.link(source + name, target + name, follow_symlinks=False)
                names.append(name)


class SpareCopy:
    """A spare made of the site a build has just made, when it left none: its files
    hard-linked into a folder beside it by a forked process while the build saves its
    cache, the folder then renamed the spare. The next build stages in the spare, writing
    only what changed, instead of copying the site then (see `SiteCopy`), on the core that
    its own work needs (at 10,000 stories: 1.5 s of CPU, where a one-story rebuild takes
    3 s of the other core).

    The marker file goes first (`stamp`: the spare's, as the build cache records it); the
    folder has the spare's name only once every file is in it, so that a spare no one
    trusts is all that a failed or killed copy leaves (a folder with our prefix, which
    the next build removes). The build waits for it (`wait`) before it ends.
    """

    def __init__(self, out: Path) -> None:
        self.out = out.absolute()
        self.folder = _copy_folder(self.out)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir()
        (self.folder / MARKER).write_text(_MARKER_TEXT)
        self.stamp = site_stamp(self.folder)
        self._task = workers.aside(partial(_spare_site, self.out, self.folder))
        if self._task is None:  # (without fork)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.stamp = None

    def wait(self) -> bool:
        """Whether the spare was made: waited for (as long as it takes: a build that
        ends, interrupted, ends it too; see `workers.aside`)."""
        task, self._task = self._task, None
        return task is not None and task.wait()


def _spare_site(out: Path, folder: Path) -> None:
    """In the forked process (see `SpareCopy`): link every file of `out` into `folder`,
    then give it the spare's name (only if there is no spare: OSError, and the folder is
    left for the next build to remove)."""
    _link_tree(f"{out}/", f"{folder}/", "", [])
    os.rename(folder, spare_folder(out))


def spare_folder(out: Path) -> Path:
    """Where the site before the current one is kept, beside it."""
    out = out.absolute()
    return out.parent / f"{_SPARE_PREFIX}{out.name}"


def site_stamp(out: Path) -> Stamp | None:
    """The identity of a site folder (its marker file's stamp), if it has one: a build that
    finds the stamp it left knows the files there are the ones it wrote."""
    try:
        return stamp_of(os.lstat(out / MARKER))
    except OSError:
        return None


def as_written(folder: str, files: Iterable[tuple[str, Stamp]]) -> bool:
    """Whether each file is in `folder` (a path that ends in '/') with its stamp: a regular
    file, as it was written. (The loop of a rebuild's check of every file: kept tight.)"""
    lstat, regular = os.lstat, stat.S_ISREG
    for name, stamp in files:
        try:
            status = lstat(folder + name)
        except OSError:
            return False
        if stamp_of(status) != stamp or not regular(status.st_mode):
            return False
    return True


# How `open(path, "wb")` opens a file.
_NEW_FILE = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


def _folder(path: str) -> None:
    """`os.makedirs(path, exist_ok=True)`, in one call where its parent is there already
    (the folder of each record's page: made once, its kind's folder known)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def stamp_of(status: os.stat_result) -> Stamp:
    """A file's stamp: its inode, size and modification time (ns)."""
    return status.st_ino, status.st_size, status.st_mtime_ns


def _remove(folder: Path, relative: PurePosixPath) -> None:
    """Remove a file and the folders it leaves empty, up to `folder`."""
    (folder / relative).unlink(missing_ok=True)
    for parent in relative.parents:
        if parent == PurePosixPath("."):
            break
        try:
            os.rmdir(folder / parent)
        except OSError:  # not empty (or gone)
            break


def _keep(old: str, target: str, data: bytes) -> bool:
    """Link the old site's file into the new tree when its bytes are the same: an unchanged
    page keeps its file (and time), so a deploy tool sees only what changed."""
    try:
        status = os.lstat(old)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return False
        with open(old, "rb") as file:
            if file.read() != data:
                return False
        os.link(old, target, follow_symlinks=False)
    except OSError:
        return False
    return True


def _swap(temp: Path, out: Path) -> Path | None:
    """Put `temp` in the place of `out`; where the old site is now (None: there was none)."""
    if not out.exists():
        temp.rename(out)
        return None
    if _exchange(temp, out):
        return temp  # it holds the old site now
    # Without an atomic exchange there is a moment with no output folder at all; a build
    # killed then leaves the old site under _OLD_PREFIX, and the next build puts it back.
    old = out.parent / f"{_OLD_PREFIX}{out.name}-{os.getpid()}"
    out.rename(old)
    temp.rename(out)
    return old


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


def _remove_leftovers(parent: Path, name: str, mine: Path | None = None) -> None:
    """Folders a killed build left beside the output (they carry our prefixes), but `mine`
    (this build's copy of the site). (A copy that a failed build left is removed, as a
    rule, by the process that makes the next copy: see `_copy_site`.)

    A build killed mid-swap leaves the old site renamed and no output folder: put it back.
    """
    if not (parent / name).exists():
        olds = sorted(p for p in _ours(parent, _OLD_PREFIX, name) if (p / MARKER).exists())
        if olds:
            olds[-1].rename(parent / name)
    for prefix in (_TEMP_PREFIX, _OLD_PREFIX, _COPY_PREFIX):
        for leftover in _ours(parent, prefix, name):
            if leftover != mine:
                shutil.rmtree(leftover, ignore_errors=True)


def _ours(parent: Path, prefix: str, name: str) -> list[Path]:
    """Our hidden folders for the output `name` only: '<prefix><name>-<pid>', not 'site-2'."""
    start = f"{prefix}{name}-"
    return [
        p
        for p in parent.glob(f"{start}*")
        if p.name[len(start) :].isdigit() and p.is_dir() and not p.is_symlink()
    ]
