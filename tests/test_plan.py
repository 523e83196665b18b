"""What a rebuild in the same process (serve's, after a save) takes from the last build
instead of making it again: the list of makers, the Jinja environment, the search index's
entries. Each is taken only while what it was made from is the same."""

from __future__ import annotations

import gc
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from generator import plan, search
from generator.links import Links
from generator.model import Corpus
from generator.pipeline import Options, load
from generator.render import TEMPLATES
from generator.urls import data_url, output_path, record_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model() -> tuple[Corpus, Links]:
    corpus, links, diagnostics = load(Options(content=ROOT / "content"))
    assert corpus is not None and links is not None, diagnostics
    return corpus, links


def shown(makers: list[plan.Maker]) -> list[tuple[str, object, tuple[str, ...], str | None]]:
    """What a maker is, as far as a list of them shows: its file, what it makes it from
    (the function and what it is given), its declared reads and its URL."""
    return [(m.name, form(m.make), m.reads, m.url) for m in makers]


def form(value: object) -> object:
    """A function and the arguments given to it (partials compare by identity)."""
    if isinstance(value, partial):
        return value.func, tuple(form(a) for a in value.args)
    return value


def fresh(corpus: Corpus, links: Links) -> list[plan.Maker]:
    plan._last = None
    return plan.makers(corpus, links, TEMPLATES)


def with_record(corpus: Corpus, record_id: str, **changes: object) -> Corpus:
    records = dict(corpus.records)
    records[record_id] = replace(records[record_id], **changes)  # type: ignore[arg-type]
    return Corpus(corpus.site, records)


def test_a_corpus_of_the_same_shape_is_given_the_last_makers(model: tuple[Corpus, Links]) -> None:
    corpus, links = model
    first = fresh(corpus, links)
    assert plan.makers(corpus, links, TEMPLATES) is first
    # A record's facts changed, not its name: makers look records up by id when they run.
    story = corpus.of_kind("stories")[0]
    edited = with_record(corpus, story.id, fields={**story.fields, "summary": "Changed."})
    assert plan.makers(edited, links, TEMPLATES) is first


def test_a_new_process_takes_the_index_s_reads_the_last_build_kept_for_the_same_ids(
    model: tuple[Corpus, Links],
) -> None:
    """The keys the search index reads, as the build cache keeps them (`plan.index_reads`):
    taken over, the very tuple, when the records have the ids they were made for; else
    made again. The makers are those a list made afresh gives either way."""
    corpus, links = model
    first = fresh(corpus, links)
    kept = plan.index_reads()
    assert kept is not None
    ids, reads = kept
    assert ids == "\0".join(sorted(corpus.records))
    assert reads == next(m.reads for m in first if m.name == search.INDEX)
    copied = (ids, tuple(list(reads)))  # (another tuple, as loaded from a cache)

    def reads_of(records: Corpus, known: object) -> tuple[str, ...]:
        plan._last = None
        made = plan.makers(records, links, TEMPLATES, known)
        assert shown(made) == shown(fresh(records, links))
        return next(m.reads for m in made if m.name == search.INDEX)

    assert reads_of(corpus, copied) is copied[1]
    for known in [(ids, copied[1][:-1]), ("other ids", copied[1]), (ids,), None, "foreign"]:
        assert reads_of(corpus, known) == reads and reads_of(corpus, known) is not copied[1]
    story = corpus.of_kind("stories")[-1]
    renamed = {i: r for i, r in corpus.records.items() if i != story.id}
    renamed["zz-new-story"] = replace(story, id="zz-new-story")
    again = reads_of(Corpus(corpus.site, renamed), copied)
    assert again != reads and any("zz-new-story" in key for key in again)
    assert plan.index_reads() == ("\0".join(sorted(renamed)), again)


def test_a_record_renamed_keeps_the_makers_and_their_order(model: tuple[Corpus, Links]) -> None:
    """The makers follow the records' ids, not their names (which order the pages that
    list them): a rename that moves a story from last to first by name gives the same
    list, as a list made afresh gives it, the sitemap's pages in the same order."""
    corpus, links = model
    first = fresh(corpus, links)
    story = corpus.of_kind("stories")[-1]
    renamed = with_record(corpus, story.id, name="0 First of all")
    assert renamed.of_kind("stories")[0].id == story.id  # (first by name now)
    assert plan.makers(renamed, links, TEMPLATES) is first
    assert shown(fresh(renamed, links)) == shown(first)
    pages = [m.url for m in first if m.url is not None]
    stories = [url for url in pages if url.startswith("stories/") and url != "stories/"]
    assert stories == sorted(stories) and len(stories) == len(corpus.of_kind("stories"))


