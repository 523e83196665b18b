"""Every output file of the site and the function that makes it, from the Corpus and Links.

Input: the Corpus and its Links. Output: a list of `Maker`s in a stable order — a page, a
record's JSON, a feed, the search index... — each named by the path of the file it writes.
A maker is handed a `Workshop`: the Jinja environment and the helpers (views, exporter,
feeds) built over the corpus and links it may read, which `deps` watches when a build keeps
a dependency record, and a memo of its own (the search index keeps each record's entry).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from functools import cached_property, partial
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import jinja2

from .cache import no_collection
from .data import Exporter, to_json
from .deps import SEP, TEMPLATE, Key, Reads, key
from .diagnostics import Diagnostic
from .feeds import Feeds
from .links import Links
from .maps import gazetteer
from .model import Corpus, Record, renewed
from .render import environment, render_page, templates_of
from .schema import KINDS, RECORD_KINDS, STORY
from .search import FIELDS, INDEX, SEARCH, kept_index
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

    def __init__(
        self,
        corpus: Corpus,
        links: Links,
        templates: Path,
        unwatched: Links | None = None,
        version: str | None = None,
        unwatched_corpus: Corpus | None = None,
    ) -> None:
        self.corpus = corpus
        self.links = links
        # The links unwatched, for a maker whose `reads` name all it reads of them; the
        # corpus unwatched, for what notes its reads itself.
        self.unwatched_links = links if unwatched is None else unwatched
        self.unwatched_corpus = corpus if unwatched_corpus is None else unwatched_corpus
        self.templates = templates
        self.version = version  # a digest of the templates, if known
        # The running maker's memo: what it kept last time it ran, and what it keeps now
        # (the maker puts it here).
        self.known: Mapping[str, object] = {}
        self.used: Mapping[str, object] = {}
        # Where the running maker's reads are noted, when the corpus and links are watched
        # (see `rebuild._workshop`): a page notes the templates it is rendered with.
        self.reads: Reads | None = None
        self._template_keys: dict[str, tuple[Key, ...]] = {}

    def template_keys(self, name: str) -> tuple[Key, ...]:
        """The keys of the templates a page rendered with the template `name` reads."""
        found = self._template_keys.get(name)
        if found is None:
            found = tuple(key(TEMPLATE, n) for n in templates_of(self.env, name))
            self._template_keys[name] = found
        return found

    @cached_property
    def env(self) -> jinja2.Environment:
        """The Jinja environment; the last one made in this process while the templates
        are the same (their digest): serve's rebuild after a save compiles none again."""
        global _environment
        if self.version is None:
            return environment(self.templates)
        known = (self.templates, self.version)
        if _environment is None or _environment[0] != known:
            _environment = known, environment(self.templates)
        return _environment[1]

    @cached_property
    def views(self) -> Views:
        # The gazetteer reads where every mapped record is, which the key "g" stands for.
        return Views(self.corpus, self.links, gazetteer(self.unwatched_corpus))

    @cached_property
    def exporter(self) -> Exporter:
        return Exporter(self.corpus, self.links)

    @cached_property
    def feeds(self) -> Feeds:
        return Feeds(self.corpus, self.links)


# The templates (folder, digest) and the environment of the last workshop that knew them.
_environment: tuple[tuple[Path, str], jinja2.Environment] | None = None


class Compiled(jinja2.BytecodeCache):
    """Templates as Jinja compiled them (its bytecode by its key), for the build cache: a
    new process's build after one story is edited compiled its few templates again (0.17 s
    of CPU, as much as all else at 1,000 stories). Jinja takes a template's bytecode only
    for the same source (a checksum) and the same Python, and compiles it again otherwise.

    `kept`: the bytecode of the last build; `used`, this build's, as it loads templates.
    """

    def __init__(self, kept: Mapping[str, bytes]) -> None:
        self.kept = kept
        self.used: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        bytecode = self.kept.get(bucket.key)
        if isinstance(bytecode, bytes):
            bucket.bytecode_from_string(bytecode)
            if bucket.code is not None:
                self.used[bucket.key] = bytecode

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.used[bucket.key] = bucket.bytecode_to_string()


