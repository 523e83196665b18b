"""The link stage's memo of whole visits: after every kind of edit, linking with the memo of
a cached build gives exactly what linking without one gives, and visits only the records
whose content, or whose view of another record, changed (and those with a diagnostic)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from test_determinism import FULL

from generator import cache, links
from generator.cache import Memo
from generator.diagnostics import Diagnostic
from generator.links import Links, link_corpus
from generator.model import Citation, Corpus, Publisher, Record, Ref, Text
from generator.parse import parse_documents
from generator.pipeline import MEMOS, Options, build, load
from generator.reading import read_content
from generator.schema import STORY


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new), "utf-8")


def _rename(content: Path) -> None:
    # Others show the name through their [[elena-marsh]] links; quotes name her by `by`.
    _replace(content / "actors" / "elena-marsh.yaml", "name: Elena Marsh", "name: Elena March")


def _retype(content: Path) -> None:
    # An actor's `country` must name a state: every actor of Norvalia is now wrong (E0402).
    _replace(content / "actors" / "norvalia.yaml", "type: state", "type: organization")


def _delete(content: Path) -> None:
    # Named by references (E0401) and by [[links]] (E0403).
    (content / "actors" / "kestrel-copper.yaml").unlink()


def _draft(content: Path) -> None:
    # Named by an event's `stories` and linked from another story: neither is an error now.
    story = content / "stories" / "blockade-on-mine-road.md"
    _replace(story, "dateline: SAN ISIDRO\n", "dateline: SAN ISIDRO\ndraft: true\n")


def _allow_html(content: Path) -> None:
    _replace(content / "site.yaml", "allow_html: false", "allow_html: true")


def _nothing(content: Path) -> None:
    """No edit at all."""


# Each edit; the id that others now see differently, and how they must name it to be
# visited again ("ref": a reference or a source's publisher, "link": a [[link]]); the codes
# of the diagnostics it causes.
EDITS: dict[str, tuple[Callable[[Path], None], str | None, set[str], set[str]]] = {
    "none": (_nothing, None, set(), set()),
    "rename": (_rename, "elena-marsh", {"link"}, set()),
    "type": (_retype, "norvalia", {"ref"}, {"E0402"}),
    "delete": (_delete, "kestrel-copper", {"ref", "link"}, {"E0401", "E0403"}),
    "draft": (_draft, "blockade-on-mine-road", {"ref", "link"}, set()),
    "allow_html": (_allow_html, None, set(), set()),
}


def _corpus(content: Path) -> tuple[Corpus, frozenset[str]]:
    """The corpus the pipeline links, without its drafts, and the ids of the drafts."""
    documents, _ = read_content(content)
    corpus, _ = parse_documents(documents)
    assert corpus is not None
    drafts = frozenset(r.id for r in corpus if r.kind == STORY and r.get("draft") is True)
    kept = {i: r for i, r in corpus.records.items() if i not in drafts}
    return Corpus(corpus.site, kept), drafts


def _cached(tmp_path: Path) -> tuple[Path, Memo]:
    """A copy of the full fixture, built once with a cache, and the link stage's memo."""
    content, folder = tmp_path / "content", tmp_path / "cache"
    shutil.copytree(FULL, content)
    result = build(Options(content=content, out=tmp_path / "site", cache=folder))
    assert result.written, [d.format() for d in result.diagnostics]
    return content, cache.load(folder, MEMOS)["markdown"]


