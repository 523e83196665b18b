"""The output folder: refusals, atomic swap, stale files, leftovers of killed builds, and a
failed build that changes nothing (SPEC §5), through `pipeline.build` and `write` directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.diagnostics import Severity
from generator.pipeline import Options, Result, build
from generator.write import MARKER, OutputError, Staging, check_output, write_site


def make_content(folder: Path) -> Path:
    """A tiny valid site: one actor and one story that names it."""
    content = folder / "content"
    (content / "actors").mkdir(parents=True)
    (content / "stories").mkdir()
    (content / "site.yaml").write_text("title: Write tests\n")
    (content / "actors" / "miner.yaml").write_text("name: A miner\ntype: person\n")
    (content / "actors" / "owner.yaml").write_text("name: An owner\ntype: organization\n")
    (content / "stories" / "pit.md").write_text(
        "---\ntitle: The pit\ndate: 2022-12-10\nactors: [miner, owner]\n---\n[[miner]] works.\n"
    )
    return content


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) below `folder`, hidden ones included."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def run(content: Path, out: Path) -> Result:
    return build(Options(content=content, out=out))


def output_errors(result: Result) -> list[str]:
    return [
        d.message for d in result.diagnostics if d.severity is Severity.ERROR and d.code == "E0601"
    ]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return make_content(tmp_path)


# --- a good build --------------------------------------------------------------------------


def test_build_writes_the_site_with_its_marker_and_nothing_else(
    content: Path, tmp_path: Path
) -> None:
    before = snapshot(content)
    result = run(content, tmp_path / "site")
    assert result.written and not result.failed
    assert (tmp_path / "site" / MARKER).is_file()
    assert (tmp_path / "site" / "actors" / "miner" / "index.html").is_file()
    assert snapshot(content) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]


def test_rebuild_into_its_own_folder_is_allowed(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert run(content, out).written
    first = snapshot(out)
    assert run(content, out).written
    assert snapshot(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]


def test_an_empty_existing_folder_is_used(content: Path, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    assert run(content, tmp_path / "site").written


def test_missing_parent_folders_are_made(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "er" / "site"
    assert run(content, out).written
    assert (out / "index.html").is_file()


# --- refusals ------------------------------------------------------------------------------


def refused(content: Path, out: Path, words: str) -> None:
    parent = content.parent
    before = snapshot(parent)
    result = run(content, out)
    assert not result.written
    errors = output_errors(result)
    assert len(errors) == 1 and words in errors[0], errors
    assert snapshot(parent) == before


def test_refuses_the_folder_that_holds_the_content(content: Path) -> None:
    refused(content, content.parent, "holds the content folder")


def test_refuses_the_content_folder_itself(content: Path) -> None:
    refused(content, content, "holds the content folder")


def test_refuses_a_folder_inside_the_content(content: Path) -> None:
    refused(content, content / "site", "inside the content folder")
    refused(content, content / "actors", "inside the content folder")


def test_refuses_a_repository(content: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    refused(content, repo, "is a repository")


def test_refuses_a_non_empty_folder_it_did_not_make(content: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("years of work\n")
    refused(content, foreign, "not empty and was not made by factsheet")


def test_refuses_a_folder_holding_only_hidden_files(content: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / ".keep").write_text("")
    refused(content, foreign, "not empty and was not made by factsheet")


def test_refuses_a_file(content: Path, tmp_path: Path) -> None:
    (tmp_path / "site").write_text("not a folder\n")
    refused(content, tmp_path / "site", "is a file")


def test_refuses_the_root(content: Path) -> None:
    with pytest.raises(OutputError):
        check_output(Path(content.anchor), content)


def test_write_site_refuses_paths_that_escape_and_leaves_no_trace(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": b"old"}, {})
    before = snapshot(tmp_path)
    for name in ("../escape.html", "/abs.html", "a/../../b.html", "a\\b.html", ""):
        with pytest.raises(OutputError):
            write_site(out, {"index.html": b"new", name: b"x"}, {})
        assert snapshot(tmp_path) == before, name


# --- stale files and leftovers -------------------------------------------------------------


def test_stale_files_are_removed_on_rebuild(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert run(content, out).written
    (out / "stale.html").write_text("from an older build")
    (out / "actors" / "gone").mkdir()
    (out / "actors" / "gone" / "index.html").write_text("a record since deleted")
    (content / "actors" / "owner.yaml").unlink()
    (content / "stories" / "pit.md").write_text(
        "---\ntitle: The pit\ndate: 2022-12-10\nactors: [miner]\n---\nBody.\n"
    )
    assert run(content, out).written
    assert not (out / "stale.html").exists()
    assert not (out / "actors" / "gone").exists()
    assert not (out / "actors" / "owner").exists()
    assert (out / "actors" / "miner" / "index.html").is_file()


def test_a_leftover_temporary_folder_is_removed(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert run(content, out).written
    for leftover in (".factsheet-tmp-site-99999", ".factsheet-old-site-99998"):
        (tmp_path / leftover / "actors").mkdir(parents=True)
        (tmp_path / leftover / "actors" / "half.html").write_text("half written")
    assert run(content, out).written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]


def test_a_build_killed_mid_swap_is_repaired(content: Path, tmp_path: Path) -> None:
    # Killed between renaming the old site away and renaming the new one in: no site/ at all.
    out = tmp_path / "site"
    assert run(content, out).written
    out.rename(tmp_path / ".factsheet-old-site-4242")
    (tmp_path / ".factsheet-tmp-site-4242").mkdir()
    assert run(content, out).written
    assert (out / "index.html").is_file() and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "site"]


def test_leftovers_of_a_sibling_output_are_left_alone(content: Path, tmp_path: Path) -> None:
    sibling_temp = tmp_path / ".factsheet-tmp-site-2-777"
    sibling_temp.mkdir()
    (sibling_temp / "index.html").write_text("another build, still writing")
    assert run(content, tmp_path / "site").written
    assert (sibling_temp / "index.html").is_file()


def test_a_sibling_outputs_old_tree_is_not_taken(content: Path, tmp_path: Path) -> None:
    sibling_old = tmp_path / ".factsheet-old-site-2-777"
    sibling_old.mkdir()
    (sibling_old / MARKER).write_text("made by factsheet\n")
    (sibling_old / "only-in-site-2.html").write_text("site-2's page")
    assert run(content, tmp_path / "site").written
    assert not (tmp_path / "site" / "only-in-site-2.html").exists()
    assert (sibling_old / "only-in-site-2.html").is_file()


# --- a failed build changes nothing ----------------------------------------------------------


def test_a_content_error_leaves_the_old_site_intact(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert run(content, out).written
    (content / "actors" / "miner.yaml").write_text(
        "name: A miner\ntype: person\ncountry: atlantis\n"
    )
    before = snapshot(tmp_path)
    result = run(content, out)
    assert result.failed and not result.written
    assert [d.code for d in result.diagnostics if d.severity is Severity.ERROR] == ["E0401"]
    assert snapshot(tmp_path) == before  # the old site byte for byte, and no temporary folder


def test_a_failed_first_build_writes_nothing_at_all(content: Path, tmp_path: Path) -> None:
    (content / "stories" / "pit.md").write_text("---\ntitle: The pit\n---\nno date\n")
    before = snapshot(tmp_path)
    result = run(content, tmp_path / "new" / "site")
    assert result.failed and not result.written
    assert snapshot(tmp_path) == before


def test_warnings_under_strict_leave_the_old_site_intact(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert run(content, out).written
    before = snapshot(tmp_path)
    result = build(Options(content=content, out=out, strict=True))
    assert result.diagnostics and not result.failed  # warnings only: no source backs them
    assert not result.written
    assert snapshot(tmp_path) == before


def test_a_write_error_leaves_the_old_site_intact(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"index.html": b"old"}, {})
    before = snapshot(tmp_path)
    with pytest.raises(OSError):
        write_site(out, {"index.html": b"new"}, {"image.png": tmp_path / "missing.png"})
    assert snapshot(tmp_path) == before


def test_unchanged_files_are_kept_not_written_again(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(out, {"a.html": b"same", "b.html": b"old", "c.html": b"gone soon"}, {})
    (tmp_path / "elsewhere.html").write_bytes(b"linked")
    before = {name: (out / name).stat().st_ino for name in ("a.html", "b.html")}
    (out / "d.html").symlink_to(tmp_path / "elsewhere.html")  # not ours: never linked
    write_site(out, {"a.html": b"same", "b.html": b"new", "d.html": b"linked"}, {})
    assert (out / "a.html").stat().st_ino == before["a.html"]
    assert (out / "b.html").stat().st_ino != before["b.html"]
    assert not (out / "d.html").is_symlink()
    assert snapshot(out) == {
        MARKER: snapshot(out)[MARKER],
        "a.html": b"same",
        "b.html": b"new",
        "d.html": b"linked",
    }
    assert (tmp_path / "elsewhere.html").read_bytes() == b"linked"


def test_put_writes_the_bytes_makes_the_folders_and_stamps_the_file(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "site")
    data = bytes(range(256)) * 1000
    names = ["index.html", "a/x.json", "a/b/c/index.html", "a/b/y.html", "a/x.json"]
    stamps = {name: staging.put(name, data + name.encode()) for name in names}
    for name, stamp in stamps.items():
        status = (staging.folder / name).lstat()
        assert stamp == (status.st_ino, status.st_size, status.st_mtime_ns)
        assert (staging.folder / name).read_bytes() == data + name.encode()
    (staging.folder / "file").write_bytes(b"")
    with pytest.raises(OSError):  # a file where a folder should be
        staging.put("file/z.html", b"z")
    staging.discard()


def test_a_first_build_looks_for_no_old_site_and_a_later_one_links_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`put` links an unchanged file from the old site: looked for only when there is one."""
    from generator import write

    looked: list[str] = []
    keep = write._keep

    def noting(old: str, target: str, data: bytes) -> bool:
        looked.append(old)
        return keep(old, target, data)

    monkeypatch.setattr(write, "_keep", noting)
    out = tmp_path / "site"
    first = Staging(out)
    first.put("a/index.html", b"same")
    first.commit()
    assert looked == [] and (out / "a" / "index.html").read_bytes() == b"same"
    inode = (out / "a" / "index.html").stat().st_ino
    second = Staging(out)
    second.put("a/index.html", b"same")
    second.put("b.html", b"new")
    second.commit()
    assert looked == [f"{out.absolute()}/a/index.html", f"{out.absolute()}/b.html"]
    assert (out / "a" / "index.html").stat().st_ino == inode  # linked, not written
    assert (out / "b.html").read_bytes() == b"new"