@pytest.mark.parametrize("change", ["remove", "swap", "no body", "images", "kind"])
def test_a_corpus_of_another_shape_is_given_new_makers(
    model: tuple[Corpus, Links], change: str
) -> None:
    corpus, links = model
    first = fresh(corpus, links)
    story = corpus.of_kind("stories")[-1]
    if change == "remove":
        other = Corpus(corpus.site, {i: r for i, r in corpus.records.items() if i != story.id})
    elif change == "swap":  # as many records, one of another id in place of the story
        records = {i: r for i, r in corpus.records.items() if i != story.id}
        records["zz-new-story"] = replace(story, id="zz-new-story")
        other = Corpus(corpus.site, records)
    elif change == "no body":
        other = with_record(corpus, story.id, body=None)
    elif change == "images":
        other = with_record(corpus, story.id, assets=(ROOT / "content" / "site.yaml",))
    else:  # a story's page becomes a record's (a template of another name)
        other = with_record(corpus, story.id, kind="actors")
    again = plan.makers(other, links, TEMPLATES)
    assert again is not first
    assert shown(again) != shown(first)
    assert shown(again) == shown(fresh(other, links))


def test_a_workshop_takes_the_environment_of_the_same_templates(
    model: tuple[Corpus, Links],
) -> None:
    corpus, links = model
    env = plan.Workshop(corpus, links, TEMPLATES, version="one").env
    assert plan.Workshop(corpus, links, TEMPLATES, version="one").env is env
    assert plan.Workshop(corpus, links, TEMPLATES, version="two").env is not env
    unknown = plan.Workshop(corpus, links, TEMPLATES).env
    assert plan.Workshop(corpus, links, TEMPLATES).env is not unknown


def test_the_search_index_makes_again_only_what_changed_since_the_last_one(
    model: tuple[Corpus, Links], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, links = model
    made: list[str] = []
    real = search.search_entry
    monkeypatch.setattr(
        search, "search_entry", lambda record, links: made.append(record.id) or real(record, links)
    )
    monkeypatch.setattr(search, "_kept", None)
    first = search.search_index(corpus, links)
    assert len(made) == len(corpus.records)
    made.clear()
    assert search.search_index(corpus, links) == first
    assert made == []
    # One record's HTML changed, and another record's facts.
    story = corpus.of_kind("stories")[0]
    actor = corpus.of_kind("actors")[0]
    html = dict(links.html)
    html[(story.id, "body")] = "<p>Now something else entirely.</p>"
    changed_links = replace(links, html=html)
    changed = with_record(corpus, actor.id, name="Someone else")
    index = search.search_index(changed, changed_links)
    assert sorted(made) == sorted([story.id, actor.id])
    assert b"Now something else entirely." in index and b"Someone else" in index
    monkeypatch.setattr(search, "_kept", None)
    assert search.search_index(changed, changed_links) == index


def test_a_corpus_of_the_same_shape_is_not_listed_again(
    model: tuple[Corpus, Links], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The makers are listed once while the corpus keeps its shape (a record renamed, its
    summary edited), and again when it changes."""
    corpus, links = model
    real, listed = plan._makers, []
    monkeypatch.setattr(plan, "_makers", lambda c, *a: listed.append(c) or real(c, *a))
    first = fresh(corpus, links)
    story = corpus.of_kind("stories")[0]
    renamed = with_record(corpus, story.id, name=f"{story.name} again", fields={})
    assert plan.makers(renamed, links, TEMPLATES) is first
    assert listed == [corpus]
    other = with_record(renamed, story.id, body=None)
    assert plan.makers(other, links, TEMPLATES) is not first
    assert listed == [corpus, other]


def test_listing_the_makers_leaves_the_collector_as_it_found_it(
    model: tuple[Corpus, Links],
) -> None:
    """The makers are listed without the cyclic collector (see `plan._listed`), which is on
    again afterwards if it was on before, and off if it was off; the list is the same."""
    corpus, links = model
    assert gc.isenabled()
    first = fresh(corpus, links)
    assert gc.isenabled()
    gc.disable()
    try:
        again = fresh(corpus, links)
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
    assert shown(again) == shown(first)


def test_the_makers_name_the_files_and_urls_that_urls_gives(model: tuple[Corpus, Links]) -> None:
    """`_makers` writes a record's page URL, its file and its JSON's name in place (without
    a call per record): they are what `urls` gives, for every record."""
    corpus, links = model
    makers = fresh(corpus, links)
    by_name = {m.name: m for m in makers}
    for record in corpus:
        page = by_name[output_path(record_url(record))]
        assert page.url == record_url(record)
        assert isinstance(page.make, partial)
        assert form(page.make) == (plan._record_page, (page.make.args[0], record.id))
        assert data_url(record) in by_name
    pages = [m for m in makers if m.url is not None]
    assert len(pages) > len(corpus.records)
    assert [m.name for m in pages] == [output_path(m.url) for m in pages if m.url is not None]


def test_the_search_index_the_graph_and_the_sitemap_are_made_first(
    model: tuple[Corpus, Links],
) -> None:
    """The costliest makers in memory come first, so that a worker makes them while it is
    small (the first slices), not after its pages have grown it; every file is still made
    once, and the pages keep their order."""
    corpus, links = model
    makers = fresh(corpus, links)
    assert [m.name for m in makers[:3]] == [search.INDEX, "data/graph.json", "sitemap.xml"]
    names = [m.name for m in makers]
    assert len(set(names)) == len(names)
    pages = [m.url for m in makers if m.url is not None]
    assert pages == [m.url for m in plan._pages(corpus)]
