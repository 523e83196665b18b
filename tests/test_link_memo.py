"""The link stage's memo of whole visits: after every kind of edit, linking with the memo of
a cached build gives exactly what linking without one gives, and visits only the records
whose content, or whose view of another record, changed (and those with a diagnostic)."""

from __future__ import annotations

import pickle
import pickletools
import random
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from test_determinism import FULL, tree

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


def test_a_link_broken_since_in_a_story_from_the_cache_is_reported_where_a_clean_build_does(
    tmp_path: Path,
) -> None:
    # A folded summary, its links on lines of their own: their positions are found in the
    # story's file, which the cache keeps as the front matter and the body's Text.
    story = tmp_path / "content" / "stories" / "blockade-on-mine-road.md"
    old = "summary: The [[valley-farmers-union]] closes the [[mine-road]] for four days.\n"
    new = "summary: >-\n  The [[mine-road]] is closed\n  by the [[valley-farmers-union]].\n"
    shutil.copytree(FULL, tmp_path / "content")
    _replace(story, old, new)
    content, folder = tmp_path / "content", tmp_path / "cache"
    assert build(Options(content=content, out=tmp_path / "site", cache=folder)).written
    (content / "actors" / "valley-farmers-union.yaml").unlink()
    memos = cache.load(folder, MEMOS)
    kept = next(
        r
        for e in memos["parse"].old.values()
        if type(e) is tuple
        for r in e[0]
        if r.id == "blockade-on-mine-road"
    )
    assert "_head" in vars(kept.get("summary")) and "origin" not in vars(kept.get("summary"))
    _, _, diagnostics = load(Options(content=content), memos=memos)
    _, _, want = load(Options(content=content))
    assert [d.format() for d in diagnostics] == [d.format() for d in want]
    assert "content/stories/blockade-on-mine-road.md:7:10: error[E0403]:" in {
        d.format().split(" [[")[0] for d in want
    }
    assert kept.get("summary").origin == story.read_text("utf-8")


# --- what is derived from the edges (backlinks, story members, the edge indexes) ----------


def _identical(got: tuple[Links, list[Diagnostic]], want: tuple[Links, list[Diagnostic]]) -> None:
    """The same Links as `_same`, and the same in every way a page can read them."""
    _same(got, want)
    have, need = got[0], want[0]
    assert list(have.backlinks) == list(need.backlinks)
    assert list(have.story_members) == list(need.story_members)
    ids = {e.source for e in need.edges} | {e.target for e in need.edges}
    ids |= {e.source for e in have.edges} | {e.target for e in have.edges}
    for record_id in ids:
        assert have.outgoing(record_id) == need.outgoing(record_id), record_id
        assert have.incoming(record_id) == need.incoming(record_id), record_id
    assert need.edges == tuple(sorted(need.edges))  # in order, without being sorted


