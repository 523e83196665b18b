"""The declared fields of every kind: type, required, ref kind, help text and backlink label.

One source for validation (`parse`), backlinks (`links`) and, later, `factsheet schema` and the
editors' guide. Nothing here reads files or builds pages.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of fact records, in the order pages and backlinks list them; stories come first.
RECORD_KINDS: tuple[str, ...] = (
    "actors",
    "deposits",
    "places",
    "events",
    "notes",
    "quotes",
    "sources",
)
STORY = "stories"
KINDS: tuple[str, ...] = (STORY, *RECORD_KINDS)

SINGULAR: dict[str, str] = {
    "stories": "story",
    "actors": "actor",
    "deposits": "deposit",
    "places": "place",
    "events": "event",
    "notes": "note",
    "quotes": "quote",
    "sources": "source",
}
TITLES: dict[str, str] = {
    "stories": "Stories",
    "actors": "Actors",
    "deposits": "Deposits",
    "places": "Places",
    "events": "Events",
    "notes": "Notes",
    "quotes": "Quotes",
    "sources": "Sources",
}
# What each kind holds, in an editor's words (for the JSON Schemas, skeletons and the guide).
KIND_HELP: dict[str, str] = {
    "stories": "A story: YAML front matter between '---' lines, then the Markdown body.",
    "actors": "A person, organisation, state or group.",
    "deposits": "A mineral deposit or mine.",
    "places": "A region, town, road, corridor or border.",
    "events": "A dated happening: the dates of a story.",
    "notes": "A diplomatic note, protest or letter from one actor to another.",
    "quotes": "An attributed statement.",
    "sources": "A publication the facts come from.",
}

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
ANY = "any"  # a ref that may name a record of any kind


@dataclass(frozen=True)
class Field:
    """One declared field.

    `type` is one of: text, inline (inline Markdown), markdown, date, bool, integer, texts (list
    of text), aliases, citations, ref, refs, coordinates, path, mapping (free-form), choice,
    records (a list of small mappings declared by `fields`), publisher, url, identifiers (ids
    in other databases, see `IDENTIFIER_SCHEMES`).
    `ref` names the kind a ref must be (or ANY); `backlink` is the label the TARGET's sheet
    shows for this relation ("Notes received").
    """

    name: str
    type: str
    help: str
    required: bool = False
    ref: str | None = None
    choices: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    shorthand: str | None = None
    backlink: str | None = None
    label: str | None = None
    ref_types: tuple[str, ...] = ()  # the `type` values a ref's target may have

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


def _citations() -> Field:
    return Field(
        "sources",
        "citations",
        "Where the facts come from: a source id, or {source: id, quote, page, accessed}.",
        backlink="Cited by",
        fields=(
            Field("source", "ref", "The id of a source.", required=True, ref="sources"),
            Field("quote", "text", "The words in the source that back the fact."),
            Field("page", "text", "Page, section or timestamp in the source."),
            Field("accessed", "date", "When the source was read (for web pages)."),
        ),
        shorthand="source",
    )


def _common(name_required: bool = True) -> tuple[Field, ...]:
    return (
        Field("name", "text", "The name shown as the sheet's title.", required=name_required),
        Field(
            "aliases",
            "aliases",
            "Other names: a list, or a mapping of language code to a name or list of names.",
        ),
        Field("summary", "inline", "One or two sentences (inline Markdown) shown in lists."),
        Field("description", "markdown", "The body of the fact sheet, in Markdown."),
        _citations(),
        Field("tags", "texts", "Free keywords."),
        Field("updated", "date", "When the facts were last checked."),
        Field(
            "identifiers",
            "identifiers",
            "Its ids in other databases (Wikidata, GeoNames, ...), for linked data: a mapping "
            "of scheme to id (wikidata: Q42) with 'urls:' for other web addresses, or a list "
            "of web addresses.",
        ),
        Field("extra", "mapping", "Free-form data passed to templates as is."),
    )


@dataclass(frozen=True)
class Scheme:
    """A database the `identifiers` field may name: how its ids look, where they resolve."""

    name: str
    title: str
    pattern: str  # a whole id matches it
    url: str  # the web address of an id, with {} for the id
    example: str


IDENTIFIER_SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("wikidata", "Wikidata", r"Q[1-9][0-9]*", "https://www.wikidata.org/wiki/{}", "Q42"),
        Scheme("geonames", "GeoNames", r"[1-9][0-9]*", "https://www.geonames.org/{}", "587116"),
        Scheme(
            "osm",
            "OpenStreetMap",
            r"(node|way|relation)/[1-9][0-9]*",
            "https://www.openstreetmap.org/{}",
            "relation/364110",
        ),
        Scheme("mindat", "Mindat", r"[1-9][0-9]*", "https://www.mindat.org/loc-{}.html", "3318"),
        Scheme(
            "orcid",
            "ORCID",
            r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]",
            "https://orcid.org/{}",
            "0000-0002-1825-0097",
        ),
        Scheme("isni", "ISNI", r"[0-9]{15}[0-9X]", "https://isni.org/isni/{}", "0000000121032683"),
        Scheme("viaf", "VIAF", r"[1-9][0-9]*", "https://viaf.org/viaf/{}", "113230702"),
        Scheme(
            "lei",
            "LEI",
            r"[A-Z0-9]{18}[0-9]{2}",
            "https://search.gleif.org/#/record/{}",
            "5493001KJTIIGC8Y1R12",
        ),
        Scheme(
            "opencorporates",
            "OpenCorporates",
            r"[a-z]{2}(_[a-z]{2})?/[A-Za-z0-9]+",
            "https://opencorporates.com/companies/{}",
            "gb/00102498",
        ),
        Scheme("ror", "ROR", r"0[a-z0-9]{6}[0-9]{2}", "https://ror.org/{}", "05dxps055"),
    )
}
# The key of `identifiers` that holds other web addresses (a URL or a list of them).
IDENTIFIER_URLS = "urls"


def _story_refs() -> Field:
    return Field(
        "stories",
        "refs",
        "Ids of the stories this item belongs to.",
        ref=STORY,
        backlink="Chronology items",
    )


def _period() -> tuple[Field, ...]:
    return (
        Field("from", "date", "When it began."),
        Field("to", "date", "When it ended."),
    )


_ORDER = Field("order", "integer", "Breaks ties between items of the same date (lower first).")
_COORDINATES = Field("coordinates", "coordinates", "[latitude, longitude] in decimal degrees.")

ACTOR_TYPES = ("person", "organization", "state", "group")
PLACE_TYPES = ("region", "city", "town", "village", "road", "corridor", "border", "other")

_ROLES = Field(
    "roles",
    "records",
    "Positions held: {title, of: actor id, from: date, to: date}.",
    fields=(
        Field("title", "text", "The position, e.g. 'spokesman'.", required=True),
        Field("of", "ref", "The body the position is in.", ref="actors", backlink="People"),
        *_period(),
    ),
)

_CONTROLLED_BY = Field(
    "controlled_by",
    "records",
    "Who controls it, and when: {actor: id, from: date, to: date}.",
    label="Controlled by",
    fields=(
        Field(
            "actor",
            "ref",
            "The controlling actor.",
            required=True,
            ref="actors",
            backlink="Controls",
        ),
        *_period(),
    ),
    shorthand="actor",
)

_EVENT_ACTORS = Field(
    "actors",
    "records",
    "Who took part: actor ids, or {actor: id, role: text}.",
    fields=(
        Field(
            "actor",
            "ref",
            "The actor.",
            required=True,
            ref="actors",
            backlink="Took part in",
        ),
        Field("role", "text", "What the actor did at the event."),
    ),
    shorthand="actor",
)

SCHEMAS: dict[str, tuple[Field, ...]] = {
    "actors": (
        *_common(),
        Field("type", "choice", "What the actor is.", required=True, choices=ACTOR_TYPES),
        Field(
            "country",
            "ref",
            "The state it belongs to (an actor of type state).",
            ref="actors",
            backlink="Actors of this state",
            ref_types=("state",),
        ),
        Field(
            "parent",
            "ref",
            "The body it is part of (a ministry's government).",
            ref="actors",
            backlink="Parts",
        ),
        _ROLES,
    ),
    "deposits": (
        *_common(),
        Field("minerals", "texts", "What is mined or found there.", required=True),
        Field("place", "ref", "Where it is.", ref="places", backlink="Deposits"),
        _COORDINATES,
        Field("status", "text", "E.g. active, disputed, closed."),
        Field(
            "operator",
            "ref",
            "Who works the deposit.",
            ref="actors",
            backlink="Deposits operated",
        ),
        _CONTROLLED_BY,
    ),
    "places": (
        *_common(),
        Field("type", "choice", "What kind of place it is.", choices=PLACE_TYPES),
        Field("within", "ref", "The larger place it lies in.", ref="places", backlink="Places"),
        _COORDINATES,
        Field("path", "path", "A line of [latitude, longitude] points (roads, borders)."),
    ),
    "events": (
        *_common(),
        Field("date", "date", "When it happened (a partial date).", required=True),
        Field("end", "date", "When it ended, for a range."),
        Field("title", "text", "A longer headline for the event."),
        _EVENT_ACTORS,
        Field("places", "refs", "Where it happened.", ref="places", backlink="Events"),
        Field("deposits", "refs", "Deposits it concerns.", ref="deposits", backlink="Events"),
        _story_refs(),
        _ORDER,
    ),
    "notes": (
        *_common(),
        Field("date", "date", "When the note was sent or handed over.", required=True),
        Field("from", "ref", "Who sent it.", required=True, ref="actors", backlink="Notes sent"),
        Field(
            "to",
            "ref",
            "Who it was sent to.",
            required=True,
            ref="actors",
            backlink="Notes received",
        ),
        Field("subject", "text", "What it is about."),
        Field(
            "delivered_by",
            "ref",
            "Who handed it over.",
            ref="actors",
            backlink="Notes delivered",
        ),
        Field(
            "in_response_to",
            "ref",
            "The note it answers.",
            ref="notes",
            backlink="Replies",
        ),
        Field("status", "text", "E.g. delivered, answered, rejected."),
        _story_refs(),
        _ORDER,
    ),
    "quotes": (
        *_common(name_required=False),
        Field("by", "ref", "Who said it.", required=True, ref="actors", backlink="Quotes"),
        Field("text", "text", "The words, exactly as reported.", required=True),
        Field("date", "date", "When it was said."),
        Field("said_at", "ref", "The event where it was said.", ref="events", backlink="Quotes"),
        Field("about", "refs", "What it is about: ids of any kind.", ref=ANY, backlink="Quoted on"),
        _story_refs(),
        _ORDER,
    ),
    "sources": (
        *_common(),
        Field(
            "publisher",
            "publisher",
            "Who published it: an actor id when there is one, else plain text.",
            ref="actors",
            backlink="Sources published",
        ),
        Field("url", "url", "Where it can be read (http or https).", label="URL"),
        Field("published", "date", "When it was published."),
        Field("title", "text", "Its headline or title."),
        Field("language", "text", "The language it is written in, e.g. en, az, ru."),
    ),
    "stories": (
        Field("title", "text", "The headline.", required=True),
        Field("date", "date", "When the story was published.", required=True),
        Field("updated", "date", "When it was last updated."),
        Field("dateline", "text", "Where it was filed from, e.g. BAKU."),
        Field("summary", "inline", "One or two sentences (inline Markdown) shown in lists."),
        Field("authors", "texts", "Who wrote it."),
        _citations(),
        Field("tags", "texts", "Free keywords."),
        Field("draft", "bool", "true keeps the story out of the site unless --drafts."),
        *(
            Field(kind, "refs", f"{TITLES[kind]} the story involves.", ref=kind, backlink="Stories")
            for kind in ("actors", "deposits", "places", "events", "notes", "quotes")
        ),
        Field("extra", "mapping", "Free-form data passed to templates as is."),
    ),
}

SITE_FIELDS: tuple[Field, ...] = (
    Field("title", "text", "The site's name.", required=True),
    Field("description", "text", "One sentence about the site."),
    Field("language", "text", "The language of the site, e.g. en."),
    Field(
        "base_url",
        "url",
        "The address the site is published at, for canonical links, feeds and the sitemap.",
    ),
    Field("timezone", "text", "The time zone dates are read in (IANA name, default UTC)."),
    Field("allow_html", "bool", "true lets raw HTML through Markdown (sanitised)."),
    Field("extra", "mapping", "Free-form data passed to templates as is."),
)


def fields_of(kind: str) -> dict[str, Field]:
    return {f.name: f for f in SCHEMAS[kind]}


def kind_for(name: str) -> str | None:
    """A kind from its plural or singular name ('actor' or 'actors'), or None."""
    if name in SCHEMAS:
        return name
    for plural, singular in SINGULAR.items():
        if singular == name:
            return plural
    return None
