"""The search index made again from the last one in this process (serve's rebuild after a
save): only the entries of records that changed are made, the file is patched, and the bytes
and the memo are those of an index made afresh, whatever changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from generator import search, workers
from generator.links import Links
from generator.model import Corpus
from generator.pipeline import Options, load

ROOT = Path(__file__).resolve().parent.parent

Model = tuple[Corpus, Links]


@pytest.fixture(scope="module")
def model() -> Model:
    corpus, links, diagnostics = load(Options(content=ROOT / "content"))
    assert corpus is not None and links is not None, diagnostics
    return corpus, links


def ranked(corpus: Corpus) -> list[str]:
    """The ids in the index's order."""
    return [r.id for r in sorted(corpus, key=lambda r: (r.kind != "stories", r.kind, r.id))]


def with_html(model: Model, *changes: tuple[str, str, str | None]) -> Model:
    corpus, links = model
    html = dict(links.html)
    for record_id, name, text in changes:
        if text is None:
            html.pop((record_id, name), None)
        else:
            html[record_id, name] = text
    return corpus, replace(links, html=html)


def with_record(model: Model, record_id: str, **changes: object) -> Model:
    corpus, links = model
    records = dict(corpus.records)
    records[record_id] = replace(records[record_id], **changes)  # type: ignore[arg-type]
    return Corpus(corpus.site, records), links


def first_and_last(model: Model) -> Model:
    ids = ranked(model[0])
    return with_html(
        model,
        (ids[0], "summary", "<p>A much longer summary than it was, with <em>more</em>.</p>"),
        (ids[-1], "summary", "<p>Short.</p>"),
    )


def middle(model: Model) -> Model:
    ids = ranked(model[0])
    return with_html(model, (ids[5], "body", "<p>ü and “quotes”</p>"), (ids[6], "body", None))


def a_field_added(model: Model) -> Model:
    corpus, links = model
    bare = next(r.id for r in corpus if (r.id, "description") not in links.html)
    return with_html(model, (bare, "description", "<p>Now described.</p>"))


def renamed(model: Model) -> Model:
    return with_record(model, ranked(model[0])[10], name="Someone else entirely")


def an_equal_copy(model: Model) -> Model:
    return with_record(model, ranked(model[0])[3])  # the same values, another object


def every_summary(model: Model) -> Model:
    corpus, _ = model
    return with_html(model, *((r.id, "summary", f"<p>{r.id} anew</p>") for r in corpus))


def one_removed(model: Model) -> Model:
    corpus, links = model
    records = dict(corpus.records)
    del records[ranked(corpus)[7]]
    return Corpus(corpus.site, records), links


def one_added(model: Model) -> Model:
    corpus, links = model
    last = corpus.records[max(corpus.records)]
    records = {**corpus.records, "zz-new": replace(last, id="zz-new")}  # last in every order
    return Corpus(corpus.site, records), links


def reordered(model: Model) -> Model:
    corpus, links = model
    return Corpus(corpus.site, dict(reversed(corpus.records.items()))), links


def no_html(model: Model) -> Model:
    """Every field's HTML gone: no key is left to compare (an index whose HTML keys were
    not kept, as a new process makes it, must still see every text change)."""
    corpus, links = model
    return corpus, replace(links, html={})


def kind_changed(model: Model) -> Model:
    corpus, _ = model
    actor = corpus.of_kind("actors")[0]
    return with_record(model, actor.id, kind="places")


EDITS: list[Callable[[Model], Model]] = [
    first_and_last,
    middle,
    a_field_added,
    renamed,
    an_equal_copy,
    every_summary,
    one_removed,
    one_added,
    reordered,
    kind_changed,
    no_html,
]


