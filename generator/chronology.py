"""Dated items in the contract's order: of a story, of a record, and of everything.

Order: by start instant (in the site's time zone); on a tie the more precise first; then
`order`; then id. A quote without a date takes the date of the event it was said at.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import tzinfo
from operator import itemgetter

from .dates import PartialDate
from .links import Links
from .model import Corpus, Record
from .schema import STORY

DATED_KINDS = ("events", "notes", "quotes", STORY)


@dataclass(frozen=True)
class Entry:
    record: Record
    date: PartialDate
    end: PartialDate | None


def date_of(record: Record, corpus: Corpus) -> PartialDate | None:
    if record.date is not None:
        return record.date
    said_at = record.get("said_at")
    if record.kind == "quotes" and said_at is not None and said_at.id in corpus:
        return corpus[said_at.id].date
    return None


def in_order(records: list[Record] | set[Record], corpus: Corpus) -> list[Entry]:
    tz = corpus.site.tz
    known = _known(corpus)
    keyed = []
    for record in records:
        if record.kind not in DATED_KINDS:  # date_of reads nothing for those
            continue
        found = known.get(record.id)
        if found is not None and found[0] is record:
            keyed.append(found[1])
            continue
        date = date_of(record, corpus)
        if date is not None:
            end = record.get("end")
            entry = Entry(record, date, end if isinstance(end, PartialDate) else None)
            item = (_sort_key(entry, tz), entry)
            keyed.append(item)
            if record.date is not None:  # made of the record alone (date_of read nothing)
                known[record.id] = record, item
    keyed.sort(key=itemgetter(0))  # by the key alone: an Entry does not compare
    return [entry for _, entry in keyed]


# The corpus last ordered, and the entry of each record with a date of its own, with its
# sort key: a record is on many pages' chronologies and timelines (those of the records it
# involves), its JSON, its story's feed.
_kept: tuple[Corpus, dict[str, tuple[Record, tuple[tuple[float, int, int, str], Entry]]]] | None
_kept = None


def _known(corpus: Corpus) -> dict[str, tuple[Record, tuple[tuple[float, int, int, str], Entry]]]:
    """The entries kept for `corpus` (the same object: the same records, the same zone)."""
    global _kept
    if _kept is None or _kept[0] is not corpus:
        _kept = corpus, {}
    return _kept[1]


def _sort_key(entry: Entry, tz: tzinfo) -> tuple[float, int, int, str]:
    instant, precision = _instant(entry.date, tz)
    order = entry.record.get("order", 0)
    return instant, precision, order if isinstance(order, int) else 0, entry.record.id


@functools.lru_cache(maxsize=1 << 16)
def _instant(date: PartialDate, tz: tzinfo) -> tuple[float, int]:
    """`date.sort_key(tz)`, worked out once per date: the items of a story's chronology are
    sorted for its page, its JSON, its timeline and its feed, and again on the timeline of
    every record they involve."""
    return date.sort_key(tz)


def story_chronology(story: Record, corpus: Corpus, links: Links) -> list[Entry]:
    """The story's own publication and every dated item tied to it."""
    # By id, not in a set of Records: a Record's hash is a Python call.
    records = {story.id: story}
    for member in links.story_members.get(story.id, ()):
        record = corpus[member]
        if record.kind != STORY:
            records[member] = record
    return in_order(list(records.values()), corpus)


def record_timeline(record: Record, corpus: Corpus, links: Links) -> list[Entry]:
    """Dated items that involve the record: those that refer to it, and those it refers to."""
    related = {e.source for e in links.incoming(record.id)}
    related |= {e.target for e in links.outgoing(record.id) if e.relation != "cites"}
    related.discard(record.id)
    return in_order([corpus[i] for i in related], corpus)


def everything(corpus: Corpus) -> list[Entry]:
    return in_order(set(corpus), corpus)


def by_year_and_month(
    entries: list[Entry],
) -> list[tuple[int, list[tuple[int | None, list[Entry]]]]]:
    """Entries grouped by year, then by month (None for items dated to the year only)."""
    years: dict[int, dict[int | None, list[Entry]]] = {}
    for entry in entries:
        months = years.setdefault(entry.date.year, {})
        months.setdefault(entry.date.month, []).append(entry)
    return [(year, [(month, months[month]) for month in months]) for year, months in years.items()]
