"""Tests for generator.views on the shipped example: what the views keep for the build."""

from __future__ import annotations

from pathlib import Path

from generator.pipeline import Options, load
from generator.schema import STORY
from generator.views import Views

CONTENT = Path(__file__).resolve().parent.parent / "content"


def test_views_keep_the_relative_html_of_summaries_but_not_of_bodies() -> None:
    corpus, links, _ = load(Options(content=CONTENT))
    assert corpus is not None and links is not None
    views = Views(corpus, links)
    story = corpus.of_kind(STORY)[0]
    page = views.story(story)
    body = links.html[story.id, "body"]
    assert body and str(page.body) == str(views.html(page.url, story, "body"))
    kept = {text for _, text in views._relative}
    assert body not in kept  # a body is on one page: kept, it would only hold memory
    assert links.html[story.id, "summary"] in kept  # a summary is on many pages
    # Kept or not, it is the same relative HTML, made for the page's depth.
    assert views.html(page.url, story, "summary") == page.summary


def test_kept_lines_of_chronologies_note_what_they_read_on_every_page() -> None:
    """A page shows lines kept from earlier pages: it notes the same reads as it would have
    noted making them itself (what the dependency record keeps of each page)."""
    from generator import plan, rebuild
    from generator.render import TEMPLATES

    corpus, links, _ = load(Options(content=CONTENT))
    assert corpus is not None and links is not None
    pages = [m for m in plan.makers(corpus, links, TEMPLATES) if m.url is not None]

    def reads_of(maker: plan.Maker, shop: plan.Workshop, reads: set[str]) -> set[str]:
        reads.clear()
        maker.make(shop)
        return set(reads)

    warm_reads: set[str] = set()
    warm = rebuild._workshop(corpus, links, TEMPLATES, warm_reads, "test")
    kept_for_many = 0
    for maker in pages:
        seen_before = len(warm.views._entries)
        noted = reads_of(maker, warm, warm_reads)
        cold_reads: set[str] = set()
        cold = rebuild._workshop(corpus, links, TEMPLATES, cold_reads, "test")
        assert noted == reads_of(maker, cold, cold_reads), maker.name
        shown = len(cold.views._entries)
        kept_for_many += shown - (len(warm.views._entries) - seen_before)
    assert kept_for_many > 20  # lines were taken from what earlier pages made


def test_views_hash_once_and_alike_when_equal() -> None:
    """Views kept by the templates' memos keep their hash: equal views, equal hashes."""
    from dataclasses import replace

    from markupsafe import Markup

    from generator.views import DateView, EntryView, LinkView

    line = EntryView(
        DateView("10 May 2022", "2022-05-10"),
        "event",
        LinkView("../../events/e/index.html", "E", "event"),
        Markup("<p>x</p>"),
        (LinkView("../../sources/s/index.html", "S", "source"),),
    )
    twin = replace(line, link=replace(line.link))
    assert hash(line) == hash(twin) and line == twin
    assert hash(line) == hash(line) == line.__dict__["_hash"]
    other = replace(line, current=True)
    assert other != line and {line: 1, other: 2}[twin] == 1
    assert replace(line.link, text="F") != line.link


def test_a_date_view_is_made_once_per_date_and_shows_the_date() -> None:
    from generator.dates import PartialDate
    from generator.views import DateView

    corpus, links, _ = load(Options(content=CONTENT))
    assert corpus is not None and links is not None
    views = Views(corpus, links)
    day = views.date_view(PartialDate(2022, 12, 10))
    assert day == DateView("10 December 2022", "2022-12-10", False, "day")
    assert views.date_view(PartialDate(2022, 12, 10)) is day
    assert views.date_view(PartialDate(2022, 12, approximate=True)) == DateView(
        "c. December 2022", "2022-12", True, "month"
    )
    assert views.date_view(PartialDate(2022, 12, 10, approximate=True)) != day
    assert views.date_view("2022-12-10") is None and views.date_view(None) is None


def test_a_line_of_a_chronology_reads_what_entry_reads_lists() -> None:
    """`entries` looks up again, for a kept line, what `entry_reads` listed: the very keys
    making the line noted (sources, summary or who said or sent it), for every dated record."""
    from generator import chronology
    from generator.deps import watch

    corpus, links, _ = load(Options(content=CONTENT))
    assert corpus is not None and links is not None
    reads: set[str] = set()
    watched_corpus, watched_links = watch(corpus, links, reads)
    views = Views(watched_corpus, watched_links)
    kinds = set()
    for entry in chronology.everything(corpus):
        record = entry.record
        url = "events/x/index.html"
        views.entry(url, entry, False)  # (made once before, as a kept line was)
        reads.clear()
        views.entry(url, entry, False)
        made = set(reads)
        reads.clear()
        ids, summary = views.entry_reads(record)
        for record_id in ids:
            watched_corpus.records.get(record_id)
        if summary is not None:
            watched_links.html.get(summary)
        assert made == reads, record.id
        kinds.add((record.kind, summary is None))
    # Lines with a summary, and quotes or notes without one, were among them.
    assert ("events", False) in kinds and any(none for kind, none in kinds if kind != "events")