@pytest.mark.parametrize("patched", [0, 64])
@pytest.mark.parametrize("edit", EDITS, ids=lambda e: e.__name__)
def test_the_index_made_from_the_last_is_the_index_made_afresh(
    model: Model, edit: Callable[[Model], Model], patched: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patched (a few entries) or joined again (more than `patched`), after each edit and
    after the edit undone."""
    monkeypatch.setattr(search, "_PATCHED", patched)
    monkeypatch.setattr(search, "_kept", None)
    _, memo = search.kept_index(*model)
    edited = edit(model)
    for now in (edited, model, edited):
        # The last memo, which the last build's trace holds, is left as it was.
        last, was = memo, list(memo.items())
        warm, memo = search.kept_index(*now)
        assert list(last.items()) == was
        kept = search._kept
        monkeypatch.setattr(search, "_kept", None)
        fresh_memo: dict[str, object] = {}
        assert warm == search.search_index(*now, used=fresh_memo)
        assert memo == fresh_memo
        monkeypatch.setattr(search, "_kept", kept)


def test_only_the_entries_that_changed_are_made_again(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = search.search_entry
    monkeypatch.setattr(
        search, "search_entry", lambda record, links: made.append(record.id) or real(record, links)
    )
    monkeypatch.setattr(search, "_kept", None)
    search.search_index(*model)
    made.clear()
    ids = ranked(model[0])
    search.search_index(*first_and_last(model))
    assert sorted(made) == sorted([ids[0], ids[-1]])
    made.clear()
    search.search_index(*an_equal_copy(model))  # (and the two above, back as they were)
    assert sorted(made) == sorted([ids[0], ids[-1]])


def test_the_index_maker_notes_every_record_read_as_iterating_the_corpus_would(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It looks at the corpus unwatched: what it notes is what going through the watched
    corpus notes ("all"), made afresh or from the last index."""
    from generator import plan, rebuild
    from generator.render import TEMPLATES

    corpus, links = model
    maker = next(m for m in plan.makers(corpus, links, TEMPLATES) if m.name == search.INDEX)
    iterated: set[str] = set()
    list(rebuild._workshop(corpus, links, TEMPLATES, iterated, "test").corpus)
    for kept in (None, search._kept):
        monkeypatch.setattr(search, "_kept", kept)
        reads: set[str] = set()
        shop = rebuild._workshop(corpus, links, TEMPLATES, reads, "test")
        files, _ = maker.make(shop)
        assert reads == iterated == {"all"}
        assert files[search.INDEX] == search.search_index(corpus, links)
        assert search._kept is not None and shop.used is search._kept.memo


def as_linked(model: Model, edited: Model) -> Model:
    """The edited model as a new process's link stage gives it: the records whose HTML
    differs from the model's visited afresh (`Links.revisited`)."""
    (_, links), (corpus, now) = model, edited
    keys = links.html.keys() | now.html.keys()
    revisited = {i for i, name in keys if links.html.get((i, name)) != now.html.get((i, name))}
    return corpus, replace(now, revisited=frozenset(revisited))


def fresh(model: Model, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, dict[str, object]]:
    """The index and memo made afresh, with nothing kept."""
    monkeypatch.setattr(search, "_kept", None)
    memo: dict[str, object] = {}
    return search.search_index(*model, used=memo), memo


@pytest.mark.parametrize("edit", EDITS, ids=lambda e: e.__name__)
def test_a_new_process_makes_the_index_from_the_one_the_cache_keeps(
    model: Model, edit: Callable[[Model], Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the last build's memo (`known`) and links vouched for, only the entries of
    records that changed or were visited afresh are made; bytes and memo as made afresh."""
    _, known = fresh(model, monkeypatch)
    edited = as_linked(model, edit(model))
    index, memo = fresh(edited, monkeypatch)
    made: list[str] = []
    real = search._Kept.resumed
    monkeypatch.setattr(
        search._Kept,
        "resumed",
        lambda *a: made.append("resumed") or real(*a),  # type: ignore
    )
    monkeypatch.setattr(search, "_kept", None)
    search.vouch(edited[1])
    assert search.kept_index(*edited, known) == (index, memo)
    assert made == ["resumed"]
    # Unless they are not vouched for.
    made.clear()
    monkeypatch.setattr(search, "_kept", None)
    search.vouch(model[1])
    assert search.kept_index(*edited, known) == (index, memo)
    assert made == []


def test_a_new_process_makes_again_the_entries_that_changed_only(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, known = fresh(model, monkeypatch)
    ids = ranked(model[0])
    corpus, links = model
    model = corpus, replace(links, revisited=frozenset())  # (the fixture's: every record)
    shorter = (ids[8], "summary", "<p>Short.</p>")
    renamed_and_shorter = with_html(renamed(model), shorter)
    expected, _ = fresh(renamed_and_shorter, monkeypatch)
    looked: list[str] = []  # the records whose entry's digest was worked out again
    made: list[str] = []  # and those whose entry was made again
    digest, entry = search._digest, search.search_entry
    monkeypatch.setattr(
        search, "_digest", lambda record, *a: looked.append(record.id) or digest(record, *a)
    )
    monkeypatch.setattr(
        search, "search_entry", lambda record, *a: made.append(record.id) or entry(record, *a)
    )

    def resumed(now: Model) -> bytes:
        monkeypatch.setattr(search, "_kept", None)
        search.vouch(now[1])
        looked.clear()
        made.clear()
        data, _ = search.kept_index(*now, known)
        return data

    # Visited afresh: looked at again, and found the same (its entry is not made again).
    assert resumed((corpus, replace(links, revisited=frozenset([ids[4]])))) == before
    assert looked == [ids[4]] and made == []
    # Renamed (its fingerprint), and a summary of another length, not visited afresh.
    assert resumed(renamed_and_shorter) == expected
    assert sorted(looked) == sorted(made) == sorted([ids[10], ids[8]])
    # The same length, not visited afresh: taken for unchanged (what vouching tells).
    html = links.html[ids[8], "summary"]
    same_length = with_html(model, (ids[8], "summary", html.replace("<p>", "<b>", 1)))
    assert len(same_length[1].html[ids[8], "summary"]) == len(html)
    assert resumed(same_length) == before
    assert looked == made == []


def broken(value: object, how: str) -> object:
    """A part of a memo broken `how`: of another type, one item (a packed number, an id)
    shorter or longer, or a byte short of a packed number."""
    if how == "another type":
        return 7
    if isinstance(value, list):
        return value[1:] if how == "shorter" else [*value, value[0]]
    if isinstance(value, bytes):
        return {"shorter": value[4:], "longer": value + value[:4], "a byte off": value[1:]}[how]
    assert isinstance(value, str)
    return value.partition("\0")[2] if how == "shorter" else value + "\0another"


@pytest.mark.parametrize("how", ["missing", "another type", "shorter", "longer", "a byte off"])
@pytest.mark.parametrize("part", ["entries", "ids", "order", "fingerprints", "digests", "lengths"])
def test_a_memo_that_lacks_a_part_or_has_a_broken_one_makes_the_index_afresh(
    model: Model, part: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, known = fresh(model, monkeypatch)
    monkeypatch.setattr(search, "_kept", None)
    search.vouch(model[1])
    if how == "a byte off" and not isinstance(known[part], bytes):
        how = "shorter"
    damaged = {k: v for k, v in known.items() if k != part}
    if how != "missing":
        damaged[part] = broken(known[part], how)
    assert search._Kept.resumed(list(model[0].records.values()), model[1], damaged) is None
    assert search.kept_index(*model, damaged) == (index, known)


def test_the_memo_keeps_the_parts_that_did_not_change(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build cache saves how a memo differs from the last: the parts the records' ids
    and order make are the very objects they were, as are the entries, fingerprints and
    digests of the records that did not change (in lists of the same length)."""
    _, known = fresh(model, monkeypatch)
    edited = as_linked(model, first_and_last(model))
    monkeypatch.setattr(search, "_kept", None)
    search.vouch(edited[1])
    _, memo = search.kept_index(*edited, known)
    assert memo[search._IDS] is known[search._IDS]
    assert memo[search._ORDER] is known[search._ORDER]
    assert memo[search._FINGERPRINTS] == known[search._FINGERPRINTS]  # (only HTML changed)
    for part in (search._ENTRIES, search._DIGESTS):
        now, then = memo[part], known[part]
        assert isinstance(now, list) and isinstance(then, list) and len(now) == len(then)
        kept = [a is b for a, b in zip(now, then, strict=True)]
        assert kept == [False, *[True] * (len(kept) - 2), False]  # (the first and last)


def test_an_index_made_afresh_takes_the_entries_of_unchanged_records_from_the_memo(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process whose links are not vouched for, or whose records changed their ids,
    finds each entry in the last build's memo by its digest: only the changed are made."""
    _, known = fresh(model, monkeypatch)
    edited = first_and_last(one_removed(model))
    index, memo = fresh(edited, monkeypatch)
    made: list[str] = []
    entry = search.search_entry
    monkeypatch.setattr(
        search, "search_entry", lambda record, *a: made.append(record.id) or entry(record, *a)
    )
    monkeypatch.setattr(search, "_kept", None)
    search.vouch(edited[1])
    assert search.kept_index(*edited, known) == (index, memo)
    ids = ranked(edited[0])
    assert sorted(made) == sorted([ids[0], ids[-1]])


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 6])
def test_the_index_file_joins_its_entries_as_json_writes_the_list(count: int) -> None:
    entries = [json.dumps({"name": f"n{i}", "text": "ü"}, sort_keys=True) for i in range(count)]
    records = {"records": [json.loads(entry) for entry in entries]}
    expected = f"self.factsheetSearch = {json.dumps(records)};\n".encode("ascii")
    joined = [entry.encode("ascii") for entry in entries]
    assert search._joined(joined) == expected
    assert joined == [entry.encode("ascii") for entry in entries]  # (left as they were)


@pytest.mark.skipif(not workers.can_fork(), reason="the workers are forked")
def test_an_index_made_in_a_worker_is_not_kept_there(
    model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool's worker ends with the build: the index it made (its entries, file and HTML
    keys) is not held for a later build there, on top of the pages it makes next. The file
    and memo are the same; this process, no worker, keeps its own."""
    monkeypatch.setattr(search, "_kept", None)
    index, memo = search.kept_index(*model)
    assert search._kept is not None and not workers.in_worker()
    monkeypatch.setattr(search, "_kept", None)

    def made() -> tuple[bytes, dict[str, object], bool, bool]:
        data, used = search.kept_index(*model)
        return data, dict(used), search._kept is None, workers.in_worker()

    assert workers.run_all([made, made], 2) == [(index, dict(memo), True, True)] * 2
    assert search._kept is None