def compiled(templates: Path, version: str | None, kept: object) -> Compiled:
    """The compiled templates of the workshops' Jinja environment for these templates (of
    digest `version`: see `Workshop.env`), taken from `kept` (a build cache's) where the
    environment is made here; the environment kept in this process (serve's) keeps its
    own."""
    global _environment
    if version is None:  # (no environment is kept)
        return Compiled({})
    known = (templates, version)
    if _environment is not None and _environment[0] == known:
        env = _environment[1]
        if isinstance(env.bytecode_cache, Compiled):
            return env.bytecode_cache
        return Compiled({})
    env = environment(templates)
    env.bytecode_cache = Compiled(kept if isinstance(kept, dict) else {})
    _environment = known, env
    return env.bytecode_cache


def compile_pages(bytecode: Compiled) -> dict[str, bytes]:
    """Every page template loaded in this process's environment that `bytecode` serves (from
    the kept bytecode where it holds, compiled where not: those compiled in forked workers
    come back no other way), and their bytecode, to keep. A template that cannot be loaded
    is not kept (the pages that use it report it)."""
    env = _environment[1] if _environment is not None else None
    if env is not None and env.bytecode_cache is bytecode:
        for name in env.list_templates(extensions=["html"]):
            with contextlib.suppress(jinja2.TemplateError, OSError, UnicodeError):
                env.get_template(name)
    return bytecode.used


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


def makers(corpus: Corpus, links: Links, templates: Path, kept: object = None) -> list[Maker]:
    """Every output file of the site, in a stable order: the search index, the graph and
    the sitemap first, then the pages, then the rest.

    The index, the graph and the sitemap are the makers that need the most memory while
    they run (at 10,000 stories, a file of 89 MiB and its 62,500 entries; 96 MiB of edges;
    an XML tree of 62,500 pages, some 50 MiB): made first, by workers that have rendered no
    page yet, and freed before their pages' caches grow them, not on top of them (a cold
    build's peak; the index alone, see `workers.slices`). A slow maker first also leaves
    the other workers the short ones to even out the end.

    The list depends only on the shape of the corpus (which records there are, of which
    kind, with a body or not, with which images: not their names, see `_by_kind`) and on
    the template assets: the makers name records by id and look them up when they run. So
    the list of the last call is given again while that shape is the same (serve's
    rebuild after a save: listing 145,000 makers at 10,000 stories costs more than the
    page that changed).

    `kept`: what `index_reads` gave in the last build, if known (from the build cache).
    """
    global _last
    last, assets = _last, _assets(templates)
    if last is None or last[:2] != (templates, assets):
        found = _listed(corpus, assets, kept)
    elif _same_records(last.corpus.records, corpus):
        _last = last._replace(corpus=corpus)  # (the same shape: a corpus's records are
        return last.makers  # not changed)
    else:
        found = _listed(corpus, assets, kept)
    _last = _Last(templates, assets, corpus, found)
    return found


def index_reads() -> tuple[str, tuple[Key, ...]] | None:
    """What the search index's maker of the last list of makers reads (the HTML of every
    record's FIELDS), with the ids it was made for, as one text: for the build cache, so
    that a new process with the same ids takes them over (`makers`' `kept`) instead of
    making 187,000 keys again at 10,000 stories."""
    return _reads


# The last `index_reads`.
_reads: tuple[str, tuple[Key, ...]] | None = None


class _Last(NamedTuple):
    """The last call to `makers`: its templates, their assets, the corpus and the makers."""

    templates: Path
    assets: tuple[Path, ...]
    corpus: Corpus
    makers: list[Maker]


# The last call to `makers` (one process, one site at a time: a second site replaces the
# first).
_last: _Last | None = None


