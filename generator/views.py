"""One view model per page type: everything a template may use, with links already relative.

Input: the Corpus, its Links and a page URL; output: frozen dataclasses. Templates do no
lookups and compute no URLs, so a page can be rendered alone from its view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from . import chronology
from .chronology import Entry
from .dates import PartialDate, Precision, display_range
from .jsonld import Describer, script
from .links import Links
from .maps import Gazetteer, MapView, locator_map
from .markup import relativize
from .model import Alias, Citation, Corpus, Identifier, Publisher, Record, Ref
from .schema import IDENTIFIER_SCHEMES, KINDS, SCHEMAS, SINGULAR, STORY, TITLES, Field
from .search import INDEX, SCRIPT, SEARCH
from .urls import (
    CHRONOLOGY,
    FEED,
    HOME,
    NOT_FOUND,
    absolute,
    data_url,
    kind_url,
    link,
    output_path,
    record_url,
    relative_prefix,
    story_feed_url,
)

# Fields shown elsewhere on a sheet than in its definition list of facts.
_NOT_FACTS = frozenset(
    {
        "name",
        "aliases",
        "summary",
        "description",
        "sources",
        "tags",
        "updated",
        "extra",
        "stories",
        "order",
        "text",
        "title",
        "end",
        "draft",
    }
)


def _is_fact(kind: str, declared: Field) -> bool:
    """Whether a field of a record of `kind` is in its definition list of facts, if set."""
    if declared.name == "date" and kind in ("events", "notes", "quotes"):
        return False  # (shown first, with the date of the event it was said at)
    return declared.name not in _NOT_FACTS or (
        declared.name == "title" and kind in ("events", "sources")
    )


# The fields of each kind in its definition list of facts, in order.
_FACT_FIELDS = {
    kind: tuple(declared for declared in SCHEMAS[kind] if _is_fact(kind, declared))
    for kind in KINDS
}
LATEST_EVENTS = 10
# The Markdown fields shown on many pages (a summary: in timelines, lists, cards), whose
# relative HTML is made once per URL depth and kept for the build.
_REPEATED_FIELDS = frozenset({"summary"})


@dataclass(frozen=True)
class LinkView:
    href: str
    text: str
    kind: str = ""  # the singular kind of the record linked to, '' for other pages


@dataclass(frozen=True)
class DateView:
    text: str  # as written, at its precision: "10 December 2022", "c. December 2022"
    machine: str  # for <time datetime>
    approximate: bool = False
    precision: str = "day"  # 'year', 'month', 'day' or 'time': how much of the date is known


@dataclass(frozen=True)
class FactItem:
    text: str
    href: str | None = None
    detail: str = ""
    external: bool = False
    machine: str = ""  # set for a date: the template shows it in <time datetime>


@dataclass(frozen=True)
class Fact:
    label: str
    items: tuple[FactItem, ...]


@dataclass(frozen=True)
class CitationView:
    link: LinkView
    url: str | None
    publisher: str
    published: DateView | None
    quote: str | None
    page: str | None
    accessed: DateView | None


@dataclass(frozen=True)
class EntryView:
    """One line of a chronology or timeline."""

    date: DateView
    kind: str
    link: LinkView
    summary: Markup
    sources: tuple[LinkView, ...]
    current: bool = False  # the page's own story, in its chronology


def _kept_hash(view: Any) -> int:
    """The hash of a view, worked out once: the memos of the templates (`render.Memo`) hash
    the views they are kept by on every page that shows them (a line of a chronology, the
    links of the masthead). Equal views hash alike: the hash is of every field's value."""
    found: int | None = view.__dict__.get("_hash")
    if found is None:
        found = hash(tuple(getattr(view, name) for name in view.__dataclass_fields__))
        object.__setattr__(view, "_hash", found)
    return found


# The views whose hash is kept: made of text and of one another, they never change (and a
# memo of the templates may keep the HTML made of one on it: see `render.Memo`).
UNCHANGING = frozenset({LinkView, DateView, EntryView})
for _view in UNCHANGING:
    _view.__hash__ = _kept_hash  # type: ignore[method-assign,assignment]


