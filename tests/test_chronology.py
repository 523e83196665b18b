"""Tests for generator.chronology on hand-built records: the contract's order (start instant,
then the more precise first, then `order`, then id), quotes taking their event's date, the
items of a story and of a record, and grouping by year and month."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from generator.chronology import (
    by_year_and_month,
    date_of,
    everything,
    in_order,
    record_timeline,
    story_chronology,
)
from generator.dates import parse_date
from generator.diagnostics import Location
from generator.links import link_corpus
from generator.model import Citation, Corpus, Record, Ref, Site, Text

BAKU = ZoneInfo("Asia/Baku")


def ref(ident: str) -> Ref:
    return Ref(ident, Location("content/x.yaml"))


def record(
    kind: str, ident: str, date: str | None = None, body: str | None = None, **fields: Any
) -> Record:
    if date is not None:
        fields["date"] = parse_date(date)
    if isinstance(fields.get("end"), str):
        fields["end"] = parse_date(fields["end"])
    here = Location(f"content/{kind}/{ident}.yaml")
    text = Text(body, here) if body is not None else None
    return Record(kind, ident, ident, here, fields, {}, text)


def event(ident: str, date: str, **fields: Any) -> Record:
    return record("events", ident, date, **fields)


def corpus(*records: Record, tz: tzinfo = UTC) -> Corpus:
    return Corpus(Site(title="Chronology", tz=tz), {r.id: r for r in records})


def ids(records: list[Record], tz: tzinfo = UTC) -> list[str]:
    return [e.record.id for e in in_order(records, corpus(*records, tz=tz))]


# --- the order -----------------------------------------------------------------------------


def test_by_start_instant() -> None:
    records = [
        event("d", "2023"),
        event("c", "2022-12-10T14:30"),
        event("b", "2022-12-10"),
        event("a", "2022-03"),
        event("e", "2021-12-31T23:59:59"),
    ]
    assert ids(records) == ["e", "a", "b", "c", "d"]


def test_on_the_same_start_the_more_precise_first() -> None:
    records = [
        event("a-year", "2022"),
        event("b-month", "2022-01"),
        event("c-day", "2022-01-01"),
        event("d-minute", "2022-01-01T00:00"),
        event("e-second", "2022-01-01T00:00:00"),
    ]
    assert ids(records) == ["e-second", "d-minute", "c-day", "b-month", "a-year"]


def test_then_order_then_id() -> None:
    records = [
        event("alpha", "2022-12-12", order=2),
        event("beta", "2022-12-12", order=1),
        event("gamma", "2022-12-12", order=1),
        event("delta", "2022-12-12", order=-1),
    ]
    assert ids(records) == ["delta", "beta", "gamma", "alpha"]


def test_order_does_not_beat_precision_or_instant() -> None:
    records = [
        event("month", "2022-12", order=-5),
        event("day", "2022-12-01", order=9),
        event("later", "2022-12-02", order=-9),
    ]
    assert ids(records) == ["day", "month", "later"]


def test_approximate_dates_sort_like_exact_ones() -> None:
    records = [event("b", "~2022-12"), event("a", "2022-12"), event("c", "~2022-11")]
    assert ids(records) == ["c", "a", "b"]


def test_instants_are_taken_in_the_site_time_zone() -> None:
    # 2022-12-09T22:00Z is 10 December, 02:00 in Baku: after the start of 10 December there,
    # before it in UTC.
    records = [event("day", "2022-12-10"), event("late-utc", "2022-12-09T22:00Z")]
    assert ids(records, UTC) == ["late-utc", "day"]
    assert ids(records, BAKU) == ["day", "late-utc"]


def test_an_explicit_offset_wins_over_the_site_time_zone() -> None:
    records = [
        event("baku-0930", "2022-12-10T09:30+04:00"),  # 05:30Z
        event("utc-0600", "2022-12-10T06:00Z"),
        event("local-0500", "2022-12-10T05:00"),  # in the site's zone
    ]
    assert ids(records, UTC) == ["local-0500", "baku-0930", "utc-0600"]
    assert ids(records, BAKU) == ["local-0500", "baku-0930", "utc-0600"]  # 01:00Z
    assert ids(records, ZoneInfo("America/Lima")) == ["baku-0930", "utc-0600", "local-0500"]


def test_only_dated_kinds_with_a_date() -> None:
    records = [
        record("actors", "someone"),
        record("places", "somewhere"),
        record("sources", "paper", published=parse_date("2022-12-13")),
        record("quotes", "undated", by=ref("someone"), text="x"),
        record("notes", "note", "2022-12-11"),
        record("stories", "story", "2022-12-13"),
        event("event", "2022-12-10"),
        record("quotes", "quote", "2022-12-12", by=ref("someone"), text="y"),
    ]
    assert ids(records) == ["event", "note", "quote", "story"]


def test_entries_carry_the_range_end() -> None:
    blockade = event("blockade", "2022-12-12", end="2022-12-14")
    entry = in_order([blockade], corpus(blockade))[0]
    assert (entry.date.iso(), entry.end.iso()) == ("2022-12-12", "2022-12-14")  # type: ignore[union-attr]


# --- quotes and their events ---------------------------------------------------------------


def test_a_quote_without_a_date_takes_its_events_date() -> None:
    briefing = event("briefing", "2022-12-13T11:00+04:00", end="2022-12-13T12:00+04:00")
    quote = record("quotes", "quote", said_at=ref("briefing"), by=ref("x"), text="t")
    world = corpus(briefing, quote)
    assert date_of(quote, world) == briefing.date
    entries = in_order([quote], world)
    assert [(e.record.id, e.date.iso(), e.end) for e in entries] == [
        ("quote", "2022-12-13T11:00+04:00", None)
    ]


def test_a_quote_keeps_its_own_date() -> None:
    briefing = event("briefing", "2022-12-13")
    quote = record("quotes", "quote", "2022-12-14", said_at=ref("briefing"), by=ref("x"), text="t")
    assert date_of(quote, corpus(briefing, quote)).iso() == "2022-12-14"  # type: ignore[union-attr]


def test_a_quote_at_an_unknown_or_undated_event_has_no_date() -> None:
    quote = record("quotes", "quote", said_at=ref("nowhere"), by=ref("x"), text="t")
    assert date_of(quote, corpus(quote)) is None
    assert in_order([quote], corpus(quote)) == []


def test_a_dateless_quote_sorts_with_its_event_then_by_id() -> None:
    talk = event("talk", "2022-12-13")
    early = record("quotes", "a-quote", said_at=ref("talk"), by=ref("x"), text="t")
    late = record("quotes", "z-quote", said_at=ref("talk"), by=ref("x"), text="t")
    world = corpus(talk, early, late)
    assert [e.record.id for e in in_order([late, talk, early], world)] == [
        "a-quote",
        "talk",
        "z-quote",
    ]


# --- story, record, everything -------------------------------------------------------------


def linked_world() -> tuple[Corpus, Any]:
    records = [
        record("actors", "hajiyev", type="person"),
        record("sources", "tass"),
        event("visit", "2022-12-10", stories=(ref("story"),), actors=({"actor": ref("hajiyev")},)),
        event("protest", "2022-12-12"),
        event("unrelated", "2022-12-11"),
        record("notes", "note", "2022-12-11", **{"from": ref("hajiyev"), "to": ref("hajiyev")}),
        record("quotes", "quote", said_at=ref("protest"), by=ref("hajiyev"), text="t"),
        record(
            "stories",
            "story",
            "2022-12-13",
            body="[[quote]] and [[other]]",
            notes=(ref("note"),),
            actors=(ref("hajiyev"),),
            sources=(Citation(ref("tass")),),
        ),
        record("stories", "other", "2022-12-14", quotes=(ref("quote"),), events=(ref("protest"),)),
    ]
    world = corpus(*records)
    links, diagnostics = link_corpus(world)
    assert diagnostics == []
    return world, links


def test_story_chronology_holds_its_items_and_its_own_publication() -> None:
    world, links = linked_world()
    entries = story_chronology(world["story"], world, links)
    # `visit` by its `stories`, `note` by the story's list, `quote` by a body link (dated by
    # its event); the other story, the actor and the source are not dated items of it.
    assert [(e.record.id, e.date.iso()) for e in entries] == [
        ("visit", "2022-12-10"),
        ("note", "2022-12-11"),
        ("quote", "2022-12-12"),
        ("story", "2022-12-13"),
    ]
    other = story_chronology(world["other"], world, links)
    assert [e.record.id for e in other] == ["protest", "quote", "other"]


def test_record_timeline_holds_what_refers_to_it_and_what_it_refers_to() -> None:
    world, links = linked_world()
    assert [e.record.id for e in record_timeline(world["hajiyev"], world, links)] == [
        "visit",
        "note",
        "quote",
        "story",
    ]
    # A quote's timeline: the event it was said at, and the stories that name it.
    assert [e.record.id for e in record_timeline(world["quote"], world, links)] == [
        "protest",
        "story",
        "other",
    ]


def test_everything_is_every_dated_item() -> None:
    world, _ = linked_world()
    assert [e.record.id for e in everything(world)] == [
        "visit",
        "note",
        "unrelated",
        "protest",
        "quote",
        "story",
        "other",
    ]


# --- grouping ------------------------------------------------------------------------------


def grouped(*dates: str, tz: tzinfo = UTC) -> list[tuple[int, list[tuple[int | None, list[str]]]]]:
    records = [event(f"e{i}", d) for i, d in enumerate(dates)]
    entries = in_order(records, corpus(*records, tz=tz))
    return [
        (year, [(month, [e.date.iso() for e in items]) for month, items in months])
        for year, months in by_year_and_month(entries)
    ]


def test_by_year_and_month() -> None:
    assert grouped("2022-12-13", "2021", "2022-12", "~2022-11-30", "2022-12-10T10:00") == [
        (2021, [(None, ["2021"])]),
        (2022, [(11, ["~2022-11-30"]), (12, ["2022-12", "2022-12-10T10:00", "2022-12-13"])]),
    ]


def test_grouping_keeps_each_month_once_and_years_in_order() -> None:
    # 2022-12-31T21:00Z is 1 January, 01:00 in Baku, and 2023-01-01T02:00+04:00 comes after
    # it; each item is grouped by its date as written, and each month appears once.
    result = grouped("2022-12-31T21:00Z", "2023-01-01T02:00+04:00", "2022-12-31", tz=BAKU)
    assert [year for year, _ in result] == [2022, 2023]
    assert [[m for m, _ in months] for _, months in result] == [[12], [1]]


@pytest.mark.parametrize("tz", [UTC, BAKU])
def test_grouping_an_empty_list(tz: tzinfo) -> None:
    assert by_year_and_month(in_order([], corpus(tz=tz))) == []


def test_a_date_sorts_by_the_instant_it_would_sort_by_on_its_own() -> None:
    from generator.chronology import _instant

    for text in ("2022", "~2022-12", "2022-12-10", "2022-12-10T14:30", "2022-12-10T14:30:05+02:00"):
        date = parse_date(text)
        for tz in (BAKU, UTC):
            assert _instant(date, tz) == date.sort_key(tz)
    # The same date in another zone is another instant, not the one first worked out.
    date = parse_date("2022-12-10")
    assert _instant(date, BAKU) != _instant(date, UTC)


def test_entries_are_kept_per_corpus_and_a_quote_reads_its_event_each_time() -> None:
    """An entry made of its record alone is made once per corpus; a quote dated by its event
    looks the event up every time (what a watched corpus notes for each page)."""
    from generator.deps import key, watch
    from generator.links import Links

    talk = event("talk", "2022-12-09T22:00Z")
    day = event("day", "2022-12-10")
    quote = record("quotes", "quote", said_at=ref("talk"), by=ref("x"), text="t")
    world = corpus(talk, day, quote)
    first = in_order([day, talk, quote], world)
    again = in_order([quote, talk, day], world)
    assert [e.record.id for e in first] == [e.record.id for e in again] == ["quote", "talk", "day"]
    assert first[1] is again[1] and first[2] is again[2]  # kept
    assert first[0] is not again[0]  # made again
    assert [e.record.id for e in in_order([day, talk], corpus(talk, day, tz=BAKU))] == [
        "day",
        "talk",
    ]
    reads: set[str] = set()
    watched, _ = watch(world, Links((), {}, {}, {}, {}), reads)
    in_order([talk, quote], watched)
    reads.clear()
    in_order([talk, quote], watched)
    assert reads == {key("r", "talk")}
