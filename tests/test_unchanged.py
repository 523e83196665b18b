"""The record of the content's files (`unchanged`): each listing's own stamps, worked out
once per folder and listing; only the folders whose entries changed are looked at again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator import unchanged
from generator.listing import walk
from generator.reading import read_content


def test_each_listing_gives_its_own_stamps_worked_out_once(tmp_path: Path) -> None:
    (tmp_path / "stories").mkdir()
    story = tmp_path / "stories" / "a.md"
    story.write_text("one", "utf-8")
    first = walk(tmp_path)
    folder = first.folders[1]
    before = unchanged._stamps(first, folder)
    assert unchanged._stamps(first, folder) is before  # the same listing
    story.write_text("one more", "utf-8")
    os.utime(story, ns=(1, 1))
    second = walk(tmp_path)  # the same folder, listed again: other stamps
    after = unchanged._stamps(second, second.folders[1])
    assert after == unchanged._listed(second.folders[1]) != before
    assert after["stories/a.md"][1:3] == (8, 1)
    assert unchanged._stamps(first, folder) == unchanged._listed(folder) == before


def _record(content: Path) -> unchanged.Files:
    listing = walk(content)
    documents, problems = read_content(content, None, listing)
    assert not problems
    return unchanged.record(listing, documents, "content")


def _site(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    for folder in ("stories", "actors", "places"):
        (content / folder).mkdir(parents=True)
    (content / "site.yaml").write_text("title: T\n", "utf-8")
    (content / "stories" / "a.md").write_text("---\ntitle: A\n---\nText.\n", "utf-8")
    (content / "actors" / "b.yaml").write_text("name: B\n", "utf-8")
    (content / "places" / "c.yaml").write_text("name: C\n", "utf-8")
    return content


def test_only_the_folders_whose_entries_changed_are_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _site(tmp_path)
    files = _record(content)
    loaded: list[str] = []
    real = unchanged.Files.part
    monkeypatch.setattr(unchanged.Files, "part", lambda f, p: loaded.append(p) or real(f, p))
    story = content / "stories" / "a.md"
    story.write_bytes(story.read_bytes())  # saved again, unchanged
    listing = walk(content)
    again = unchanged.still(listing, files, "content")
    assert again is not None and loaded == ["stories"]
    assert again == _record(content)  # with the story's new stamps
    # The actor changed: found so, its folder alone looked at.
    loaded.clear()
    actor = content / "actors" / "b.yaml"
    actor.write_text("name: Bee\n", "utf-8")
    assert unchanged.still(walk(content), again, "content") is None
    assert loaded == ["actors"]
    # Another content folder, or the same shown otherwise: not the same record.
    assert unchanged.still(listing, files, "elsewhere") is None
    assert unchanged.still(walk(tmp_path), files, "content") is None


def test_a_record_keeps_the_parts_of_the_folders_listed_as_then(tmp_path: Path) -> None:
    content = _site(tmp_path)
    files = _record(content)
    (content / "places" / "c.yaml").write_text("name: Sea\n", "utf-8")
    listing = walk(content)
    documents, _ = read_content(content, None, listing)
    again = unchanged.record(listing, documents, "content", files)
    assert again == _record(content)
    assert list(again.folders) == list(_record(content).folders)  # (in the listing's order)
    assert again.folders["actors"] is files.folders["actors"]  # (not pickled again)
    assert again.folders["places"] != files.folders["places"]
    assert (
        unchanged.record(listing, documents, "shown", files).folders["actors"]
        != (files.folders["actors"])
    )