@dataclass(frozen=True)
class BacklinkGroup:
    label: str
    links: tuple[LinkView, ...]


@dataclass(frozen=True)
class AliasGroup:
    language: str | None
    names: tuple[str, ...]


@dataclass(frozen=True)
class Alternate:
    """Another form of the page, for <link rel="alternate">: a feed, the data as JSON."""

    href: str
    type: str
    title: str


@dataclass(frozen=True)
class Page:
    """What every page has. `root` leads back to the site root from this page.

    `jsonld` is the page's schema.org data, already escaped for a script data block.
    """

    url: str
    template: str
    title: str
    site_title: str
    language: str
    root: str
    home: str
    stylesheet: str
    nav: tuple[LinkView, ...]
    canonical: str | None
    meta_description: str
    search: str  # the search page, which every page's search box leads to
    alternates: tuple[Alternate, ...]
    jsonld: Markup


@dataclass(frozen=True)
class StoryCard:
    link: LinkView
    date: DateView
    dateline: str
    summary: Markup


@dataclass(frozen=True)
class HomePage(Page):
    stories: tuple[StoryCard, ...]
    latest: tuple[EntryView, ...]
    counts: tuple[tuple[LinkView, int], ...]
    chronology: str


@dataclass(frozen=True)
class FactBox:
    label: str
    links: tuple[LinkView, ...]


