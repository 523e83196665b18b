"""The one walk of the content a build makes (`listing.walk`): its digest (`listing.stamps`)
notices every change a build must see, and reading takes each file's stamps from it and
opens only the files whose stamps it has not seen."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_determinism import FULL

from generator import cache, listing, pipeline, reading, workers
from generator.cache import Memo
from generator.listing import Listing, Walk, stamps, walk
from generator.pipeline import Options, build
from generator.reading import Document, Unread, read_content
from generator.render import TEMPLATES
from generator.workers import can_fork


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    content, templates = tmp_path / "content", tmp_path / "templates"
    shutil.copytree(FULL, content)
    shutil.copytree(TEMPLATES, templates)
    return content, templates


def _digest(*folders: Path) -> str:
    return stamps(*(walk(folder) for folder in folders))


def _touch_ctime(path: Path) -> None:
    """Change only the file's ctime: the same bytes, size, mtime and inode."""
    before = path.stat()
    deadline = time.monotonic() + 10
    while path.stat().st_ctime_ns == before.st_ctime_ns:
        assert time.monotonic() < deadline, "the ctime did not change"
        time.sleep(0.005)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino, after.st_mode) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
        before.st_mode,
    )


def test_the_listing_is_os_walk_with_stamps(tmp_path: Path) -> None:
    content, _ = _copy(tmp_path)
    (content / ".hidden").mkdir()
    (content / ".hidden" / "x.yaml").write_text("name: X\n", "utf-8")
    (content / "actors" / "link.yaml").symlink_to("elena-marsh.yaml")
    listing = walk(content)
    assert listing.top == str(content)
    walked = []
    for folder, dirs, files in os.walk(content):
        dirs.sort()
        below = "" if folder == str(content) else Path(folder).relative_to(content).as_posix()
        walked.append((below, sorted(dirs + files)))
    assert [(f.path, [name for name, _ in f.entries]) for f in listing.folders] == walked

    def stamps(status: os.stat_result) -> tuple[int, ...]:
        return status.st_mode, status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino

    for folder in listing.folders:
        for name, status in folder.entries:  # links not followed
            assert status == stamps(os.lstat(content / folder.path / name))
    assert all(f.error is None for f in listing.folders)