def _afresh_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry for every time the derived parts are worked out from all the edges."""
    calls: list[int] = []
    real = links._afresh

    def afresh(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(links, "_afresh", afresh)
    return calls


def _link_and_relink(tmp_path: Path, change: Callable[[Path], None]) -> tuple[Any, ...]:
    """Link the cached fixture, change it, link it again with the first link's memo: the
    first Links, the second, and the second as a link without a memo gives it."""
    content, memo = _cached(tmp_path)
    corpus, hidden = _corpus(content)
    first = _fresh(memo)
    before = link_corpus(corpus, hidden, memo=first)
    change(content)
    corpus, hidden = _corpus(content)
    return (
        before,
        link_corpus(corpus, hidden, memo=Memo(old=first.new)),
        link_corpus(corpus, hidden),
    )


def test_the_derived_parts_are_used_again_when_the_edges_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reword(content: Path) -> None:
        story = content / "stories" / "blockade-on-mine-road.md"
        story.write_text(story.read_text("utf-8") + "\nThe road reopened.\n", "utf-8")

    afresh = _afresh_calls(monkeypatch)
    before, got, want = _link_and_relink(tmp_path, reword)
    _identical(got, want)
    assert got[0].html != before[0].html
    assert afresh == [1, 1]  # the first link, and the one without a memo
    old, new = before[0], got[0]
    assert new.edges is old.edges
    assert new.backlinks is old.backlinks
    assert new.story_members is old.story_members
    assert new._by_source is old._by_source
    assert new._by_target is old._by_target


def _add_link(content: Path) -> None:
    _replace(content / "actors" / "kestria.yaml", "is based.", "is based, near [[alto-valley]].")


def _remove_link(content: Path) -> None:
    _replace(content / "actors" / "kestria.yaml", "[[kestrel-copper|the mine's operator]]", "x")


def _add_to_story(content: Path) -> None:
    # An event tied to one more story: that story's members and the event's backlinks.
    event = content / "events" / "concession-granted.yaml"
    both = "stories: [concession-dispute, blockade-on-mine-road]"
    _replace(event, "stories: [concession-dispute]", both)


def _unlink_from_story(content: Path) -> None:
    story = content / "stories" / "blockade-on-mine-road.md"
    _replace(story, "[[minister-visits-mine|the minister came]]", "the minister came")


def _rename_file(content: Path) -> None:
    actors = content / "actors"
    (actors / "tomas-reyes.yaml").rename(actors / "tomas-rey.yaml")


def _delete_fact(content: Path) -> None:
    (content / "places" / "alto-valley.yaml").unlink()


def _delete_story(content: Path) -> None:
    (content / "stories" / "blockade-on-mine-road.md").unlink()


EDGE_EDITS: dict[str, tuple[Callable[[Path], None], bool]] = {
    # the edit, and whether the derived parts are updated (not worked out afresh)
    "new link": (_add_link, True),
    "removed link": (_remove_link, True),
    "new member": (_add_to_story, True),
    "removed member": (_unlink_from_story, True),
    "renamed record": (_rename_file, True),
    "deleted record": (_delete_fact, True),
    "deleted story": (_delete_story, False),
    "allow_html": (_allow_html, True),
}


@pytest.mark.parametrize("edit", list(EDGE_EDITS))
@pytest.mark.parametrize("few", [1.0, links._FEW])
def test_an_edit_of_the_edges_gives_the_links_a_clean_link_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str, few: float
) -> None:
    change, updated = EDGE_EDITS[edit]
    monkeypatch.setattr(links, "_FEW", few)
    afresh = _afresh_calls(monkeypatch)
    before, got, want = _link_and_relink(tmp_path, change)
    _identical(got, want)
    if edit != "allow_html":
        assert got[0].edges != before[0].edges
    if few == 1.0:
        assert afresh == [1, 1] if updated else [1, 1, 1]


def _texts(record: Record) -> list[str]:
    """The names of the record's Markdown fields ("body": a story's body)."""
    names = [name for name, value in record.fields.items() if isinstance(value, Text)]
    return names + (["body"] if record.body is not None else [])


def _with_text(record: Record, name: str, value: str) -> Record:
    if name == "body":
        assert record.body is not None
        return replace(record, body=replace(record.body, value=value))
    return replace(
        record, fields={**record.fields, name: replace(record.fields[name], value=value)}
    )


def _text(record: Record, name: str) -> str:
    return cast(Text, record.body if name == "body" else record.fields[name]).value


def _step(rng: random.Random, records: dict[str, Record]) -> str:
    """One random edit of the records in place; its name."""
    ids = sorted(records)
    record = records[rng.choice(ids)]
    what = rng.choice(["link", "unlink", "reword", "stories", "delete", "rename", "story"])
    if what in ("link", "unlink", "reword") and _texts(record):
        name = rng.choice(_texts(record))
        text = _text(record, name)
        if what == "link":
            text += f" See [[{rng.choice([*ids, 'no-such-record'])}]]."
        elif what == "unlink":
            text = re.sub(r"\[\[([^\]|]+)(\|[^\]]*)?\]\]", r"\1", text, count=1)
        else:
            text += " More words."
        records[record.id] = _with_text(record, name, text)
    elif what == "stories" and record.kind != STORY:
        stories = [i for i in ids if records[i].kind == STORY]
        refs = list(record.get("stories", ()))
        if refs and rng.random() < 0.5:
            del refs[rng.randrange(len(refs))]
        else:
            refs.append(Ref(rng.choice(stories), record.location))
        fields = {**record.fields, "stories": tuple(refs)}
        records[record.id] = replace(record, fields=fields)
    elif what == "delete" and len(records) > 10:
        del records[record.id]
    elif what == "rename":
        del records[record.id]
        records[f"{record.id}-x"] = replace(record, id=f"{record.id}-x")
    elif what == "story":
        story = next(r for r in records.values() if r.kind == STORY)
        new = f"{story.id}-{len(records)}"
        records[new] = replace(story, id=new)
    else:
        return "none"
    return what


@pytest.mark.parametrize("seed", range(4))
def test_a_random_walk_of_edits_links_as_a_clean_link_does(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Edits in memory (every record not edited is the very object it was), each linked with
    the memo of the link before it and compared with a link without a memo."""
    monkeypatch.setattr(links, "_FEW", 1.0 if seed % 2 else links._FEW)
    afresh = _afresh_calls(monkeypatch)
    corpus, hidden = _corpus(FULL)
    rng = random.Random(seed)
    memo = Memo()
    done: list[str] = []
    for _ in range(40):
        got = link_corpus(corpus, hidden, memo=memo)
        _identical(got, link_corpus(corpus, hidden))
        memo = Memo(old=memo.new)
        records = dict(corpus.records)
        done.append(_step(rng, records))
        corpus = Corpus(corpus.site, records)
    assert len(afresh) < 2 * len(done)  # some links were updated, not worked out afresh


