"""Serve's load by difference: leaving the drafts out, the records by kind and the check
work from the last load in the process, and give what a load without memos gives."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_determinism import FULL

from generator import model, pipeline
from generator.cache import Memo, carry
from generator.diagnostics import Diagnostic
from generator.links import Links
from generator.model import Corpus
from generator.pipeline import MEMOS, Options, load
from generator.schema import KINDS


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new), "utf-8")


STORY = Path("stories") / "blockade-on-mine-road.md"


def _reword(content: Path) -> None:
    story = content / STORY
    story.write_text(story.read_text("utf-8") + "\nThe road reopened.\n", "utf-8")


def _unsourced(content: Path) -> None:
    # W0301 for kestria: a warning where there was none.
    _replace(content / "actors" / "kestria.yaml", "sources:\n  - courier-blockade-report\n", "")


def _isolated(content: Path) -> None:
    # kestria links nowhere now; and kestrel-copper loses a link to it.
    _replace(content / "actors" / "kestria.yaml", "[[kestrel-copper|the mine's operator]]", "x")


def _linked(content: Path) -> None:
    story = content / STORY
    story.write_text(story.read_text("utf-8") + "\nSee [[kestria]].\n", "utf-8")


def _unisolated(content: Path) -> None:
    # aa-lonely's warning (W0302) goes, though its record is the same.
    story = content / STORY
    story.write_text(story.read_text("utf-8") + "\nSee [[aa-lonely]].\n", "utf-8")


# Two places nothing links to or from (W0302), without sources (W0301): their warnings
# come first and last.
LONELY = "name: {name}\ntype: town\n"


def _content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    if content.exists():
        shutil.rmtree(content)
    shutil.copytree(FULL, content)
    for name in ("aa-lonely", "zz-lonely"):
        (content / "places" / f"{name}.yaml").write_text(LONELY.format(name=name), "utf-8")
    return content


def _renamed(content: Path) -> None:
    # Sorts elsewhere among the actors.
    _replace(content / "actors" / "elena-marsh.yaml", "name: Elena Marsh", "name: Zoe Marsh")


def _drafted(content: Path) -> None:
    _replace(content / STORY, "dateline: SAN ISIDRO\n", "dateline: SAN ISIDRO\ndraft: true\n")


def _broken(content: Path) -> None:
    _reword(content)
    _replace(content / STORY, "\nThe road reopened.\n", "\n[[no-such-record]]\n")


def _deleted(content: Path) -> None:
    (content / "places" / "alto-valley.yaml").unlink()


def _added(content: Path) -> None:
    shutil.copy(content / "actors" / "kestria.yaml", content / "actors" / "kestria-two.yaml")


def _clash(content: Path) -> None:
    shutil.copy(content / "actors" / "kestria.yaml", content / "places" / "kestria.yaml")


# Each edit, and whether the check, and the records by kind, work by difference.
EDITS: dict[str, tuple[Callable[[Path], None], bool, bool]] = {
    "reworded story": (_reword, True, True),
    "record unsourced": (_unsourced, True, True),
    "record isolated": (_isolated, True, True),
    "story links a record": (_linked, True, True),
    "story links a lonely record": (_unisolated, True, True),
    "record renamed": (_renamed, False, False),
    "story drafted": (_drafted, False, False),
    "broken link": (_broken, False, True),
    "record deleted": (_deleted, False, False),
    "record added": (_added, False, False),
    "ids clash": (_clash, True, True),  # the second record is left out: nothing changed
}


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the records checked from now on; and every check's warnings are those
    (in the same order) of a check without a memo."""
    checked: list[str] = []
    real, check = pipeline._warnings, pipeline.check_corpus

    def warnings(record: model.Record, links: Links) -> Any:
        checked.append(record.id)
        return real(record, links)

    def check_corpus(corpus: Corpus, links: Links, memo: Memo | None = None) -> Any:
        found = check(corpus, links, memo)
        monkeypatch.setattr(pipeline, "_warnings", real)
        assert found == check(corpus, links)
        monkeypatch.setattr(pipeline, "_warnings", warnings)
        return found

    monkeypatch.setattr(pipeline, "_warnings", warnings)
    monkeypatch.setattr(pipeline, "check_corpus", check_corpus)
    return checked


Loaded = tuple[Corpus | None, Links | None, list[Diagnostic]]


def _load(content: Path, memos: dict[str, Memo]) -> Loaded:
    return load(Options(content=content), memos=memos)


def _same(got: Loaded, want: Loaded) -> None:
    assert got == want
    corpus, clean = got[0], want[0]
    if corpus is None or clean is None:
        return
    assert [r.id for r in corpus] == [r.id for r in clean]
    for kind in KINDS:
        records = corpus.of_kind(kind)
        assert [r.id for r in records] == [r.id for r in clean.of_kind(kind)]
        assert all(r is corpus.records[r.id] for r in records)  # this load's very records


def _next(memos: dict[str, Memo], loaded: Loaded) -> dict[str, Memo]:
    return carry(memos, not any(d.severity.value == "error" for d in loaded[2]))


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_load_by_difference_gives_what_a_clean_load_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    change, quick, by_kind = EDITS[edit]
    content = _content(tmp_path)
    memos = {name: Memo() for name in MEMOS}
    first = _load(content, memos)
    assert first[0] is not None
    assert {d.code for d in first[2]} == {"W0301", "W0302"}
    for kind in KINDS:  # worked out, as the makers would
        first[0].of_kind(kind)
    memos = _next(memos, first)
    change(content)
    checked = _spy(monkeypatch)
    got = _load(content, memos)
    if got[0] is not None:  # (the records by kind taken over, not yet worked out)
        assert quick == (len(checked) < len(got[0].records))
        assert by_kind == ("_by_kind" in vars(got[0]))
    _same(got, _load(content, {name: Memo() for name in MEMOS}))
    # Then the edit undone: from this load's memos, a load gives what a clean one does.
    memos = _next(memos, got)
    _content(tmp_path)
    checked.clear()
    _same(_load(content, memos), _load(content, {name: Memo() for name in MEMOS}))


def test_the_records_by_kind_follow_a_record_whose_name_keeps_its_place() -> None:
    corpus = load(Options(content=FULL))[0]
    assert corpus is not None
    before = corpus.of_kind("actors")
    records = dict(corpus.records)
    records["kestria"] = replace(records["kestria"], name="Kestria!")
    moved = dict(records)
    moved["kestria"] = replace(records["kestria"], name="A Kestria")
    for edited, follows in ((records, True), (moved, False)):
        now = Corpus(corpus.site, edited)
        now.follow(corpus, ["kestria"])
        assert ("_by_kind" in vars(now)) == follows
        want = Corpus(corpus.site, edited).of_kind("actors")
        assert now.of_kind("actors") == want
        assert [r.id for r in want] != [r.id for r in before] or follows