def _made_site(out: Path) -> None:
    first = Staging(out)
    for name, data in {"index.html": b"home", "a/index.html": b"a", "a/b/c.json": b"c"}.items():
        first.put(name, data)
    first.commit()


def test_a_copy_of_the_site_links_each_of_its_files_but_the_marker_on_another_process(
    tmp_path: Path,
) -> None:
    """`SiteCopy` hard-links every file of the site into a folder beside it, in a forked
    process that it waits for once asked the names, and removes the copies that other
    builds left (not its own)."""
    from generator import workers, write

    if not workers.can_fork():
        pytest.skip("the copy is made by a forked process")
    out = tmp_path / "site"
    _made_site(out)
    (out / "a" / "empty").mkdir()
    left = tmp_path / ".factsheet-copy-site-1"  # a failed build's
    (left / "x").mkdir(parents=True)
    # (one left by a process that had this one's id)
    (tmp_path / f".factsheet-copy-site-{os.getpid()}" / "index.html").mkdir(parents=True)
    other = tmp_path / ".factsheet-copy-site-2"  # (another output's name: not ours)
    (tmp_path / ".factsheet-copy-site-2-3").mkdir()
    copy = write.SiteCopy(out)
    assert copy.folder == tmp_path / f".factsheet-copy-site-{os.getpid()}"
    names = copy.names()
    assert names is not None and sorted(names) == ["a/b/c.json", "a/index.html", "index.html"]
    assert copy.names() is names  # (asked again: the same answer, nothing waited for)
    for name in names:
        assert (copy.folder / name).stat().st_ino == (out / name).stat().st_ino
    assert (copy.folder / "a" / "empty").is_dir() and not (copy.folder / MARKER).exists()
    assert not left.exists() and not other.exists()
    assert (tmp_path / ".factsheet-copy-site-2-3").is_dir()
    with pytest.raises(ChildProcessError):  # (waited for: no such child)
        os.waitpid(copy._task.pid, os.WNOHANG)  # type: ignore[union-attr]
    copy.close()


