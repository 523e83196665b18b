"""Reading with the memo of the last build: a folder whose entries all have the stamps they
had is not looked at file by file; any change to an entry (even one that keeps its size and
modification time) makes the folder be read again, and then only its changed files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator import reading
from generator.cache import Memo
from generator.reading import Document, Unread, read_content


def write_content(top: Path) -> Path:
    content = top / "content"
    for folder in ("actors", "stories"):
        (content / folder).mkdir(parents=True)
    (content / "site.yaml").write_text("title: T\n", "utf-8")
    (content / "actors" / "a.yaml").write_text("name: A\n", "utf-8")
    (content / "actors" / "b.yaml").write_text("name: B\n", "utf-8")
    (content / "actors" / "notes.md").write_text("misplaced\n", "utf-8")  # an error, kept
    (content / "stories" / "s.md").write_text("---\ntitle: S\n---\nText.\n", "utf-8")
    return content


def looked_at(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files classified one by one from now on."""
    seen: list[str] = []
    real = reading._classify

    def classify(relative: str, *args: object) -> object:
        seen.append(relative)
        return real(relative, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reading, "_classify", classify)
    return seen


def again(content: Path, memo: Memo) -> tuple[list[Document | Unread], list[str], Memo]:
    """Read with the memo the last read left; the documents, the problems, the new memo."""
    memo = Memo(old=memo.new)
    documents, problems = read_content(content, memo)
    return documents, [str(p) for p in problems], memo


def what(documents: list[Document | Unread]) -> list[tuple[str, str, str, str]]:
    return [(d.path, d.kind, d.stem, d.digest) for d in documents]


def test_an_unchanged_folder_gives_its_documents_and_problems_again_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = write_content(tmp_path)
    first, problems, memo = again(content, Memo())
    assert any("notes.md" in p and "E0105" in p for p in problems)
    seen = looked_at(monkeypatch)
    documents, problems_again, memo = again(content, memo)
    assert seen == ["site.yaml"]  # the content folder itself is always read
    assert what(documents) == what(first)
    assert problems_again == problems
    assert all(isinstance(d, Unread) for d in documents if d.kind != "site")
    # And once more: the memo keeps what it gave.
    seen.clear()
    documents, _, _ = again(content, memo)
    assert seen == ["site.yaml"] and what(documents) == what(first)


def test_a_file_rewritten_with_the_same_size_and_time_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = write_content(tmp_path)
    _, _, memo = again(content, Memo())
    _, _, memo = again(content, memo)  # reused once: the per-file entries must survive it
    actor = content / "actors" / "a.yaml"
    before = actor.stat()
    actor.write_text("name: Z\n", "utf-8")
    os.utime(actor, ns=(before.st_atime_ns, before.st_mtime_ns))
    seen = looked_at(monkeypatch)
    documents, _, _ = again(content, memo)
    assert sorted(seen) == ["actors/a.yaml", "actors/b.yaml", "actors/notes.md", "site.yaml"]
    read = {d.path: d for d in documents}
    assert isinstance(read["content/actors/a.yaml"], Document)
    assert read["content/actors/a.yaml"].text == "name: Z\n"
    assert isinstance(read["content/actors/b.yaml"], Unread)  # its own entry, still known


def test_a_new_file_in_a_folder_is_found(tmp_path: Path) -> None:
    content = write_content(tmp_path)
    _, _, memo = again(content, Memo())
    (content / "actors" / "c.yaml").write_text("name: C\n", "utf-8")
    documents, _, _ = again(content, memo)
    assert "content/actors/c.yaml" in {d.path for d in documents}


def test_a_folder_that_holds_a_link_is_read_file_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = write_content(tmp_path)
    (content / "stories" / "elsewhere.md").symlink_to(tmp_path / "nowhere.md")
    _, problems, memo = again(content, Memo())
    assert any("symbolic link" in p for p in problems)
    seen = looked_at(monkeypatch)
    _, problems_again, _ = again(content, memo)
    assert "stories/s.md" in seen and "actors/a.yaml" not in seen
    assert problems_again == problems


def test_a_changed_folder_keeps_what_it_kept_of_its_unchanged_files(tmp_path: Path) -> None:
    content = write_content(tmp_path)
    for i in range(5):
        (content / "actors" / f"x{i}.yaml").write_text(f"name: X{i}\n", "utf-8")
    _, _, memo = again(content, Memo())
    key = next(k for k in memo.new if k.startswith("folder\0") and k.endswith("\0actors"))
    _, kept, _, stamps = memo.new[key]
    (content / "actors" / "x2.yaml").write_text("name: X2 edited\n", "utf-8")
    documents, _, memo = again(content, memo)
    _, kept_now, _, stamps_now = memo.new[key]
    assert [d.path for d in kept_now] == [d.path for d in kept]
    # The very objects of the last entry (which the cache's delta refers to), but the
    # edited file's, which is new.
    same = [now is was for now, was in zip(kept_now, kept, strict=True)]
    assert same == [not d.path.endswith("x2.yaml") for d in kept]
    assert [now is was for now, was in zip(stamps_now, stamps, strict=True)] == same
    assert kept_now[same.index(False)].digest == next(
        d.digest for d in documents if d.path.endswith("x2.yaml")
    )


def test_a_changed_folder_of_documents_alone_looks_only_at_the_files_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose last entry holds a document for each of its files, and no problem:
    the files with the stamps it kept are those documents, the others are classified (one
    story edited: one of the stories); documents, problems and memo entries are those a
    look at every file gives."""
    content = write_content(tmp_path)
    for i in range(6):
        (content / "stories" / f"t{i}.md").write_text(f"---\ntitle: T{i}\n---\n{i}\n", "utf-8")
    _, _, memo = again(content, Memo())
    (content / "stories" / "t3.md").write_text("---\ntitle: T3\n---\nEdited.\n", "utf-8")
    seen = looked_at(monkeypatch)
    documents, problems, made = again(content, memo)
    assert sorted(seen) == ["site.yaml", "stories/t3.md"]
    assert isinstance({d.path: d for d in documents}["content/stories/t3.md"], Document)
    fresh, fresh_problems = read_content(content, None)
    assert what(documents) == what(fresh) and problems == [str(p) for p in fresh_problems]
    # As looking at each file leaves the memo.
    monkeypatch.setattr(reading, "_restamped", lambda *args: None)
    seen.clear()
    documents_each, problems_each, made_each = again(content, memo)
    assert "stories/t0.md" in seen and "stories/t3.md" in seen
    assert what(documents_each) == what(documents) and problems_each == problems
    assert made_each.new == made.new
    # A file that changed into something else than a document (a folder, here): looked at
    # file by file, as before.
    (content / "stories" / "t4.md").unlink()
    (content / "stories" / "t4.md").mkdir()
    monkeypatch.undo()
    seen = looked_at(monkeypatch)
    documents, _, _ = again(content, made)
    assert "content/stories/t4.md" not in {d.path for d in documents}
