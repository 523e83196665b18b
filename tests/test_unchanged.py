"""The record of the content's files (`unchanged`): each listing's own stamps, worked out
once per listing."""

from __future__ import annotations

import os
from pathlib import Path

from generator import unchanged
from generator.listing import walk


def test_each_listing_gives_its_own_stamps_worked_out_once(tmp_path: Path) -> None:
    (tmp_path / "stories").mkdir()
    story = tmp_path / "stories" / "a.md"
    story.write_text("one", "utf-8")
    first = walk(tmp_path)
    before = unchanged.record(first, [], "content").stamps
    assert unchanged.record(first, [], "content").stamps is before  # the same listing
    story.write_text("one more", "utf-8")
    os.utime(story, ns=(1, 1))
    second = walk(tmp_path)  # the same folder, listed again: other stamps
    after = unchanged.record(second, [], "content").stamps
    assert after == unchanged._listed(second) != before
    assert after["stories/a.md"][1:3] == (8, 1)
    assert unchanged.record(first, [], "content").stamps == unchanged._listed(first) == before