def _visited(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the records _Linker.visit is given from now on (in this process)."""
    seen: list[str] = []
    real = links._Linker.visit

    def visit(self: links._Linker, record: Record) -> None:
        seen.append(record.id)
        real(self, record)

    monkeypatch.setattr(links._Linker, "visit", visit)
    return seen


def _same(got: tuple[Links, list[Diagnostic]], want: tuple[Links, list[Diagnostic]]) -> None:
    assert got[0] == want[0]
    assert list(got[0].html) == list(want[0].html)  # in the same order too
    assert got[1] == want[1]


def _naming(corpus: Corpus, target: str, how: set[str]) -> set[str]:
    """The records that name the id in the ways given."""
    link = re.compile(rf"\[\[\s*{re.escape(target)}\s*[\]|]")

    def names(value: object) -> bool:
        if isinstance(value, Citation):
            return names(value.source)
        if isinstance(value, Ref):
            return "ref" in how and value.id == target
        if isinstance(value, Publisher):
            return "ref" in how and value.text == target
        if isinstance(value, Text):
            return "link" in how and link.search(value.value) is not None
        if isinstance(value, dict):
            return names(tuple(value.values()))
        return isinstance(value, tuple) and any(names(v) for v in value)

    return {r.id for r in corpus if names(dict(r.fields)) or names(r.body)}


def _owners(corpus: Corpus, diagnostics: list[Diagnostic]) -> set[str]:
    """The records the diagnostics are about: the last one to start before each, in its file."""
    owners = set()
    for diagnostic in diagnostics:
        where = diagnostic.location
        here = [r for r in corpus if r.location.path == where.path and r.location <= where]
        owners.add(max(here, key=lambda r: r.location).id)
    return owners


def _fresh(memo: Memo) -> Memo:
    """The memo as the link stage is given it: what an earlier build kept, nothing used yet."""
    return Memo(old=memo.old)


@pytest.mark.parametrize("edit", list(EDITS))
def test_linking_with_the_memo_equals_linking_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    content, memo = _cached(tmp_path)
    before, _ = _corpus(content)
    change, target, how, codes = EDITS[edit]
    change(content)
    corpus, hidden = _corpus(content)
    unmemoized = Memo()
    want = link_corpus(corpus, hidden, memo=unmemoized)
    assert {d.code for d in want[1]} == codes
    visited = _visited(monkeypatch)
    memoized = _fresh(memo)
    _same(link_corpus(corpus, hidden, memo=memoized), want)
    if edit == "allow_html":
        assert sorted(visited) == sorted(corpus.records)
    else:
        changed = {r.id for r in corpus if repr(r) != repr(before.records.get(r.id))}
        naming = _naming(corpus, target, how) if target else set()
        assert _owners(corpus, want[1]) <= changed | naming
        assert sorted(visited) == sorted(changed | naming)
    # The memo keeps what this build used: the same as a build without a memo would keep.
    assert memoized.new.keys() == unmemoized.new.keys()
    # Records found in the memo are not sent to the workers.
    _same(link_corpus(corpus, hidden, jobs=2, memo=_fresh(memo)), want)


@pytest.mark.parametrize("edit", ["type", "delete"])
def test_a_record_with_a_diagnostic_is_visited_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    content, memo = _cached(tmp_path)
    EDITS[edit][0](content)
    corpus, hidden = _corpus(content)
    want = link_corpus(corpus, hidden)
    first = _fresh(memo)
    _same(link_corpus(corpus, hidden, memo=first), want)
    visited = _visited(monkeypatch)
    _same(link_corpus(corpus, hidden, memo=Memo(old=first.new)), want)
    assert sorted(visited) == sorted(_owners(corpus, want[1]))


def test_a_record_from_the_memo_keeps_its_renderings_for_the_next_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, memo = _cached(tmp_path)
    _rename(content)
    corpus, hidden = _corpus(content)
    visited = _visited(monkeypatch)
    first = _fresh(memo)
    link_corpus(corpus, hidden, memo=first)
    assert "kestria-note-to-norvalia" not in visited
    note = content / "notes" / "kestria-note-to-norvalia.yaml"
    _replace(note, "subject: The review", "subject: On the review")
    corpus, hidden = _corpus(content)
    rendered: list[str] = []
    for name in ("render_markdown", "render_inline"):
        real = getattr(links, name)
        monkeypatch.setattr(links, name, partial(_counted, rendered, real))
    del visited[:]
    got = link_corpus(corpus, hidden, memo=Memo(old=first.new))
    assert visited == ["kestria-note-to-norvalia"]
    assert rendered == []  # its summary, from the memo: the rename's build kept it
    _same(got, link_corpus(corpus, hidden))


def _counted(texts: list[str], real: Callable[..., Any], text: str, *a: Any, **k: Any) -> Any:
    texts.append(text)
    return real(text, *a, **k)


def test_a_rebuild_links_the_records_the_parse_memo_gave_without_comparing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, _ = _cached(tmp_path)
    _rename(content)
    memos = cache.load(tmp_path / "cache", MEMOS)
    visited = _visited(monkeypatch)
    compared: list[str] = []
    real = Record.__repr__
    monkeypatch.setattr(Record, "__repr__", lambda r: compared.append(r.id) or real(r))
    corpus, linked, diagnostics = load(Options(content=content), memos=memos)
    assert corpus is not None and linked is not None and diagnostics == []
    assert set(compared) == {"elena-marsh"}  # the one record of a file that changed
    assert sorted(visited) == sorted({"elena-marsh"} | _naming(corpus, "elena-marsh", {"link"}))
    assert load(Options(content=content)) == (corpus, linked, diagnostics)