@dataclass(frozen=True)
class StoryPage(Page):
    headline: str
    date: DateView
    updated: DateView | None
    dateline: str
    authors: tuple[str, ...]
    summary: Markup
    body: Markup
    factbox: tuple[FactBox, ...]
    chronology: tuple[EntryView, ...]
    sources: tuple[CitationView, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RecordPage(Page):
    kind: str
    kind_title: str
    kind_link: LinkView
    name: str
    quote_text: str
    aliases: tuple[AliasGroup, ...]
    summary: Markup
    facts: tuple[Fact, ...]
    description: Markup
    sources: tuple[CitationView, ...]
    backlinks: tuple[BacklinkGroup, ...]
    timeline: tuple[EntryView, ...]
    map: MapView | None
    tags: tuple[str, ...]
    updated: DateView | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KindRow:
    link: LinkView
    detail: str
    sort_value: str
    summary: Markup


@dataclass(frozen=True)
class KindPage(Page):
    kind: str
    detail_label: str
    rows: tuple[KindRow, ...]


@dataclass(frozen=True)
class MonthView:
    heading: str
    anchor: str
    entries: tuple[EntryView, ...]


@dataclass(frozen=True)
class YearView:
    year: int
    months: tuple[MonthView, ...]


@dataclass(frozen=True)
class ChronologyPage(Page):
    years: tuple[YearView, ...]


@dataclass(frozen=True)
class NotFoundPage(Page):
    pass


@dataclass(frozen=True)
class SearchPage(Page):
    index_script: str  # the index, as a script file (it loads from file:// too)
    script: str  # the search code


# --- building views ------------------------------------------------------------------------


class Views:
    """Builds the view of each page of one site from the Corpus and its Links."""

    def __init__(self, corpus: Corpus, links: Links, gazetteer: Gazetteer | None = None) -> None:
        """`gazetteer`: the corpus's, if one is at hand (see `maps.gazetteer`)."""
        self.corpus = corpus
        self.links = links
        self.tz = corpus.site.tz
        self.kinds = tuple(kind for kind in KINDS if corpus.of_kind(kind))
        self.describe = Describer(corpus, links)
        self.gazetteer = Gazetteer(corpus) if gazetteer is None else gazetteer
        # What many pages repeat, made once. Each is a function of values a page has already
        # looked up (so it reads what it would have read), or of the site and its kinds,
        # which every page reads.
        self._prefixes: dict[str, str] = {}
        self._chrome: dict[tuple[str, bool], dict[str, Any]] = {}
        self._links: dict[tuple[str, str], LinkView] = {}
        self._relative: dict[tuple[str, str], Markup] = {}
        self._dates: dict[tuple[PartialDate, PartialDate | None], DateView] = {}
        self._single_dates: dict[PartialDate, DateView] = {}
        # The line of each dated record in a chronology, per URL depth and whether it is the
        # page's own story, with what making it read (see `entries`).
        self._entries: dict[tuple[str, str, bool], tuple[EntryView, _Reads]] = {}

    # helpers shared by every page

    def page(
        self,
        url: str,
        template: str,
        title: str,
        description: str = "",
        node: dict[str, Any] | None = None,
        alternates: tuple[Alternate, ...] = (),
    ) -> dict[str, Any]:
        """The fields every page has; `node` is its JSON-LD (a plain WebPage if None)."""
        site = self.corpus.site
        chrome = self.chrome(url)
        full_title = title if title == site.title else f"{title} · {site.title}"
        return {
            "url": url,
            "template": template,
            "title": full_title,
            "site_title": site.title,
            "language": site.language,
            "root": chrome["root"],
            "home": chrome["home"],
            "stylesheet": chrome["stylesheet"],
            "nav": chrome["nav"],
            "canonical": absolute(site.base_url, url) if site.base_url else None,
            "meta_description": description or site.description,
            "search": chrome["search"],
            "alternates": (chrome["feed"], *alternates),
            "jsonld": script(node or self.describe.web_page(url, title), url, site.base_url),
        }

    def chrome(self, url: str) -> dict[str, Any]:
        """The links every page at the depth of `url` has (made of the site and its kinds)."""
        site = self.corpus.site
        # A host serves 404.html at any missing address, so relative links would break.
        absolute_links = url == NOT_FOUND and bool(site.base_url)
        known = self._chrome.get((self.prefix(url), absolute_links))
        if known is not None:
            return known

        def to(target: str) -> str:
            if absolute_links:
                return absolute(site.base_url, link(url, target))
            return link(url, target)

        nav = (
            *(LinkView(to(kind_url(kind)), TITLES[kind]) for kind in self.kinds),
            LinkView(to(CHRONOLOGY), "Chronology"),
        )
        chrome = {
            "root": to(HOME).removesuffix("index.html"),
            "home": to(HOME),
            "stylesheet": to("assets/style.css"),
            "nav": nav,
            "search": to(SEARCH),
            "feed": Alternate(to(FEED), "application/atom+xml", f"{site.title}: stories"),
        }
        self._chrome[self.prefix(url), absolute_links] = chrome
        return chrome

    def prefix(self, url: str) -> str:
        """What leads from the page at `url` to the site root."""
        prefix = self._prefixes.get(url)
        if prefix is None:
            prefix = self._prefixes[url] = relative_prefix(url)
        return prefix

    def to(self, url: str, record: Record) -> LinkView:
        prefix = self.prefix(url)
        found = self._links.get((prefix, record.id))
        if found is None:
            href = prefix + output_path(record_url(record))
            found = self._links[prefix, record.id] = LinkView(
                href, record.name, SINGULAR[record.kind]
            )
        return found

    def ref(self, url: str, ref: Ref) -> LinkView | None:
        record = self.corpus.records.get(ref.id)
        return self.to(url, record) if record else None

    def html(self, url: str, record: Record, name: str) -> Markup:
        rendered = self.links.html.get((record.id, name), "")
        prefix = self.prefix(url)
        if name not in _REPEATED_FIELDS:
            # A body or description is on its record's page alone: kept, it would only hold
            # memory (every story a process renders) until the build ends.
            return Markup(relativize(rendered, prefix))
        found = self._relative.get((prefix, rendered))
        if found is None:
            # The HTML comes from our Markdown renderer, which escapes or sanitises raw HTML.
            found = self._relative[prefix, rendered] = Markup(relativize(rendered, prefix))
        return found

    def sorted_links(self, url: str, ids: Iterable[str]) -> tuple[LinkView, ...]:
        corpus = self.corpus
        return self.links_to(url, _by_name([corpus[i] for i in ids]))

    def links_to(self, url: str, records: Iterable[Record]) -> tuple[LinkView, ...]:
        """`to` of each record, in order."""
        prefix = self.prefix(url)
        kept = self._links
        return tuple([kept.get((prefix, record.id)) or self.to(url, record) for record in records])

    def plain_summary(self, record: Record) -> str:
        """The summary as plain text (links become their names), for meta descriptions."""
        return self.describe.plain(record.id, "summary")

    def data_alternate(self, url: str, record: Record) -> Alternate:
        return Alternate(
            link(url, data_url(record)), "application/json", "The facts of this page as JSON"
        )

    def citations(self, url: str, record: Record) -> tuple[CitationView, ...]:
        views = []
        for citation in record.get("sources", ()):
            source = self.corpus.records.get(citation.source.id)
            if source is not None:
                views.append(self.citation(url, citation, source))
        return tuple(views)

    def citation(self, url: str, citation: Citation, source: Record) -> CitationView:
        publisher = source.get("publisher")
        return CitationView(
            link=self.to(url, source),
            url=source.get("url"),
            publisher=self.publisher_name(publisher),
            published=self.date_view(source.get("published")),
            quote=citation.quote,
            page=citation.page,
            accessed=self.date_view(citation.accessed),
        )

    def publisher_name(self, publisher: Publisher | None) -> str:
        if publisher is None:
            return ""
        actor = self.corpus.records.get(publisher.text)
        return actor.name if actor is not None and actor.kind == "actors" else publisher.text

    def entries(
        self, url: str, entries: Iterable[Entry], current: str | None = None
    ) -> tuple[EntryView, ...]:
        """The lines of a chronology or timeline. A record's line is the same on every page
        at the depth of `url` (its date is the record's, `chronology.date_of`): made once and
        kept; a page that shows it kept looks up again what making it looked up, so that a
        watched corpus (`deps.watch`) notes it for that page too."""
        views = []
        prefix = self.prefix(url)
        kept = self._entries
        records, html = self.corpus.records, self.links.html
        for entry in entries:
            record = entry.record
            here = record.id == current
            found = kept.get((prefix, record.id, here))
            if found is None:
                view = self.entry(url, entry, here)
                kept[prefix, record.id, here] = view, self.entry_reads(record)
            else:
                # (the lookups `entry_reads` listed, without working them out again: a
                # record's line is on the timeline of every record it involves)
                view, (ids, summary) = found
                for record_id in ids:
                    records.get(record_id)
                if summary is not None:
                    html.get(summary)
            views.append(view)
        return tuple(views)

    def entry(self, url: str, entry: Entry, current: bool) -> EntryView:
        record = entry.record
        records = self.corpus.records
        sources = tuple(
            self.to(url, source)
            for c in record.get("sources", ())
            if (source := records.get(c.source.id)) is not None
        )
        return EntryView(
            date=self.entry_date(entry.date, entry.end),
            kind=SINGULAR[record.kind],
            link=self.to(url, record),
            summary=self.entry_summary(url, record),
            sources=sources,
            current=current,
        )

    def entry_reads(self, record: Record) -> _Reads:
        """What `entry` looks up of the record's line, besides the record itself: the ids of
        records (its sources, and who said a quote or sent and received a note) and the key
        of its summary's HTML (None without one: see `entry_summary`)."""
        ids = [citation.source.id for citation in record.get("sources", ())]
        if record.get("summary") is not None:
            return tuple(ids), (record.id, "summary")
        if record.kind == "quotes":
            ids.append(record.get("by").id)
        elif record.kind == "notes":
            ids.extend((record.get("from").id, record.get("to").id))
        return tuple(ids), None

    def date_view(self, value: Any) -> DateView | None:
        """The view of a date (None if the value is not one), made once per date: dates
        repeat (a source's date is in the list of sources of every record that cites it)."""
        if not isinstance(value, PartialDate):
            return None
        found = self._single_dates.get(value)
        if found is None:
            found = self._single_dates[value] = _date(value)
        return found

    def entry_date(self, start: PartialDate, end: PartialDate | None) -> DateView:
        found = self._dates.get((start, end))
        if found is None:
            found = self._dates[start, end] = DateView(
                display_range(start, end), start.machine(), start.approximate, _precision(start)
            )
        return found

    def entry_summary(self, url: str, record: Record) -> Markup:
        if record.get("summary") is not None:
            return self.html(url, record, "summary")
        if record.kind == "quotes":
            by = self.ref(url, record.get("by"))
            return Markup("— {}").format(by.text) if by else Markup("")
        if record.kind == "notes":
            sender, receiver = self.ref(url, record.get("from")), self.ref(url, record.get("to"))
            if sender and receiver:
                return Markup("From {} to {}").format(sender.text, receiver.text)
        return Markup("")

    # pages

    def home(self) -> HomePage:
        url = HOME
        stories = [e for e in chronology.in_order(self.corpus.of_kind(STORY), self.corpus)]
        cards = tuple(
            StoryCard(
                link=self.to(url, e.record),
                date=_date(e.date),
                dateline=e.record.get("dateline", ""),
                summary=self.html(url, e.record, "summary"),
            )
            for e in reversed(stories)
        )
        events = chronology.in_order(self.corpus.of_kind("events"), self.corpus)
        counts = tuple(
            (LinkView(link(url, kind_url(kind)), TITLES[kind]), len(self.corpus.of_kind(kind)))
            for kind in KINDS
            if self.corpus.of_kind(kind)
        )
        return HomePage(
            **self.page(url, "home.html", self.corpus.site.title, node=self.describe.website()),
            stories=cards,
            latest=self.entries(url, list(reversed(events))[:LATEST_EVENTS]),
            counts=counts,
            chronology=link(url, CHRONOLOGY),
        )

    def story(self, story: Record) -> StoryPage:
        url = record_url(story)
        date = story.date
        assert date is not None  # parse guarantees a story's date
        return StoryPage(
            **self.page(
                url,
                "story.html",
                story.name,
                self.plain_summary(story),
                self.describe.record(story),
                (
                    Alternate(
                        link(url, story_feed_url(story)),
                        "application/atom+xml",
                        f"{story.name}: chronology",
                    ),
                    self.data_alternate(url, story),
                ),
            ),
            headline=story.name,
            date=_date(date),
            updated=self.date_view(story.get("updated")),
            dateline=story.get("dateline", ""),
            authors=story.get("authors", ()),
            summary=self.html(url, story, "summary"),
            body=self.html(url, story, "body"),
            factbox=self.factbox(url, story),
            chronology=self.entries(
                url, chronology.story_chronology(story, self.corpus, self.links), story.id
            ),
            sources=self.citations(url, story),
            tags=story.get("tags", ()),
        )

    def factbox(self, url: str, story: Record) -> tuple[FactBox, ...]:
        """The actors, deposits and places the story involves, directly or via its items."""
        # By id, not in sets of Records: a Record's hash is a Python call.
        corpus = self.corpus
        members = {i: corpus[i] for i in self.links.story_members.get(story.id, ())}
        involved = dict(members)
        for item in members.values():
            if item.kind in ("events", "notes", "quotes"):
                for e in self.links.outgoing(item.id):
                    if e.relation not in ("cites", "mentions"):
                        involved[e.target] = corpus[e.target]
        boxes = []
        for kind in ("actors", "deposits", "places"):
            records = _by_name([r for r in involved.values() if r.kind == kind])
            if records:
                boxes.append(FactBox(TITLES[kind], self.links_to(url, records)))
        return tuple(boxes)

    def record(self, record: Record) -> RecordPage:
        url = record_url(record)
        return RecordPage(
            **self.page(
                url,
                "record.html",
                record.name,
                self.plain_summary(record),
                self.describe.record(record),
                (self.data_alternate(url, record),),
            ),
            kind=SINGULAR[record.kind],
            kind_title=TITLES[record.kind],
            kind_link=LinkView(link(url, kind_url(record.kind)), TITLES[record.kind]),
            name=record.name,
            quote_text=record.get("text", "") if record.kind == "quotes" else "",
            aliases=_alias_groups(record.get("aliases", ())),
            summary=self.html(url, record, "summary"),
            facts=self.facts(url, record),
            description=self.html(url, record, "description"),
            sources=self.citations(url, record),
            backlinks=tuple(
                BacklinkGroup(label, self.sorted_links(url, ids))
                for label, ids in self.links.backlinks.get(record.id, ())
            ),
            timeline=self.entries(url, chronology.record_timeline(record, self.corpus, self.links)),
            map=locator_map(record, self.gazetteer, lambda r: self.to(url, r).href),
            tags=record.get("tags", ()),
            updated=self.date_view(record.get("updated")),
            extra=dict(record.get("extra", {})),
        )

    def facts(self, url: str, record: Record) -> tuple[Fact, ...]:
        facts = []
        date = chronology.date_of(record, self.corpus)
        if date is not None and record.kind in ("events", "notes", "quotes"):
            end = record.get("end")
            text = display_range(date, end if isinstance(end, PartialDate) else None)
            if record.date is None:
                text += " (the date of the event it was said at)"
            facts.append(Fact("Date", (FactItem(text, machine=date.machine()),)))
        for declared in _FACT_FIELDS[record.kind]:
            value = record.get(declared.name)
            if value is None or value == ():
                continue
            items = self.fact_items(url, declared, value)
            if items:
                facts.append(Fact(declared.title, items))
        return tuple(facts)

    def fact_items(self, url: str, declared: Field, value: Any) -> tuple[FactItem, ...]:
        kind = declared.type
        if kind in ("text", "choice"):
            return (FactItem(value),)
        if kind == "url":
            return (FactItem(value, value, external=True),)
        if kind == "date":
            return (FactItem(value.display(), machine=value.machine()),)
        if kind == "integer":
            return (FactItem(str(value)),)
        if kind == "bool":
            return (FactItem("yes" if value else "no"),)
        if kind == "texts":
            return tuple(FactItem(v) for v in value)
        if kind in ("ref", "refs"):
            refs = value if isinstance(value, tuple) else (value,)
            return tuple(self.ref_item(url, r) for r in refs)
        if kind == "publisher":
            actor = self.corpus.records.get(value.text)
            if actor is not None and actor.kind == "actors":
                return (FactItem(actor.name, self.to(url, actor).href),)
            return (FactItem(value.text),)
        if kind == "coordinates":
            return (FactItem(_coordinates(value)),)
        if kind == "identifiers":
            return tuple(_identifier_item(i) for i in value)
        if kind == "path":
            return (
                FactItem(
                    f"a line of {len(value)} points, from {_coordinates(value[0])} "
                    f"to {_coordinates(value[-1])}"
                ),
            )
        if kind == "records":
            return tuple(self.entry_item(url, declared, entry) for entry in value)
        return ()

    def ref_item(self, url: str, ref: Ref, detail: str = "") -> FactItem:
        target = self.corpus.records.get(ref.id)
        if target is None:
            return FactItem(ref.id, detail=detail)
        return FactItem(target.name, self.to(url, target).href, detail)

    def entry_item(self, url: str, declared: Field, entry: dict[str, Any]) -> FactItem:
        """A role, a period of control or a participant, as one line."""
        period = _period(entry.get("from"), entry.get("to"))
        if declared.name == "roles":
            of = entry.get("of")
            if of is not None:
                target = self.corpus.records.get(of.id)
                detail = ", ".join(p for p in (target.name if target else of.id, period) if p)
                href = self.to(url, target).href if target else None
                return FactItem(entry["title"], href, detail)
            return FactItem(entry["title"], detail=period)
        ref = entry.get(declared.shorthand or "")
        role = entry.get("role", "")
        detail = ", ".join(p for p in (role, period) if p)
        if isinstance(ref, Ref):
            return self.ref_item(url, ref, detail)
        return FactItem(detail)

    def kind_index(self, kind: str) -> KindPage:
        url = kind_url(kind)
        records = self.corpus.of_kind(kind)
        rows = []
        label = _DETAIL_LABELS.get(kind, "")
        for record in records:
            detail, sort_value = self.row_detail(record)
            rows.append(
                KindRow(self.to(url, record), detail, sort_value, self.html(url, record, "summary"))
            )
        if kind in chronology.DATED_KINDS:
            rows.sort(key=lambda r: (r.sort_value, r.link.text))
        return KindPage(
            **self.page(
                url,
                "kind.html",
                TITLES[kind],
                f"Every {SINGULAR[kind]} on this site.",
                self.describe.kind_index(kind),
            ),
            kind=kind,
            detail_label=label,
            rows=tuple(rows),
        )

    def row_detail(self, record: Record) -> tuple[str, str]:
        date = chronology.date_of(record, self.corpus)
        if date is not None:
            instant, _ = date.sort_key(self.tz)
            end = record.get("end")
            return display_range(date, end if isinstance(end, PartialDate) else None), (
                f"{instant + _EPOCH_SHIFT:020.3f}"
            )
        if record.kind == "deposits":
            minerals = ", ".join(record.get("minerals", ()))
            return minerals, minerals
        if record.kind == "sources":
            published = record.get("published")
            publisher = self.publisher_name(record.get("publisher"))
            text = ", ".join(p for p in (publisher, published.display() if published else "") if p)
            return text, text
        value = record.get("type", "")
        return value, value

    def chronology(self) -> ChronologyPage:
        url = CHRONOLOGY
        years = []
        for year, months in chronology.by_year_and_month(chronology.everything(self.corpus)):
            month_views = tuple(
                MonthView(
                    heading=_month_heading(year, month),
                    anchor=f"y{year}-{month:02d}" if month else f"y{year}-unknown",
                    entries=self.entries(url, entries),
                )
                for month, entries in months
            )
            years.append(YearView(year, month_views))
        return ChronologyPage(
            **self.page(
                url,
                "chronology.html",
                "Chronology",
                "Every dated item, in order.",
                self.describe.chronology(url),
            ),
            years=tuple(years),
        )

    def not_found(self) -> NotFoundPage:
        return NotFoundPage(**self.page(NOT_FOUND, "404.html", "Page not found"))

    def search(self) -> SearchPage:
        return SearchPage(
            **self.page(SEARCH, "search.html", "Search", "Search every fact sheet and story."),
            index_script=link(SEARCH, INDEX),
            script=link(SEARCH, SCRIPT),
        )


# What making a line of a chronology looked up (see `Views.entry_reads`).
_Reads = tuple[tuple[str, ...], tuple[str, str] | None]

# Added to instants so that dates before 1970 sort as text too (year 1 is about -6.2e10 s).
_EPOCH_SHIFT = 1e11

_DETAIL_LABELS = {
    "stories": "Published",
    "actors": "Type",
    "deposits": "Minerals",
    "places": "Type",
    "events": "Date",
    "notes": "Date",
    "quotes": "Date",
    "sources": "Publisher",
}

_MONTHS = [
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
]


def _by_name(records: list[Record]) -> list[Record]:
    """The records sorted by name, case aside, then id (ids differ: no two compare equal)."""
    keyed = [(r.name.casefold(), r.id, r) for r in records]
    keyed.sort()
    return [r for _, _, r in keyed]


def _month_heading(year: int, month: int | None) -> str:
    return f"{_MONTHS[month - 1]} {year}" if month else f"{year} (month not known)"


def _date(value: PartialDate) -> DateView:
    return DateView(value.display(), value.machine(), value.approximate, _precision(value))


def _precision(value: PartialDate) -> str:
    return {Precision.YEAR: "year", Precision.MONTH: "month", Precision.DAY: "day"}.get(
        value.precision, "time"
    )


def _period(start: PartialDate | None, end: PartialDate | None) -> str:
    if start and end:
        return display_range(start, end)
    if start:
        return f"from {start.display()}"
    if end:
        return f"until {end.display()}"
    return ""


def _identifier_item(identifier: Identifier) -> FactItem:
    scheme = IDENTIFIER_SCHEMES.get(identifier.scheme)
    if scheme is None:
        return FactItem(identifier.url, identifier.url, external=True)
    return FactItem(f"{scheme.title} {identifier.value}", identifier.url, external=True)


def _coordinates(point: tuple[float, float]) -> str:
    lat, lon = point
    return f"{abs(lat):.4f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.4f}° {'E' if lon >= 0 else 'W'}"


def _alias_groups(aliases: tuple[Alias, ...]) -> tuple[AliasGroup, ...]:
    groups: dict[str | None, list[str]] = {}
    for alias in aliases:
        groups.setdefault(alias.language, []).append(alias.name)
    return tuple(AliasGroup(language, tuple(names)) for language, names in groups.items())