def _same_records(last: Mapping[str, Record], corpus: Corpus) -> bool:
    """Whether the corpus has the shape of the last one, whose records were `last`, without
    working the shape out: the same ids, and each record that is not the very object it
    was has the same kind, body or not, and images. (The caller compares the templates and
    their assets.)"""
    records = corpus.records
    if len(records) != len(last):
        return False
    # The records that are not the very object they were (a few, after a save); an id
    # that is new (as many ids: another one went) has none. (The makers follow the ids'
    # order, not the order of the mapping.)
    for record_id, record in renewed(last, records):
        was = last.get(record_id)
        if (
            was is None
            or was.kind != record.kind
            or (was.body is None) != (record.body is None)
            or was.assets != record.assets
        ):
            return False
    return True


def _assets(templates: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in (templates / "assets").iterdir() if p.is_file()))


def _by_kind(records: list[Record]) -> dict[str, list[Record]]:
    """The records (in the corpus's order, by id) of each kind, by id. The makers are listed
    in that order, not by name as pages show records: a record renamed keeps its makers'
    places (and the build that follows, the list of makers and its site's file names)."""
    grouped: dict[str, list[Record]] = {}
    for record in records:
        grouped.setdefault(record.kind, []).append(record)
    return grouped


def _listed(corpus: Corpus, assets: tuple[Path, ...], kept: object = None) -> list[Maker]:
    """`_makers`, without the cyclic garbage collector, and exempted from it (see
    `cache.no_collection`): the list lasts as long as the build (or serve's next ones), and
    its tuples, partials and strs hold no cycle. Collections woken every few thousand of its
    objects would walk them again and again (a new process's list at 10,000 stories: about
    a third of its CPU). (`pipeline.build` gives them back to the collector at its end.)"""
    with no_collection():
        return _makers(corpus, assets, kept)


def _makers(corpus: Corpus, assets: tuple[Path, ...], kept: object = None) -> list[Maker]:
    # (Made positionally, in list comprehensions, the most by tuple.__new__, which is
    # Maker's own constructor without its Python call: a new process lists 145,000 makers
    # at 10,000 stories, and keyword arguments and appends one by one cost a third more.)
    records = list(corpus)
    grouped = _by_kind(records)
    pages = _pages(corpus, grouped)
    urls = [m.url for m in pages if m.url is not None]  # (every one)
    # (the costliest in memory first: see `makers`)
    found = [
        Maker(INDEX, _search_index, _index_reads(records, kept)),
        Maker(GRAPH, _graph),
        Maker(SITEMAP, partial(_sitemap, tuple(urls))),
    ]
    found.extend(pages)
    new = tuple.__new__
    body = key("body", "")
    found.extend(
        [
            new(
                Maker,
                (
                    f"data/{r.kind}/{r.id}.json",  # (`data_url`, without a call per record)
                    partial(_record_data, r.id),
                    (body + r.id,) if r.body is not None else (),
                    None,
                ),
            )
            for r in records
        ]
    )
    for kind in KINDS:
        if kind in grouped:
            found.append(Maker(kind_data_url(kind), partial(_table, kind)))
    stories = grouped.get(STORY, [])
    for story in stories:
        found.append(Maker(timeline_url(story), partial(_timeline, story.id)))
        found.append(Maker(story_feed_url(story), partial(_story_feed, story.id)))
    found.append(Maker(FEED, _site_feed))
    found.append(Maker(ROBOTS, _robots))
    for asset in assets:
        found.append(_copy(f"assets/{asset.name}", asset))
    for story in stories:
        for image in story.assets:
            found.append(_copy(f"{record_url(story)}{image.name}", image))
    return found


