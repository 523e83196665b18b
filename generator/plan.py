"""Every output file of the site and the function that makes it, from the Corpus and Links.

Input: the Corpus and its Links. Output: a list of `Maker`s in a stable order — a page, a
record's JSON, a feed, the search index... — each named by the path of the file it writes.
A maker is handed a `Workshop`: the Jinja environment and the helpers (views, exporter,
feeds) built over the corpus and links it may read, which `deps` watches when a build keeps
a dependency record, and a memo of its own (the search index keeps each record's entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property, partial
from pathlib import Path
from typing import NamedTuple

import jinja2

from .data import Exporter, to_json
from .deps import Key, key
from .diagnostics import Diagnostic
from .feeds import Feeds
from .links import Links
from .model import Corpus, Record
from .render import environment, render_page
from .schema import KINDS, RECORD_KINDS, STORY
from .search import INDEX, SEARCH, search_index
from .urls import (
    CHRONOLOGY,
    FEED,
    GRAPH,
    HOME,
    NOT_FOUND,
    ROBOTS,
    SITEMAP,
    data_url,
    kind_data_url,
    kind_url,
    output_path,
    record_url,
    story_feed_url,
    timeline_url,
)
from .views import Page, Views


class Workshop:
    """What makers use, built once per process over the corpus and links they read."""

    def __init__(self, corpus: Corpus, links: Links, templates: Path) -> None:
        self.corpus = corpus
        self.links = links
        self.templates = templates
        # The running maker's memo: what it kept last time it ran, and what it keeps now.
        self.known: Mapping[str, str] = {}
        self.used: dict[str, str] = {}

    @cached_property
    def env(self) -> jinja2.Environment:
        return environment(self.templates)

    @cached_property
    def views(self) -> Views:
        return Views(self.corpus, self.links)

    @cached_property
    def exporter(self) -> Exporter:
        return Exporter(self.corpus, self.links)

    @cached_property
    def feeds(self) -> Feeds:
        return Feeds(self.corpus, self.links)


# What a maker makes: its files (path -> bytes) and the problems that stopped it.
Made = tuple[dict[str, bytes], list[Diagnostic]]


class Maker(NamedTuple):  # a tuple: a build lists one per file, 145,000 at 10,000 stories
    """Makes the file `name` (and, for a few, others beside it).

    `reads` are keys it reads that watching the corpus cannot see (a record's own body, a
    copied file). `url` is set for a page.
    """

    name: str
    make: Callable[[Workshop], Made]
    reads: tuple[Key, ...] = ()
    url: str | None = None


def makers(corpus: Corpus, links: Links, templates: Path) -> list[Maker]:
    """Every output file of the site, pages first, in a stable order."""
    pages = _pages(corpus)
    urls = [url for url, _ in pages]
    found = [Maker(output_path(url), partial(_page, view), url=url) for url, view in pages]
    for record in corpus:
        own = (key("body", record.id),) if record.body is not None else ()
        found.append(Maker(data_url(record), partial(_record_data, record), own))
    found.append(Maker(GRAPH, _graph))
    for kind in KINDS:
        if corpus.of_kind(kind):
            found.append(Maker(kind_data_url(kind), partial(_table, kind)))
    for story in corpus.of_kind(STORY):
        found.append(Maker(timeline_url(story), partial(_timeline, story)))
        found.append(Maker(story_feed_url(story), partial(_story_feed, story)))
    found.append(Maker(INDEX, _search_index))
    found.append(Maker(FEED, _site_feed))
    found.append(Maker(SITEMAP, partial(_sitemap, tuple(urls))))
    found.append(Maker(ROBOTS, _robots))
    for asset in sorted((templates / "assets").iterdir()):
        if asset.is_file():
            found.append(_copy(f"assets/{asset.name}", asset))
    for story in corpus.of_kind(STORY):
        for image in story.assets:
            found.append(_copy(f"{record_url(story)}{image.name}", image))
    return found


def _pages(corpus: Corpus) -> list[tuple[str, Callable[[Views], Page]]]:
    """Every page's URL and the view that makes its model, in the plan's order."""
    pages: list[tuple[str, Callable[[Views], Page]]] = [
        (HOME, Views.home),
        (CHRONOLOGY, Views.chronology),
        (SEARCH, Views.search),
        (NOT_FOUND, Views.not_found),
    ]
    for kind in (STORY, *RECORD_KINDS):
        records = corpus.of_kind(kind)
        if records:
            pages.append((kind_url(kind), partial(_kind_view, kind)))
        for record in records:
            view = Views.story if kind == STORY else Views.record
            pages.append((record_url(record), partial(_record_view, view, record.id)))
    return pages


def _kind_view(kind: str, views: Views) -> Page:
    return views.kind_index(kind)


def _record_view(view: Callable[[Views, Record], Page], record_id: str, views: Views) -> Page:
    return view(views, views.corpus[record_id])


def _page(view: Callable[[Views], Page], shop: Workshop) -> Made:
    page = view(shop.views)
    html, problem = render_page(shop.env, page)
    if problem is not None or html is None:
        return {}, [problem] if problem is not None else []
    return {output_path(page.url): html.encode("utf-8")}, []


def _record_data(record: Record, shop: Workshop) -> Made:
    return {data_url(record): to_json(shop.exporter.record(shop.corpus[record.id]))}, []


def _graph(shop: Workshop) -> Made:
    return {GRAPH: to_json(shop.exporter.graph())}, []


def _table(kind: str, shop: Workshop) -> Made:
    return {kind_data_url(kind): shop.exporter.table(kind, shop.corpus.of_kind(kind))}, []


def _timeline(story: Record, shop: Workshop) -> Made:
    return {timeline_url(story): to_json(shop.exporter.timeline(shop.corpus[story.id]))}, []


def _story_feed(story: Record, shop: Workshop) -> Made:
    return {story_feed_url(story): shop.feeds.story_chronology(shop.corpus[story.id])}, []


def _search_index(shop: Workshop) -> Made:
    return {INDEX: search_index(shop.corpus, shop.links, shop.known, shop.used)}, []


def _site_feed(shop: Workshop) -> Made:
    return {FEED: shop.feeds.stories()}, []


def _sitemap(urls: tuple[str, ...], shop: Workshop) -> Made:
    return {SITEMAP: shop.feeds.sitemap(urls)}, []


def _robots(shop: Workshop) -> Made:
    return {ROBOTS: shop.feeds.robots()}, []


def _copy(name: str, source: Path) -> Maker:
    return Maker(name, partial(_read_file, name, source), (key("file", str(source)),))


def _read_file(name: str, source: Path, shop: Workshop) -> Made:
    return {name: source.read_bytes()}, []
