"""JSON-LD for every page: the schema.org node a page is about, as a safe script data block.

Input: the Corpus, its Links and a page; output: the text of a
`<script type="application/ld+json">` element. Ids are stable: `<page URL>#id`, absolute
under `base_url`, else from the site root (a relative `@base` makes them resolve there).
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from . import chronology
from .dates import PartialDate
from .links import Links
from .model import Corpus, Identifier, Record, Ref
from .schema import TITLES
from .search import PlainTexts
from .urls import HOME, absolute, kind_url, record_url, relative_prefix

CONTEXT = "https://schema.org"
# schema.org types by kind (actors by their `type`); all of them are schema.org Things.
ACTOR_TYPES = {
    "person": "Person",
    "organization": "Organization",
    "state": "Country",
    "group": "Organization",
}
KIND_TYPES = {
    "stories": "NewsArticle",
    "deposits": "Place",
    "places": "Place",
    "events": "Event",
    "notes": "Message",
    "quotes": "Quotation",
    "sources": "CreativeWork",
}
# Types that are CreativeWorks cite their sources; other things are the subject of them.
CREATIVE_WORKS = frozenset({"NewsArticle", "Message", "Quotation", "CreativeWork"})
# Fields of a story that list what it is about (the rest of its members it mentions).
ABOUT_FIELDS = ("actors", "deposits", "places", "events", "notes", "quotes")

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def script(data: dict[str, Any], page_url: str, base_url: str) -> Markup:
    """The JSON-LD text for a page's <script type="application/ld+json"> element.

    `<`, `>` and `&` are written as JSON escapes, so no value can close the element or open
    a comment, whatever the content says.
    """
    context: Any = CONTEXT
    if not base_url:
        # Ids are written from the site root; make them resolve there from this page.
        context = [CONTEXT, {"@base": relative_prefix(page_url)}]
    text = json.dumps({"@context": context, **data}, ensure_ascii=False, sort_keys=True)
    for char, escape in _ESCAPES.items():
        text = text.replace(char, escape)
    return Markup(text)


def plain_texts(links: Links) -> PlainTexts:
    """The PlainTexts of `links`: the one made for them last, if it was for these links. A
    workshop's views, exporter and feeds are made over the same (watched) links one after
    the other, so a field's plain text is worked out once for the three of them."""
    global _plain_texts
    if _plain_texts is None or _plain_texts.links is not links:
        _plain_texts = PlainTexts(links)
    return _plain_texts


# The PlainTexts made last, by `plain_texts`.
_plain_texts: PlainTexts | None = None