def _index_reads(records: list[Record], kept: object) -> tuple[Key, ...]:
    """The keys the index reads: the HTML of every record's FIELDS, named here once, not
    noted one by one as it reads them (187,000 lookups at 10,000 stories). Those `kept`, if
    they were made for the same ids (see `index_reads`)."""
    global _reads
    ids = "\0".join(map(_ID, records))
    if (
        isinstance(kept, tuple)
        and len(kept) == 2
        and kept[0] == ids
        and ids.count("\0") == len(records) - 1  # (no id holds a NUL: one text per list)
        and isinstance(kept[1], tuple)
        and len(kept[1]) == len(records) * len(FIELDS)
    ):
        reads: tuple[Key, ...] = kept[1]
    else:
        intern, html = sys.intern, key("h", "")
        reads = tuple([intern(f"{html}{r.id}{SEP}{name}") for r in records for name in FIELDS])
    _reads = ids, reads
    return reads


_ID = attrgetter("id")


def _pages(corpus: Corpus, grouped: dict[str, list[Record]] | None = None) -> list[Maker]:
    """The maker of every page, in the plan's order (the corpus's records `grouped` by
    kind, see `_by_kind`, if known)."""
    grouped = _by_kind(list(corpus)) if grouped is None else grouped
    views: list[tuple[str, Callable[[Views], Page]]] = [
        (HOME, Views.home),
        (CHRONOLOGY, Views.chronology),
        (SEARCH, Views.search),
        (NOT_FOUND, Views.not_found),
    ]
    pages = [Maker(output_path(url), partial(_page, view), (), url) for url, view in views]
    new = tuple.__new__
    for kind in (STORY, *RECORD_KINDS):
        records = grouped.get(kind, [])
        if records:
            url = kind_url(kind)
            pages.append(
                Maker(output_path(url), partial(_page, partial(_kind_view, kind)), (), url)
            )
        view = Views.story if kind == STORY else Views.record
        # A record's page, by its URL (`record_url`, a folder) and file (`output_path`), made
        # here without two calls per record, and one partial: a new process lists 62,500 at
        # 10,000 stories.
        urls = [f"{r.kind}/{r.id}/" for r in records]
        pages.extend(
            [
                new(Maker, (f"{url}index.html", partial(_record_page, view, r.id), (), url))
                for url, r in zip(urls, records, strict=True)
            ]
        )
    return pages


def _kind_view(kind: str, views: Views) -> Page:
    return views.kind_index(kind)


def _record_page(view: Callable[[Views, Record], Page], record_id: str, shop: Workshop) -> Made:
    views = shop.views
    return _rendered(shop, view(views, views.corpus[record_id]))


def _page(view: Callable[[Views], Page], shop: Workshop) -> Made:
    return _rendered(shop, view(shop.views))


def _rendered(shop: Workshop, page: Page) -> Made:
    html, problem = render_page(shop.env, page)
    if problem is not None or html is None:
        return {}, [problem] if problem is not None else []
    if shop.reads is not None:
        shop.reads.update(shop.template_keys(page.template))
    return {output_path(page.url): html.encode("utf-8")}, []


def _record_data(record_id: str, shop: Workshop) -> Made:
    record = shop.corpus[record_id]
    return {data_url(record): to_json(shop.exporter.record(record))}, []


def _graph(shop: Workshop) -> Made:
    return {GRAPH: shop.exporter.graph_json()}, []


def _table(kind: str, shop: Workshop) -> Made:
    return {kind_data_url(kind): shop.exporter.table(kind, shop.corpus.of_kind(kind))}, []


def _timeline(story_id: str, shop: Workshop) -> Made:
    story = shop.corpus[story_id]
    return {timeline_url(story): to_json(shop.exporter.timeline(story))}, []


def _story_feed(story_id: str, shop: Workshop) -> Made:
    story = shop.corpus[story_id]
    return {story_feed_url(story): shop.feeds.story_chronology(story)}, []


def _search_index(shop: Workshop) -> Made:
    # It reads every record (noted as "all", as iterating the watched corpus would) and the
    # HTML its `reads` name; it looks at them unwatched, 60,000 at a time.
    len(shop.corpus.records)
    index, shop.used = kept_index(shop.unwatched_corpus, shop.unwatched_links, shop.known)
    return {INDEX: index}, []


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
