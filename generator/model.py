"""The checked facts as values: frozen records of every kind, the site settings and the Corpus.

No I/O and no rendering here; `parse` builds these from documents, later stages only read them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cached_property
from pathlib import Path
from typing import Any

from .dates import PartialDate
from .diagnostics import Location


@dataclass(frozen=True)
class Ref:
    """A reference to a record by id, as written, with where it was written."""

    id: str
    location: Location


@dataclass(frozen=True)
class Text:
    """Markdown (or inline Markdown) text, and where it starts in its file.

    A story body maps line for line onto its file (`origin` is None). A YAML value may be
    quoted, folded or indented, so `origin` keeps the whole file: a broken [[link]] is then
    found by searching the file on from `location`, and reported at its exact line and
    column. Positions are worked out only when a link is broken (`links.link_locations`).
    """

    value: str
    location: Location
    origin: str | None = field(default=None, repr=False)  # not in repr: the whole file

    @cached_property
    def digest(self) -> str:
        """A digest of the text as written (kept with it, and in the build cache)."""
        data = self.value.encode("utf-8", "backslashreplace")
        return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Alias:
    name: str
    language: str | None = None


@dataclass(frozen=True)
class Citation:
    source: Ref
    quote: str | None = None
    page: str | None = None
    accessed: PartialDate | None = None


@dataclass(frozen=True)
class Publisher:
    """A source's publisher: an actor when an actor has that id (resolved by `links`)."""

    text: str
    location: Location


@dataclass(frozen=True)
class Identifier:
    """The record's id in another database and the web address it resolves to.

    `scheme` names the database ('wikidata'); it is 'url' for a plain web address.
    """

    scheme: str
    value: str
    url: str


@dataclass(frozen=True)
class Record:
    """One story or fact record.

    `fields` holds the parsed value of every field that was given (see `schema.Field.type`
    for the value each type becomes); `field_locations` where each was written. A story has
    its Markdown `body`; `assets` are files beside a story folder's index.md.
    """

    kind: str
    id: str
    name: str
    location: Location
    fields: Mapping[str, Any]
    field_locations: Mapping[str, Location]
    body: Text | None = None
    assets: tuple[Path, ...] = ()

    def __hash__(self) -> int:
        return hash((self.kind, self.id))

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def where(self, name: str) -> Location:
        return self.field_locations.get(name, self.location)

    @property
    def date(self) -> PartialDate | None:
        value = self.fields.get("date")
        return value if isinstance(value, PartialDate) else None

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything about the record but a story's body: equal digests, equal
        records. Kept with the record (and in the build cache, once worked out)."""
        body = self.body
        shown = repr((self.kind, self.id, self.name, self.location, self.fields))
        shown += repr((self.field_locations, self.assets, body.location if body else None))
        return hashlib.blake2b(
            shown.encode("utf-8", "backslashreplace"), digest_size=16
        ).hexdigest()


@dataclass(frozen=True)
class Site:
    title: str
    tz: tzinfo
    description: str = ""
    language: str = "en"
    base_url: str = ""
    timezone: str = "UTC"
    allow_html: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Corpus:
    """Every record by id (ids are unique across kinds), and the site settings."""

    site: Site
    records: Mapping[str, Record]

    def of_kind(self, kind: str) -> list[Record]:
        """The records of one kind, by name; a fresh list each call."""
        return list(self._by_kind.get(kind, ()))

    @cached_property
    def _by_kind(self) -> dict[str, tuple[Record, ...]]:
        grouped: dict[str, list[Record]] = {}
        for record in self.records.values():
            grouped.setdefault(record.kind, []).append(record)
        return {
            kind: tuple(sorted(records, key=lambda r: (r.name.casefold(), r.id)))
            for kind, records in grouped.items()
        }

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records[k] for k in sorted(self.records))

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.records

    def __getitem__(self, record_id: str) -> Record:
        return self.records[record_id]