def test_a_draft_deleted_is_no_longer_hidden_to_the_records_that_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every other record is the very object it was: only the drafts left out changed."""
    content, _ = _cached(tmp_path)
    _draft(content)
    corpus, hidden = _corpus(content)
    first = Memo()
    assert link_corpus(corpus, hidden, memo=first)[1] == []
    visited = _visited(monkeypatch)
    want = link_corpus(corpus, frozenset())
    assert {d.code for d in want[1]} == {"E0401", "E0403"}
    del visited[:]
    _same(link_corpus(corpus, frozenset(), memo=Memo(old=first.new)), want)
    assert visited  # the records that name the draft, visited again


def test_records_the_memo_holds_as_they_are_are_not_asked_about_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, _ = _cached(tmp_path)
    corpus, hidden = _corpus(content)
    first = Memo()
    want = link_corpus(corpus, hidden, memo=first)
    records = dict(corpus.records)
    story = records["blockade-on-mine-road"]
    records[story.id] = _with_text(story, "body", _text(story, "body") + " More words.")
    edited = Corpus(corpus.site, records)
    asked: list[str] = []
    real = links._World.work_out
    monkeypatch.setattr(links._World, "work_out", lambda w, k: asked.append(k) or real(w, k))
    visited = _visited(monkeypatch)
    got = link_corpus(edited, hidden, memo=Memo(old=first.new))
    assert visited == [story.id]
    # Only the edited story's questions, and those about it: not every record's again.
    assert {k[2:] for k in asked} - {story.id} <= set(_asked_by(first, story.id))
    assert len(asked) < len(corpus.records)
    _same(got, link_corpus(edited, hidden))
    assert got[0].edges == want[0].edges


def _asked_by(memo: Memo, record_id: str) -> list[str]:
    (entry,) = (v for k, v in memo.new.items() if k.endswith(f":{record_id}") and k[0] == "r")
    return [question[2:] for question in entry[1].asked]


# --- linking by difference from the last link in this process (serve) -------------------


def _by_difference_calls(
    monkeypatch: pytest.MonkeyPatch, name: str = "_by_difference"
) -> list[bool]:
    """For every link from now on, whether it worked by difference from the last one (with
    `name` "_resumed": for every link not by difference in this process, whether it worked
    by difference from what the memo's last link kept, as a new process does)."""
    calls: list[bool] = []
    real = getattr(links, name)

    def spy(*args: Any) -> Any:
        made = real(*args)
        calls.append(made is not None)
        return made

    monkeypatch.setattr(links, name, spy)
    return calls


def _edit_text(record_id: str, name: str, edit: Callable[[str], str]) -> Callable[..., Any]:
    def change(records: dict[str, Record]) -> None:
        record = records[record_id]
        records[record_id] = _with_text(record, name, edit(_text(record, name)))

    return change


def _share_summary(records: dict[str, Record]) -> None:
    """Two records with the same summary: one rendering that both visits use."""
    kestria = records["kestria"]
    _edit_text("norvalia", "summary", lambda _: _text(kestria, "summary"))(records)


def _rename_actor(records: dict[str, Record]) -> None:
    records["elena-marsh"] = replace(records["elena-marsh"], name="Elena March")


def _copy_record(records: dict[str, Record]) -> None:
    records["kestria"] = replace(records["kestria"])  # equal, but another object


def _drop_record(records: dict[str, Record]) -> None:
    del records["alto-valley"]


def _new_record(records: dict[str, Record]) -> None:
    records["kestria-2"] = replace(records["kestria"], id="kestria-2")


STORY_ID = "blockade-on-mine-road"
# An edit of the records in memory (every other record stays the very object it was), and
# whether the link works by difference.
MEMORY_EDITS: dict[str, tuple[Callable[[dict[str, Record]], None], bool]] = {
    "reworded story": (_edit_text(STORY_ID, "body", lambda t: t + "\n\nMore words.\n"), True),
    "new link": (_edit_text(STORY_ID, "body", lambda t: t + "\n\nSee [[alto-valley]].\n"), True),
    "removed link": (
        _edit_text(STORY_ID, "body", lambda t: t.replace("[[minister-visits-mine|", "[x|")),
        True,
    ),
    "new link in a record": (
        _edit_text("kestria", "summary", lambda t: t + " See [[tomas-reyes]]."),
        True,
    ),
    "shared text changed": (_edit_text("kestria", "summary", lambda t: t + " More."), True),
    "same record again": (_copy_record, True),
    "name changed": (_rename_actor, False),
    "broken link": (_edit_text(STORY_ID, "body", lambda t: t + "\n\n[[no-such-id]]\n"), False),
    "record removed": (_drop_record, False),
    "record added": (_new_record, False),
}


def _linked_sharing() -> tuple[Corpus, frozenset[str], Memo]:
    """The fixture with two records sharing a summary, linked: its memo."""
    corpus, hidden = _corpus(FULL)
    records = dict(corpus.records)
    _share_summary(records)
    corpus = Corpus(corpus.site, records)
    first = Memo()
    link_corpus(corpus, hidden, memo=first)
    return corpus, hidden, first


@pytest.mark.parametrize("edit", list(MEMORY_EDITS))
def test_linking_by_difference_gives_what_a_whole_link_gives(
    monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    change, quick = MEMORY_EDITS[edit]
    corpus, hidden, first = _linked_sharing()
    calls = _by_difference_calls(monkeypatch)
    records = dict(corpus.records)
    change(records)
    edited = Corpus(corpus.site, records)
    got = Memo(old=first.new)
    linked = link_corpus(edited, hidden, memo=got)
    assert calls == [quick]
    clean = Memo()
    want = link_corpus(edited, hidden, memo=clean)
    _identical(linked, want)
    # The records visited afresh: those a whole link with the same memo visits.
    states = (links._STATE, links._WHOLE)
    stateless = Memo(old={k: v for k, v in first.new.items() if k not in states})
    assert linked[0].revisited == link_corpus(edited, hidden, memo=stateless)[0].revisited
    # The memo keeps what a whole link keeps: the same entries, renderings included.
    assert got.new.keys() == clean.new.keys()
    for key in clean.new:
        if key.startswith("record:"):
            assert repr(got.new[key]) == repr(clean.new[key]), key
    # And the next link, from this one's memo, by difference again.
    again = Memo(old=got.new)
    records = dict(edited.records)
    _edit_text("tomas-reyes", "summary", lambda t: t + " Again.")(records)
    final = Corpus(corpus.site, records)
    relinked = link_corpus(final, hidden, memo=again)
    assert calls[-1] == (not want[1])  # (a link with a diagnostic leaves no state)
    clean = Memo()
    _identical(relinked, link_corpus(final, hidden, memo=clean))
    assert again.new.keys() == clean.new.keys()


@pytest.mark.parametrize("edit", list(MEMORY_EDITS))
def test_a_new_process_links_by_difference_from_what_the_memo_kept(
    monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    """As a new process: the memo as the build cache gives it (no state of a link in this
    process), its records those of the parse memo (the very objects, but the edited)."""
    change, quick = MEMORY_EDITS[edit]
    corpus, hidden, first = _linked_sharing()
    assert links._whole(first.new) is not None
    calls = _by_difference_calls(monkeypatch, "_resumed")
    records = dict(corpus.records)
    change(records)
    edited = Corpus(corpus.site, records)
    loaded = {k: v for k, v in first.new.items() if k != links._STATE}
    got = Memo(old=loaded)
    linked = link_corpus(edited, hidden, memo=got, keep=False)
    assert calls == [quick]
    clean = Memo()
    want = link_corpus(edited, hidden, memo=clean, keep=False)
    _identical(linked, want)
    assert list(linked[0].html) == list(want[0].html)  # in the same order too
    whole = Memo(old={k: v for k, v in loaded.items() if k != links._WHOLE})
    assert linked[0].revisited == link_corpus(edited, hidden, memo=whole, keep=False)[0].revisited
    # The memo keeps what a whole link keeps, and what the next new process resumes from.
    assert got.new.keys() == clean.new.keys()
    for key in clean.new:
        if key.startswith("record:"):
            assert repr(got.new[key]) == repr(clean.new[key]), key
    if want[1]:  # (a link with a diagnostic keeps nothing to resume from)
        assert links._whole(got.new) is None and links._whole(clean.new) is None
        return
    kept, made = links._whole(got.new), links._whole(clean.new)
    assert kept is not None and made is not None
    assert list(kept.html.items()) == list(made.html.items())
    assert list(kept.records.items()) == list(made.records.items())
    assert (kept.publishers, kept.uses, kept.size) == (made.publishers, made.uses, made.size)
    if quick:
        assert kept.html is linked[0].html
        again = Memo(old=got.new)
        more = dict(edited.records)
        _edit_text("tomas-reyes", "summary", lambda t: t + " Again.")(more)
        final = Corpus(corpus.site, more)
        relinked = link_corpus(final, hidden, memo=again, keep=False)
        assert calls[-1] is True
        _identical(relinked, link_corpus(final, hidden, memo=Memo(), keep=False))


def test_a_build_in_a_new_process_after_a_story_edit_links_by_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the command's side: the build cache's memo, a story's file edited, a new build
    (no memos in this process) links by difference and makes the site a clean build does."""
    content, _ = _cached(tmp_path)
    calls = _by_difference_calls(monkeypatch, "_resumed")
    story = content / "stories" / f"{STORY_ID}.md"
    story.write_text(story.read_text("utf-8") + "\nA sentence more.\n", "utf-8")
    options = Options(content=content, out=tmp_path / "site", cache=tmp_path / "cache")
    assert build(options, once=True).written
    assert calls == [True]
    assert build(replace(options, out=tmp_path / "clean", cache=None)).written
    assert tree(tmp_path / "site") == tree(tmp_path / "clean")
    assert (
        b"A sentence more."
        in (tmp_path / "site" / "stories" / STORY_ID / "index.html").read_bytes()
    )


def test_new_processes_after_edits_load_what_the_last_link_kept_patched_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each build a new process after a story's edit (a delta of the build cache each): the
    load puts the items of the last link's dicts that changed in the dicts loaded, not in
    copies; each link works by difference, and gives what a whole link gives."""
    content, _ = _cached(tmp_path)
    calls = _by_difference_calls(monkeypatch, "_resumed")
    copied: list[tuple[Any, ...]] = []  # the places of the dicts a load patched in copies
    monkeypatch.setattr(cache, "_LONG_PATCH", 4)  # (the fixture's dicts are short: as long)
    real = cache._patched
    monkeypatch.setattr(
        cache, "_patched", lambda patch, old: copied.append(patch[1]) or real(patch, old)
    )
    options = Options(content=content, out=tmp_path / "site", cache=tmp_path / "cache")
    story = content / "stories" / f"{STORY_ID}.md"
    for n in range(3):
        story.write_text(story.read_text("utf-8") + f"\nA sentence more, {n}.\n", "utf-8")
        assert build(options, once=True).written
    assert calls == [True] * 3
    assert len(list((tmp_path / "cache").glob(cache.DELTA.format("*")))) == 3
    memo = cache.load(tmp_path / "cache", MEMOS)["markdown"]
    assert not [place for place in copied if place[1] == "markdown"]
    kept = links._whole(memo.old)
    corpus, hidden = _corpus(content)
    clean = Memo()
    want = link_corpus(corpus, hidden, memo=clean)
    made = links._whole(clean.new)
    assert kept is not None and made is not None
    assert list(kept.html.items()) == list(want[0].html.items())
    assert (kept.publishers, kept.uses, kept.size) == (made.publishers, made.uses, made.size)
    assert kept.records.keys() == corpus.records.keys()


def test_a_new_process_links_the_whole_corpus_where_the_memo_kept_is_not_all_it_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus, hidden, first = _linked_sharing()
    loaded = {k: v for k, v in first.new.items() if k != links._STATE}
    records = dict(corpus.records)
    _edit_text(STORY_ID, "body", lambda t: t + "\n\nMore.\n")(records)
    edited = Corpus(corpus.site, records)
    want = link_corpus(edited, hidden, memo=Memo())
    calls = _by_difference_calls(monkeypatch, "_resumed")
    # A failed build's memos keep all they knew: the last link's entries and older ones.
    merged = Memo(old={"record:False:gone": ("stale", None), **loaded})
    _identical(link_corpus(edited, hidden, memo=merged), want)
    assert "record:False:gone" not in merged.new
    # Records added or removed since; other drafts left out; too many records changed.
    fewer = dict(records)
    del fewer["tomas-reyes"]
    link_corpus(Corpus(corpus.site, fewer), hidden, memo=Memo(old=loaded))
    link_corpus(edited, hidden | {"no-such-draft"}, memo=Memo(old=loaded))
    many = {k: replace(r) for k, r in records.items()}
    assert len(many) > links._FEW_RECORDS
    _identical(link_corpus(Corpus(corpus.site, many), hidden, memo=Memo(old=loaded)), want)
    assert calls == [False] * 4


class _Counting(dict[str, Any]):
    """A memo's entries that count the keys looked up by `get`."""

    looked_up = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.looked_up += 1
        return super().get(key, default)


def test_a_new_process_tells_the_records_changed_without_a_look_up_per_record() -> None:
    corpus, hidden, first = _linked_sharing()
    old = _Counting({k: v for k, v in first.new.items() if k != links._STATE})
    records = dict(corpus.records)
    _edit_text(STORY_ID, "body", lambda t: t + "\n\nMore words.\n")(records)
    edited = Corpus(corpus.site, records)
    got = link_corpus(edited, hidden, memo=Memo(old=old), keep=False)
    # The edited story's entry and renderings, and the memo's own: not one per record.
    assert old.looked_up < len(records) // 2
    _identical(got, link_corpus(edited, hidden, memo=Memo(), keep=False))


@pytest.mark.parametrize("process", ["this", "new"])
def test_a_link_by_difference_copies_none_of_the_last_ones_dicts_that_are_the_same(
    process: str,
) -> None:
    """A record equal to what it was (or changed in what no HTML, edge or publisher
    shows): the Links' HTML, publishers and edges are the very dicts the last link made."""
    corpus, hidden = _corpus(FULL)
    first = Memo()
    then, _ = link_corpus(corpus, hidden, memo=first)
    records = dict(corpus.records)
    _copy_record(records)
    edited = Corpus(corpus.site, records)
    loaded = {k: v for k, v in first.new.items() if k != links._STATE or process == "this"}
    got = link_corpus(edited, hidden, memo=Memo(old=loaded))
    assert got[0].html is then.html
    assert got[0].publishers is then.publishers
    assert got[0].edges is then.edges
    _identical(got, link_corpus(edited, hidden, memo=Memo()))


def test_a_link_by_difference_keeps_a_rendering_another_record_still_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus, hidden, first = _linked_sharing()
    shared = [
        k
        for k, v in first.new.items()
        if isinstance(v, tuple)
        and len(v) == 2
        and isinstance(v[0], links.Rendered)
        and "the mine" in v[0].html
    ]
    assert shared
    records = dict(corpus.records)
    _edit_text("kestria", "summary", lambda t: t + " More.")(records)
    got = Memo(old=first.new)
    calls = _by_difference_calls(monkeypatch)
    link_corpus(Corpus(corpus.site, records), hidden, memo=got)
    assert calls == [True]
    assert all(key in got.new for key in shared)  # norvalia's summary still uses it


def test_a_memo_left_by_a_failed_build_is_not_worked_from_by_difference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus, hidden = _corpus(FULL)
    first = Memo()
    link_corpus(corpus, hidden, memo=first)
    # A failed build's memos keep all they knew: the last link's entries and older ones.
    merged = Memo(old={"record:False:gone": ("stale", None), **first.new})
    calls = _by_difference_calls(monkeypatch)
    records = dict(corpus.records)
    _edit_text(STORY_ID, "body", lambda t: t + "\n\nMore.\n")(records)
    edited = Corpus(corpus.site, records)
    link_corpus(edited, hidden, memo=merged)
    assert calls == [False]
    clean = Memo()
    link_corpus(edited, hidden, memo=clean)
    assert merged.new.keys() == clean.new.keys()


def test_the_link_state_is_not_kept_in_the_build_cache(tmp_path: Path) -> None:
    content, memo = _cached(tmp_path)
    assert links._STATE in memo.old and memo.old[links._STATE] is None
    corpus, hidden = _corpus(content)
    made = Memo(old=memo.old)
    assert link_corpus(corpus, hidden, memo=made)[1] == []
    assert isinstance(made.new[links._STATE], links._State)


def test_visits_from_workers_share_their_questions_and_answers() -> None:
    documents, _ = read_content(FULL)
    corpus, _ = parse_documents(documents)
    assert corpus is not None
    found: dict[int, Memo] = {}
    made = {}
    for jobs in (1, 2):
        found[jobs] = Memo()
        made[jobs], problems = link_corpus(corpus, frozenset(), jobs, found[jobs])
        assert problems == []
    assert made[1] == made[2]
    visits = [v[1] for k, v in found[2].new.items() if k.startswith("record:")]
    assert len(visits) == len(corpus.records)
    questions: dict[str, str] = {}
    answers: dict[Any, Any] = {}
    for visit in visits:
        for question, answer in zip(visit.asked, visit.answers, strict=True):
            assert questions.setdefault(question, question) is question
            if answer is not None and not isinstance(answer, bool):
                assert answers.setdefault((type(answer), answer), answer) is answer
    assert len(questions) < sum(len(visit.asked) for visit in visits)  # some asked twice
    # As the visits made here: the same questions and answers.
    alone = {k: v[1] for k, v in found[1].new.items() if k.startswith("record:")}
    for key, visit in zip(alone, visits, strict=True):
        assert (visit.asked, visit.answers) == (alone[key].asked, alone[key].answers)
    # Their renderings' lookups too: the visits' own answers, under interned ids.
    renderings = [r for visit in visits for r in visit.rendered.values()]
    lookups = [(i, a) for r in renderings for i, a in zip(*[iter(r.lookups)] * 2, strict=True)]
    assert len(lookups) > 20
    for target_id, answer in lookups:
        assert target_id is sys.intern(target_id)
        if answer is not None:
            assert answers[(type(answer), answer)] is answer
    # (from the workers, each rendering's Rendered as the tuple of its fields: see `_Rendering`)
    made_here = [r for v in alone.values() for r in v.rendered.values()]
    assert [(links._made(r.rendered), r.lookups) for r in renderings] == made_here


def test_a_visit_is_unpickled_in_c_as_the_visit_it_was() -> None:
    corpus, hidden = _corpus(FULL)
    made = Memo()
    link_corpus(corpus, hidden, memo=made)
    visits = [v[1] for k, v in made.new.items() if k.startswith("record:")]
    assert visits
    for visit in visits:
        data = pickle.dumps(visit, pickle.HIGHEST_PROTOCOL)
        # No call of the named tuple's own __new__ (a Python function): tuple.__new__.
        assert visit.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[0] is tuple.__new__
        fields = pickle.dumps(tuple(visit), pickle.HIGHEST_PROTOCOL)
        assert _newobj(data) == _newobj(fields)  # (its answers' own, if any)
        again = pickle.loads(data)
        assert type(again) is links._Visit and tuple(again) == pickle.loads(fields)


@pytest.mark.parametrize("edit", ["none", "rename", "type", "draft"])
def test_a_link_that_keeps_no_state_leaves_the_same_entries_and_links(
    tmp_path: Path, edit: str
) -> None:
    content, memo = _cached(tmp_path)
    EDITS[edit][0](content)
    corpus, hidden = _corpus(content)
    kept, once = _fresh(memo), _fresh(memo)
    want = link_corpus(corpus, hidden, memo=kept)
    _identical(link_corpus(corpus, hidden, memo=once, keep=False), want)
    assert links._STATE not in once.new
    assert list(once.new) == [k for k in kept.new if k != links._STATE]  # in the same order
    taken = {k for k, v in kept.new.items() if v is memo.old.get(k)} - {links._STATE}
    assert taken and {k for k, v in once.new.items() if v is memo.old.get(k)} == taken
    # An unchanged record's entry is the memo's own; the others' new ones.
    for key, entry in once.new.items():
        if key.startswith("record:") and key in memo.old and entry[0] is memo.old[key][0]:
            assert entry is memo.old[key]
    # The next process links from it as from the memo of a link that kept its state.
    _identical(link_corpus(corpus, hidden, memo=Memo(old=once.new)), want)


def test_a_record_new_to_the_memo_and_one_with_a_diagnostic_take_their_places() -> None:
    # (a record the memo does not know, and a visit that gives a message, not kept)
    corpus, hidden = _corpus(FULL)
    first = Memo()
    link_corpus(corpus, hidden, memo=first)
    records = dict(corpus.records)
    _edit_text(STORY_ID, "body", lambda t: t + "\n\n[[no-such-id]]\n")(records)
    old = {k: v for k, v in first.new.items() if k != links._STATE}
    added = next(iter(records))
    old.pop(f"record:False:{added}")  # as if the memo had never seen it
    edited = Corpus(corpus.site, records)
    got = Memo(old=old)
    linked = link_corpus(edited, hidden, memo=got)
    clean = Memo()
    _identical(linked, link_corpus(edited, hidden, memo=clean))
    assert linked[1] and f"record:False:{STORY_ID}" not in got.new  # (a diagnostic)
    assert list(got.new) == list(clean.new)  # in the same order too
    assert got.new[f"record:False:{added}"][0] is records[added]


def _newobj(data: bytes) -> int:
    """How many objects a pickle makes by their class's `__new__` (NEWOBJ)."""
    return sum(op.name == "NEWOBJ" for op, _, _ in pickletools.genops(data))