def test_a_site_staged_in_its_copy_writes_only_what_changed_and_the_old_site_is_the_spare(
    tmp_path: Path,
) -> None:
    """Staged in a copy (as in a spare), a new file is written without writing into the
    site's, the copy's files that the new site lacks go at the commit, and the old site
    is kept as the spare; a later staging removes the copy a failed build left."""
    from generator import workers, write

    if not workers.can_fork():
        pytest.skip("the copy is made by a forked process")
    out = tmp_path / "site"
    _made_site(out)
    (out / "hand-made.html").write_bytes(b"stray")
    copy = write.SiteCopy(out)
    names = copy.names()
    assert names is not None
    inode = (out / "a" / "index.html").stat().st_ino
    staging = Staging(out, names, keep_spare=True, copy=copy)
    assert staging.folder == copy.folder
    staging.put("index.html", b"new home")
    staging.commit(["index.html", "a/index.html", "a/b/c.json"])
    copy.close()
    assert snapshot(out) == {
        MARKER: (out / MARKER).read_bytes(),
        "a": None,
        "a/b": None,
        "a/b/c.json": b"c",
        "a/index.html": b"a",
        "index.html": b"new home",
    }
    assert (out / "a" / "index.html").stat().st_ino == inode  # linked, not written
    spare = write.spare_folder(out)
    assert (spare / "index.html").read_bytes() == b"home"  # the old site, as it was
    assert (spare / "hand-made.html").read_bytes() == b"stray"
    assert not copy.folder.exists()
    failed = write.SiteCopy(out)
    assert failed.names() is not None and failed.folder.is_dir()
    failed.close()  # (the build failed: its copy is left)
    Staging(out).discard()
    assert not failed.folder.exists()


def test_a_copy_stopped_before_it_is_made_gives_no_names(tmp_path: Path) -> None:
    """A build that ends before it stages (it failed) stops the copy where it is."""
    from generator import workers, write

    if not workers.can_fork():
        pytest.skip("the copy is made by a forked process")
    out = tmp_path / "site"
    _made_site(out)
    copy = write.SiteCopy(out)
    copy.close()
    assert copy.names() is None
    with pytest.raises(ChildProcessError):
        os.waitpid(copy._task.pid, os.WNOHANG)  # type: ignore[union-attr]