class Describer:
    """Builds the schema.org node of each page of one site."""

    def __init__(self, corpus: Corpus, links: Links) -> None:
        self.corpus = corpus
        self.links = links
        self.base = corpus.site.base_url
        self.plain = plain_texts(links)
        # The node id of each record, by id: made once (a story's node names every record
        # it involves; 55,000 ids at 1,000 stories). It reads nothing: the record is looked
        # up before, as ever.
        self._node_ids: dict[str, str] = {}

    def iri(self, url: str) -> str:
        return absolute(self.base, url)

    def node_id(self, record: Record) -> str:
        found = self._node_ids.get(record.id)
        if found is None:
            found = self._node_ids[record.id] = self.iri(record_url(record)) + "#id"
        return found

    def ref(self, record: Record) -> dict[str, str]:
        return {"@id": self.node_id(record)}

    def refs(self, ids: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
        records = self.corpus.records
        return [self.ref(record) for i in ids if (record := records.get(i)) is not None]

    def website(self) -> dict[str, Any]:
        site = self.corpus.site
        node: dict[str, Any] = {
            "@id": self.iri(HOME) + "#website",
            "@type": "WebSite",
            "name": site.title,
            "url": self.iri(HOME),
            "inLanguage": site.language,
        }
        if site.description:
            node["description"] = site.description
        return node

    def web_page(self, url: str, title: str, kind: str = "WebPage") -> dict[str, Any]:
        return {
            "@id": self.iri(url) + "#page",
            "@type": kind,
            "name": title,
            "url": self.iri(url),
            "isPartOf": {"@id": self.iri(HOME) + "#website"},
        }

    def collection(self, url: str, title: str, records: list[Record]) -> dict[str, Any]:
        """A list page (every record of a kind, the chronology): its items, in page order."""
        node = self.web_page(url, title, "CollectionPage")
        node["mainEntity"] = {
            "@type": "ItemList",
            "numberOfItems": len(records),
            "itemListElement": [
                {"@type": "ListItem", "position": n, "item": self.ref(r)}
                for n, r in enumerate(records, 1)
            ],
        }
        return node

    def kind_index(self, kind: str) -> dict[str, Any]:
        return self.collection(kind_url(kind), TITLES[kind], self.corpus.of_kind(kind))

    def record(self, record: Record) -> dict[str, Any]:
        """The node of a record's fact sheet or of a story."""
        kind = record.kind
        if kind == "actors":
            schema_type = ACTOR_TYPES.get(record.get("type", ""), "Organization")
        else:
            schema_type = KIND_TYPES[kind]
        url = self.iri(record_url(record))
        node: dict[str, Any] = {
            "@id": self.node_id(record),
            "@type": schema_type,
            "name": record.name,
            "url": url,
            "mainEntityOfPage": url,
        }
        aliases = [a.name for a in record.get("aliases", ())]
        if aliases:
            node["alternateName"] = aliases
        summary = self.plain(record.id, "summary")
        if summary:
            node["description"] = summary
        same_as = [i.url for i in record.get("identifiers", ()) if isinstance(i, Identifier)]
        if same_as:
            node["sameAs"] = same_as
        if record.get("tags") and schema_type != "Person":
            node["keywords"] = list(record.get("tags"))
        cited = self.refs([c.source.id for c in record.get("sources", ())])
        if cited:
            node["citation" if schema_type in CREATIVE_WORKS else "subjectOf"] = cited
        if schema_type in CREATIVE_WORKS:
            _put_date(node, "dateModified", record.get("updated"))
        getattr(self, f"_{kind}")(record, node)
        return {k: v for k, v in node.items() if v not in (None, [], "")}

    # one method per kind: the facts schema.org has words for

    def _stories(self, story: Record, node: dict[str, Any]) -> None:
        site = self.corpus.site
        node["headline"] = story.name
        _put_date(node, "datePublished", story.date)
        node["dateline"] = story.get("dateline")
        node["author"] = [{"@type": "Person", "name": a} for a in story.get("authors", ())]
        node["inLanguage"] = site.language
        node["isPartOf"] = {"@id": self.iri(HOME) + "#website"}
        node["publisher"] = {"@type": "Organization", "name": site.title, "url": self.iri(HOME)}
        about = {r.id for name in ABOUT_FIELDS for r in story.get(name, ())}
        members = self.links.story_members.get(story.id, ())
        node["about"] = self.refs(sorted(about))
        node["mentions"] = self.refs([i for i in members if i not in about])
        node["image"] = [self.iri(record_url(story) + image.name) for image in story.assets]

    def _actors(self, actor: Record, node: dict[str, Any]) -> None:
        country = self.target(actor.get("country"))
        if node["@type"] == "Person":
            node["nationality"] = country
        elif node["@type"] != "Country":
            node["location"] = country
            node["parentOrganization"] = self.target(actor.get("parent"))
        roles = []
        for role in actor.get("roles", ()):
            entry: dict[str, Any] = {"@type": "OrganizationRole", "roleName": role["title"]}
            entry["memberOf"] = self.target(role.get("of"))
            _put_date(entry, "startDate", role.get("from"))
            _put_date(entry, "endDate", role.get("to"))
            roles.append({k: v for k, v in entry.items() if v is not None})
        if roles and node["@type"] != "Country":
            node["memberOf"] = roles

    def _deposits(self, deposit: Record, node: dict[str, Any]) -> None:
        self._places(deposit, node)
        node["additionalProperty"] = [
            {"@type": "PropertyValue", "name": name, "value": value}
            for name, value in (
                ("minerals", list(deposit.get("minerals", ()))),
                ("status", deposit.get("status")),
            )
            if value
        ]

    def _places(self, place: Record, node: dict[str, Any]) -> None:
        point = place.get("coordinates")
        if point is not None:
            node["geo"] = {"@type": "GeoCoordinates", "latitude": point[0], "longitude": point[1]}
        elif place.get("path"):
            line = " ".join(f"{lat} {lon}" for lat, lon in place.get("path"))
            node["geo"] = {"@type": "GeoShape", "line": line}
        node["containedInPlace"] = self.target(place.get("within") or place.get("place"))

    def _events(self, event: Record, node: dict[str, Any]) -> None:
        _put_date(node, "startDate", event.date)
        _put_date(node, "endDate", event.get("end"))
        if "description" not in node and event.get("title"):
            node["description"] = event.get("title")
        node["location"] = self.refs(
            [r.id for name in ("places", "deposits") for r in event.get(name, ())]
        )
        node["attendee"] = self.refs([a["actor"].id for a in event.get("actors", ())])

    def _notes(self, note: Record, node: dict[str, Any]) -> None:
        _put_date(node, "dateSent", note.date)
        node["sender"] = self.target(note.get("from"))
        node["recipient"] = self.target(note.get("to"))
        node["headline"] = note.get("subject")
        node["creativeWorkStatus"] = note.get("status")

    def _quotes(self, quote: Record, node: dict[str, Any]) -> None:
        node["text"] = quote.get("text")
        node["spokenByCharacter"] = self.target(quote.get("by"))
        _put_date(node, "dateCreated", chronology.date_of(quote, self.corpus))
        node["recordedAt"] = self.target(quote.get("said_at"))
        node["about"] = self.refs([r.id for r in quote.get("about", ())])

    def _sources(self, source: Record, node: dict[str, Any]) -> None:
        if source.get("url"):
            node["url"] = source.get("url")
        node["headline"] = source.get("title")
        _put_date(node, "datePublished", source.get("published"))
        node["inLanguage"] = source.get("language")
        publisher = source.get("publisher")
        if publisher is not None:
            actor = self.links.publishers.get(source.id)
            node["publisher"] = (
                self.ref(self.corpus[actor])
                if actor
                else {"@type": "Organization", "name": publisher.text}
            )

    def target(self, ref: Ref | None) -> dict[str, str] | None:
        if ref is None or ref.id not in self.corpus:
            return None
        return self.ref(self.corpus[ref.id])

    def chronology(self, url: str) -> dict[str, Any]:
        entries = chronology.everything(self.corpus)
        return self.collection(url, "Chronology", [e.record for e in entries])


def _put_date(node: dict[str, Any], key: str, value: Any) -> None:
    """Dates at their precision, as ISO 8601 allows: '2022', '2022-12', '2022-12-10T14:30'."""
    if isinstance(value, PartialDate):
        node[key] = value.machine()