CHANGES: dict[str, Callable[[Path], None]] = {
    "edit": lambda c: (c / "actors" / "tomas-reyes.yaml").write_text("name: T\n", "utf-8"),
    "new file": lambda c: (c / "actors" / "notes.txt").write_text("a note\n", "utf-8"),
    "deleted file": lambda c: (c / "actors" / "README.txt").unlink(),
    "renamed file": lambda c: (c / "actors" / "tomas-reyes.yaml").rename(c / "actors" / "t.yaml"),
    "moved file": lambda c: (c / "actors" / "tomas-reyes.yaml").rename(
        c / "places" / "tomas-reyes.yaml"
    ),
    "new folder": lambda c: (c / "actors" / "more").mkdir(),
    "ctime only": lambda c: _touch_ctime(c / "actors" / "tomas-reyes.yaml"),
    "mode": lambda c: (c / "actors" / "tomas-reyes.yaml").chmod(0o600),
    "new link": lambda c: (c / "actors" / "l.yaml").symlink_to("tomas-reyes.yaml"),
    "deep edit": lambda c: (c / "stories" / "concession-dispute" / "index.md").write_text(
        "---\ntitle: T\ndate: 2020\n---\n", "utf-8"
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_digest_changes_with_any_change_to_a_folder(tmp_path: Path, change: str) -> None:
    content, templates = _copy(tmp_path)
    before = _digest(content, templates)
    assert _digest(content, templates) == before  # nothing changed: the same digest
    CHANGES[change](content)
    assert _digest(content, templates) != before


@pytest.mark.parametrize("change", ["edit", "new file", "deleted file", "ctime only"])
def test_the_digest_changes_with_any_change_to_the_templates(tmp_path: Path, change: str) -> None:
    content, templates = _copy(tmp_path)
    before = _digest(content, templates)
    page = templates / "404.html"
    if change == "edit":
        page.write_text(page.read_text("utf-8") + "\n", "utf-8")
    elif change == "new file":
        (templates / "extra.html").write_text("x", "utf-8")
    elif change == "deleted file":
        page.unlink()
    else:
        _touch_ctime(page)
    assert _digest(content, templates) != before
    # A file moved from one folder to the other is a change too.
    assert stamps(walk(templates), walk(content)) != _digest(content, templates)


def _read(content: Path, memo: Memo | None, listing: Listing | None = None) -> Any:
    documents, diagnostics = read_content(content, memo, listing)
    return [(type(d), d.path, d.kind, d.stem, d.digest, d.assets) for d in documents], [
        d.format() for d in diagnostics
    ]


def test_reading_with_the_listing_reads_as_without(tmp_path: Path) -> None:
    content, _ = _copy(tmp_path)
    (content / "actors" / "link.yaml").symlink_to("elena-marsh.yaml")
    (content / "places" / "linked").symlink_to("../actors", target_is_directory=True)
    (content / "people").mkdir()
    (content / "people" / "x.yaml").write_text("name: X\n", "utf-8")
    (content / ".hidden.yaml").write_text("name: X\n", "utf-8")
    without = _read(content, None)
    assert any("symbolic link" in d for d in without[1])
    assert _read(content, None, walk(content)) == without
    first = Memo()
    assert _read(content, first, walk(content)) == without
    assert _read(content, Memo(old=first.new)) == _read(content, Memo(old=first.new), walk(content))


def test_a_listing_given_is_not_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content, _ = _copy(tmp_path)
    listing = walk(content)
    expected = _read(content, None)
    monkeypatch.setattr(reading, "walk", lambda *a: pytest.fail("the content was listed again"))
    monkeypatch.setattr(os, "scandir", lambda *a: pytest.fail("a folder was listed again"))
    assert _read(content, None, listing) == expected


def _opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files reading opens from now on."""
    names: list[str] = []

    def opening(file: str, *args: Any, **kwargs: Any) -> Any:
        names.append(file)
        return open(file, *args, **kwargs)

    monkeypatch.setattr(reading, "open", opening, raising=False)
    return names


@pytest.mark.parametrize("change", ["nothing", "edit", "ctime only", "renamed file"])
def test_only_files_with_new_stamps_are_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    content, _ = _copy(tmp_path)
    first = Memo()
    documents, _ = read_content(content, first, walk(content))
    assert all(isinstance(d, Document) for d in documents)
    actor = content / "actors" / "tomas-reyes.yaml"
    if change == "edit":
        actor.write_text(actor.read_text("utf-8") + "# edited\n", "utf-8")
    elif change == "ctime only":
        _touch_ctime(actor)
    elif change == "renamed file":
        actor = actor.rename(content / "actors" / "tomas-reyes-jr.yaml")
    opened = _opened(monkeypatch)
    documents, _ = read_content(content, Memo(old=first.new), walk(content))
    read = sorted(d.path for d in documents if isinstance(d, Document))
    site = [str(content / "site.yaml")]  # read every time: it is small and parsed first
    expected = site if change == "nothing" else sorted([str(actor), *site])
    assert sorted(opened) == expected
    assert read == sorted(f"content/{Path(p).relative_to(content).as_posix()}" for p in expected)
    assert all(isinstance(d, Unread) for d in documents if d.path not in read)


def test_an_unread_file_is_read_again_from_where_it_is(tmp_path: Path) -> None:
    content, _ = _copy(tmp_path)
    first = Memo()
    read_content(content, first)
    documents, _ = read_content(content, Memo(old=first.new), walk(content))
    unread = next(d for d in documents if isinstance(d, Unread) and d.stem == "tomas-reyes")
    assert unread.file == str(content / "actors" / "tomas-reyes.yaml")
    again, problems = reading.reread(unread)
    assert problems == [] and again is not None and again.digest == unread.digest


def test_a_folder_that_cannot_be_listed_is_reported_and_stamped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = _digest(Path("content"))
    real = os.scandir

    def scandir(path: str) -> Any:
        if path.endswith("sources"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = walk(Path("content"))
    assert [f.path for f in listing.folders if f.error is not None] == ["sources"]
    assert stamps(listing) != before
    _, diagnostics = read_content(Path("content"), None, listing)
    assert [d.format() for d in diagnostics if d.code == "E0101"] == [
        "content/sources:1:1: error[E0101]: cannot read the folder: Permission denied"
    ]


def test_a_build_lists_the_content_once_and_sees_a_ctime_only_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, templates = _copy(tmp_path)
    options = Options(
        content=content, out=tmp_path / "site", templates=templates, cache=tmp_path / "cache"
    )
    assert build(options).written
    assert build(options).unchanged
    walked: list[str] = []

    def counted(top: Path) -> Listing:
        walked.append(str(top))
        return walk(top)

    monkeypatch.setattr(pipeline, "walk", counted)  # (the templates)
    monkeypatch.setattr(listing, "walk", counted)  # (the content: see `listing.Walk`)
    monkeypatch.setattr(reading, "walk", lambda *a: pytest.fail("the content was listed again"))
    _touch_ctime(content / "actors" / "tomas-reyes.yaml")
    opened = _opened(monkeypatch)
    result = build(options)
    # Seen, and read again: found as it was, the last build's outcome holds (`unchanged`).
    assert result.written and result.unchanged
    assert sorted(walked) == [str(content), str(templates)]
    assert sorted(opened) == [str(content / "actors" / "tomas-reyes.yaml")]


# --- the walk on another core (`Walk`) -------------------------------------------------------


def _described(found: Listing) -> tuple[str, list[tuple[Any, ...]]]:
    """All that a build takes from a listing, folder by folder (errors by what they say)."""
    folders = []
    for folder in found.folders:
        error = folder.error
        said = None if error is None else (type(error), error.errno, error.strerror, error.filename)
        folders.append((folder.path, folder.entries, said, folder.stamps))
    return found.top, folders


def _fds() -> list[str]:
    return sorted(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else []


def _gone(pid: int) -> bool:
    """Whether the child `pid` was waited for (no such child any more)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("fork", [False, True])
def test_a_walk_on_another_core_lists_as_the_walk_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork: bool
) -> None:
    """Entries, stamps, links, hidden files, a folder that cannot be listed: the forked
    process's listing and digest are the walk's; it is waited for, its pipe closed."""
    if fork and not can_fork():
        pytest.skip("no fork here")
    content, _ = _copy(tmp_path)
    (content / "actors" / "link.yaml").symlink_to("elena-marsh.yaml")
    (content / ".hidden").mkdir()
    (content / ".hidden" / "x.yaml").write_text("name: X\n", "utf-8")
    real = os.scandir

    def scandir(path: str) -> Any:  # (the forked process has it too)
        if path.endswith("sources"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    fds = _fds()
    walking = Walk(content, fork=fork)
    walker = walking._walker
    assert (walker is not None) == fork
    assert walking.stamps() == stamps(walk(content))
    assert _described(walking.listing()) == _described(walk(content))
    assert [f.path for f in walking.listing().folders if f.error is not None] == ["sources"]
    walking.close()
    assert walker is None or _gone(walker.pid)
    assert _fds() == fds


@pytest.mark.parametrize("sent", ["nothing", "the digest"])
def test_a_walk_whose_process_fails_is_made_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: str
) -> None:
    """A forked process that ends before it sent the digest, or the listing: the walk is
    made here, and the digest is of that walk."""
    if not can_fork():
        pytest.skip("no fork here")
    content, _ = _copy(tmp_path)

    def failing(top: Path, pipe: Any) -> None:
        if sent == "the digest":
            pipe.send("the digest of a walk whose listing never comes")
        raise RuntimeError("killed")

    monkeypatch.setattr(listing, "_walk_there", failing)
    fds = _fds()
    walking = Walk(content)
    walker = walking._walker
    assert walker is not None
    if sent == "the digest":
        assert walking.stamps() == "the digest of a walk whose listing never comes"
    assert _described(walking.listing()) == _described(walk(content))
    assert walking.stamps() == stamps(walk(content))
    walking.close()
    assert _gone(walker.pid) and _fds() == fds


def test_a_walk_closed_before_it_answered_leaves_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build with nothing to do, or one that fails, does not wait for the walk: the
    forked process is stopped where it is, and waited for."""
    if not can_fork():
        pytest.skip("no fork here")
    content, _ = _copy(tmp_path)
    monkeypatch.setattr(listing, "_walk_there", lambda top, pipe: signal.pause())
    fds = _fds()
    walking = Walk(content)
    walker = walking._walker
    assert walker is not None and not walking.ready()
    walking.close()
    assert _gone(walker.pid) and _fds() == fds


def _options(tmp_path: Path, jobs: int) -> Options:
    content, templates = _copy(tmp_path)
    return Options(
        content=content,
        out=tmp_path / "site",
        templates=templates,
        cache=tmp_path / "cache",
        jobs=jobs,
    )


def _walks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Walk, int | None]]:
    """The content walks builds make from now on, each with its process's id, if forked."""
    made: list[tuple[Walk, int | None]] = []
    real = pipeline.Walk

    def spied(*args: Any, **kwargs: Any) -> Walk:
        walking = real(*args, **kwargs)
        made.append((walking, None if walking._walker is None else walking._walker.pid))
        return walking

    monkeypatch.setattr(pipeline, "Walk", spied)
    return made


def test_a_build_with_nothing_to_do_stops_loading_the_cache_once_the_content_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The content is listed on another core while the cache loads; once it is, and is as
    the last build left it, the loading stops there, and the outcome is the last build's."""
    if not can_fork():
        pytest.skip("no fork here")
    options = _options(tmp_path, jobs=2)
    first = build(options)
    assert first.written
    walks = _walks(monkeypatch)
    asked: list[bool] = []
    real = Walk.ready

    def ready(self: Walk) -> bool:
        """Not yet, before the cache begins to load; then, as soon as it is (waited for)."""
        asked.append(real(self))
        if len(asked) > 1:
            self.stamps()
        return len(asked) > 1

    monkeypatch.setattr(Walk, "ready", ready)
    monkeypatch.setattr(cache, "_ASK_SECONDS", 0)
    loaded: list[object] = []
    real_part = cache._load_part
    monkeypatch.setattr(cache, "_load_part", lambda *a: loaded.append(a) or real_part(*a))
    fds = _fds()
    result = build(options)
    assert result.unchanged and result.written and result.diagnostics == first.diagnostics
    assert len(asked) > 1 and loaded == []  # (stopped before the base's first part)
    (walking, pid), *_ = walks
    assert pid is not None and _gone(pid) and walking._pipe is None and _fds() == fds
    # Loaded to the end when something changed (and the walk not asked to stop it).
    monkeypatch.setattr(Walk, "ready", real)
    (options.content / "actors" / "tomas-reyes.yaml").write_text("name: T\n", "utf-8")
    assert not build(options).unchanged and loaded


def test_a_file_saved_unchanged_is_found_so_with_the_walk_on_another_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its new stamps are saved with the last build's state: the next build has nothing to
    do as soon as it has the digest (nothing read again)."""
    if not can_fork():
        pytest.skip("no fork here")
    options = _options(tmp_path, jobs=2)
    assert build(options).written
    _touch_ctime(options.content / "actors" / "tomas-reyes.yaml")
    opened = _opened(monkeypatch)
    assert build(options).unchanged
    assert opened == [str(options.content / "actors" / "tomas-reyes.yaml")]
    monkeypatch.setattr(pipeline, "_same_content", lambda *a: pytest.fail("compared again"))
    assert build(options).unchanged


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_build_that_fails_as_the_cache_loads_leaves_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """Interrupted (Ctrl-C) while the cache loads: the walk's process, if any, is stopped
    and waited for, its pipe closed. One job: no process forked, the walk made first."""
    options = _options(tmp_path, jobs)
    assert build(options).written
    walks = _walks(monkeypatch)
    if jobs == 1:
        monkeypatch.setattr(workers, "aside", lambda *a: pytest.fail("forked"))
    elif not can_fork():
        pytest.skip("no fork here")

    def interrupted(*args: object) -> None:
        assert walks[-1][0].ready() or jobs > 1
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "load", interrupted)
    (options.content / "actors" / "tomas-reyes.yaml").write_text("name: T\n", "utf-8")
    fds = _fds()
    with pytest.raises(KeyboardInterrupt):
        build(options)
    (walking, pid), *_ = walks
    assert (pid is None) == (jobs == 1)
    assert pid is None or _gone(pid)
    assert walking._pipe is None and _fds() == fds
