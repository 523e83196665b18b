"""Tests for generator.dates: parsing, precision, instants, ordering, display and errors."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator import dates
from generator.dates import (
    DateError,
    PartialDate,
    Precision,
    display_range,
    parse_date,
    parse_timezone,
    range_error,
)

BAKU = ZoneInfo("Asia/Baku")
BERLIN = ZoneInfo("Europe/Berlin")


# --- parsing every form -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("2022", PartialDate(2022), Precision.YEAR),
        ("2022-12", PartialDate(2022, 12), Precision.MONTH),
        ("2022-12-10", PartialDate(2022, 12, 10), Precision.DAY),
        ("2022-12-10T14:30", PartialDate(2022, 12, 10, 14, 30), Precision.MINUTE),
        ("2022-12-10T14:30:05", PartialDate(2022, 12, 10, 14, 30, 5), Precision.SECOND),
        ("2022-12-10T14:30Z", PartialDate(2022, 12, 10, 14, 30, None, 0), Precision.MINUTE),
        (
            "2022-12-10T14:30+04:00",
            PartialDate(2022, 12, 10, 14, 30, None, 240),
            Precision.MINUTE,
        ),
        (
            "2022-12-10T14:30-05:30",
            PartialDate(2022, 12, 10, 14, 30, None, -330),
            Precision.MINUTE,
        ),
        ("2022-12-10T14:30:05Z", PartialDate(2022, 12, 10, 14, 30, 5, 0), Precision.SECOND),
        (
            "2022-12-10T14:30:05+04:00",
            PartialDate(2022, 12, 10, 14, 30, 5, 240),
            Precision.SECOND,
        ),
        ("~2022", PartialDate(2022, approximate=True), Precision.YEAR),
        ("~2022-12", PartialDate(2022, 12, approximate=True), Precision.MONTH),
        ("~2022-12-10", PartialDate(2022, 12, 10, approximate=True), Precision.DAY),
        (
            "~2022-12-10T14:30+04:00",
            PartialDate(2022, 12, 10, 14, 30, None, 240, True),
            Precision.MINUTE,
        ),
        ("0001", PartialDate(1), Precision.YEAR),
        ("9999-12-31", PartialDate(9999, 12, 31), Precision.DAY),
        ("2024-02-29", PartialDate(2024, 2, 29), Precision.DAY),
        ("2022-12-10T00:00", PartialDate(2022, 12, 10, 0, 0), Precision.MINUTE),
        ("2022-12-10T23:59:59", PartialDate(2022, 12, 10, 23, 59, 59), Precision.SECOND),
        ("2022-12-10T14:30+14:00", PartialDate(2022, 12, 10, 14, 30, None, 840), Precision.MINUTE),
    ],
)
def test_parse_every_form(text: str, expected: PartialDate, precision: Precision) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    assert parsed.precision is precision


def test_precision_order() -> None:
    assert Precision.YEAR < Precision.MONTH < Precision.DAY < Precision.MINUTE
    assert Precision.MINUTE < Precision.SECOND
    assert [p.value for p in Precision] == [1, 2, 3, 4, 5]


def test_plus_zero_and_minus_zero_offsets_are_utc() -> None:
    assert parse_date("2022-12-10T14:30+00:00") == parse_date("2022-12-10T14:30Z")
    assert parse_date("2022-12-10T14:30-00:00").iso() == "2022-12-10T14:30Z"


# --- iso, machine, display ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso", "machine", "display"),
    [
        ("2022", "2022", "2022", "2022"),
        ("2022-12", "2022-12", "2022-12", "December 2022"),
        ("2022-12-10", "2022-12-10", "2022-12-10", "10 December 2022"),
        ("2022-01-05", "2022-01-05", "2022-01-05", "5 January 2022"),
        ("2022-12-10T14:30", "2022-12-10T14:30", "2022-12-10T14:30", "10 December 2022, 14:30"),
        (
            "2022-12-10T09:05:07",
            "2022-12-10T09:05:07",
            "2022-12-10T09:05:07",
            "10 December 2022, 09:05:07",
        ),
        (
            "2022-12-10T14:30+04:00",
            "2022-12-10T14:30+04:00",
            "2022-12-10T14:30+04:00",
            "10 December 2022, 14:30 (UTC+04:00)",
        ),
        (
            "2022-12-10T14:30-03:30",
            "2022-12-10T14:30-03:30",
            "2022-12-10T14:30-03:30",
            "10 December 2022, 14:30 (UTC\u221203:30)",
        ),
        (
            "2022-12-10T14:30:05Z",
            "2022-12-10T14:30:05Z",
            "2022-12-10T14:30:05Z",
            "10 December 2022, 14:30:05 (UTC)",
        ),
        ("~2022", "~2022", "2022", "c. 2022"),
        ("~2022-12", "~2022-12", "2022-12", "c. December 2022"),
        ("~2022-12-10", "~2022-12-10", "2022-12-10", "c. 10 December 2022"),
        (
            "~2022-12-10T14:30Z",
            "~2022-12-10T14:30Z",
            "2022-12-10T14:30Z",
            "c. 10 December 2022, 14:30 (UTC)",
        ),
        ("0987-03", "0987-03", "0987-03", "March 987"),
    ],
)
def test_iso_machine_display(text: str, iso: str, machine: str, display: str) -> None:
    parsed = parse_date(text)
    assert parsed.iso() == iso
    assert parsed.machine() == machine
    assert parsed.display() == display


def test_every_month_name() -> None:
    names = [parse_date(f"2022-{m:02d}").display() for m in range(1, 13)]
    assert names == [f"{calendar.month_name[m]} 2022" for m in range(1, 13)]


# --- instants and time zones --------------------------------------------------------------


def test_start_is_first_moment_in_site_timezone() -> None:
    assert parse_date("2022").start(UTC) == datetime(2022, 1, 1, tzinfo=UTC)
    assert parse_date("2022-12").start(UTC) == datetime(2022, 12, 1, tzinfo=UTC)
    start = parse_date("2022-12-10").start(BAKU)
    assert start == datetime(2022, 12, 10, tzinfo=BAKU)
    assert start.astimezone(UTC) == datetime(2022, 12, 9, 20, 0, tzinfo=UTC)
    assert start.utcoffset() == timedelta(hours=4)


def test_explicit_offset_wins_over_site_timezone() -> None:
    zulu = parse_date("2022-12-10T14:30Z").start(BAKU)
    assert zulu.utcoffset() == timedelta(0)
    assert zulu == datetime(2022, 12, 10, 14, 30, tzinfo=UTC)
    plus4 = parse_date("2022-12-10T14:30+04:00").start(UTC)
    assert plus4.utcoffset() == timedelta(hours=4)
    assert plus4 == datetime(2022, 12, 10, 10, 30, tzinfo=UTC)


def test_same_instant_written_three_ways_sorts_equal() -> None:
    local = parse_date("2022-12-10T14:30")  # in Baku, the site's zone
    offset = parse_date("2022-12-10T14:30+04:00")
    zulu = parse_date("2022-12-10T10:30Z")
    keys = {d.sort_key(BAKU) for d in (local, offset, zulu)}
    assert len(keys) == 1
    # In UTC the zone-less one is four hours later.
    assert local.sort_key(UTC)[0] - zulu.sort_key(UTC)[0] == 4 * 3600


def test_site_timezone_changes_the_instant() -> None:
    day = parse_date("2022-12-10")
    assert day.sort_key(UTC)[0] - day.sort_key(BAKU)[0] == 4 * 3600
    assert day.sort_key(UTC) == (datetime(2022, 12, 10, tzinfo=UTC).timestamp(), -3)


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("2022", datetime(2023, 1, 1)),
        ("2022-12", datetime(2023, 1, 1)),
        ("2022-11", datetime(2022, 12, 1)),
        ("2023-02", datetime(2023, 3, 1)),
        ("2022-12-10", datetime(2022, 12, 11)),
        ("2022-12-31", datetime(2023, 1, 1)),
        ("2022-02-28", datetime(2022, 3, 1)),
        ("2024-02-28", datetime(2024, 2, 29)),
        ("2022-12-10T14:30", datetime(2022, 12, 10, 14, 31)),
        ("2022-12-10T23:59", datetime(2022, 12, 11, 0, 0)),
        ("2022-12-10T14:30:05", datetime(2022, 12, 10, 14, 30, 6)),
        ("2022-12-31T23:59:59", datetime(2023, 1, 1)),
    ],
)
def test_end_is_first_moment_after(text: str, end: datetime) -> None:
    parsed = parse_date(text)
    assert parsed.end(BAKU) == end.replace(tzinfo=BAKU)
    assert parsed.start(BAKU) < parsed.end(BAKU)


def test_end_keeps_explicit_offset() -> None:
    end = parse_date("2022-12-10T14:30+04:00").end(UTC)
    assert end == datetime(2022, 12, 10, 10, 31, tzinfo=UTC)
    assert end.utcoffset() == timedelta(hours=4)


def test_end_of_a_day_across_dst_is_next_local_midnight() -> None:
    spring = parse_date("2022-03-27")  # clocks go forward in Berlin
    assert spring.end(BERLIN) - spring.start(BERLIN) == timedelta(hours=24)  # wall clock
    real = spring.end(BERLIN).astimezone(UTC) - spring.start(BERLIN).astimezone(UTC)
    assert real == timedelta(hours=23)
    assert spring.end(BERLIN) == datetime(2022, 3, 28, tzinfo=BERLIN)


def test_end_of_the_last_year_does_not_overflow() -> None:
    for text in ("9999", "9999-12", "9999-12-31", "9999-12-31T23:59", "9999-12-31T23:59:59"):
        parsed = parse_date(text)
        assert parsed.end(UTC) == datetime.max.replace(tzinfo=UTC)
        assert parsed.end(UTC) > parsed.start(UTC)


def test_extreme_instants_have_sort_keys() -> None:
    first = parse_date("0001-01-01T00:00+14:00").sort_key(UTC)
    last = parse_date("9999-12-31T23:59-14:00").sort_key(UTC)
    assert first < parse_date("0001").sort_key(BAKU) < last


# --- ordering -----------------------------------------------------------------------------


def _ordered(texts: list[str], tz: timezone | ZoneInfo = UTC) -> list[str]:
    return sorted(texts, key=lambda t: parse_date(t).sort_key(tz))


def test_same_start_more_precise_first() -> None:
    texts = ["2022", "2022-01", "2022-01-01", "2022-01-01T00:00", "2022-01-01T00:00:00"]
    assert _ordered(texts) == list(reversed(texts))


def test_earlier_start_first() -> None:
    texts = ["2023", "2022-12-10", "2022-12", "2021-12-31T23:59", "2022-12-10T14:30", "2022"]
    assert _ordered(texts) == [
        "2021-12-31T23:59",
        "2022",
        "2022-12",
        "2022-12-10",
        "2022-12-10T14:30",
        "2023",
    ]


def test_ordering_follows_the_instant_across_zones() -> None:
    # 02:00 in Baku is 22:00 UTC the day before: it comes first in a Baku-zoned site.
    texts = ["2022-12-09T23:00Z", "2022-12-10T02:00"]
    assert _ordered(texts, BAKU) == ["2022-12-10T02:00", "2022-12-09T23:00Z"]
    assert _ordered(texts, UTC) == ["2022-12-09T23:00Z", "2022-12-10T02:00"]


def test_sort_key_shape() -> None:
    assert parse_date("1970-01-01").sort_key(UTC) == (0.0, -3)
    assert parse_date("~1970").sort_key(UTC) == (0.0, -1)


# --- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        ("2022-12-10", None, "10 December 2022"),
        ("2022-12-10", "2022-12-10", "10 December 2022"),
        ("2022-12-10", "2022-12-13", "10–13 December 2022"),
        ("2022-11-28", "2022-12-03", "28 November – 3 December 2022"),
        ("2022-12-10", "2023-01-03", "10 December 2022 – 3 January 2023"),
        ("2022-11", "2022-12", "November–December 2022"),
        ("2022-12", "2023-01", "December 2022 – January 2023"),
        ("2021", "2022", "2021–2022"),
        ("~2021", "~2022", "c. 2021–2022"),
        ("~2022-12-10", "~2022-12-13", "c. 10–13 December 2022"),
        ("~2022-11", "2022-12", "c. November 2022 – December 2022"),
        ("2022-11", "~2022-12", "November 2022 – c. December 2022"),
        ("2022-12-10", "2023-01", "10 December 2022 – January 2023"),
        ("2022", "2022-03-01", "2022 – 1 March 2022"),
        ("2022-12-10T14:30", "2022-12-10T16:00", "10 December 2022, 14:30–16:00"),
        (
            "2022-12-10T14:30+04:00",
            "2022-12-10T16:00:30+04:00",
            "10 December 2022, 14:30–16:00:30 (UTC+04:00)",
        ),
        (
            "2022-12-10T14:30Z",
            "2022-12-10T18:30+04:00",
            "10 December 2022, 14:30 (UTC) – 10 December 2022, 18:30 (UTC+04:00)",
        ),
        (
            "2022-12-10T14:30",
            "2022-12-11T09:00",
            "10 December 2022, 14:30 – 11 December 2022, 09:00",
        ),
        ("2022-12-10", "2022-12-10T16:00", "10 December 2022 – 10 December 2022, 16:00"),
    ],
)
def test_display_range(start: str, end: str | None, text: str) -> None:
    assert display_range(parse_date(start), parse_date(end) if end else None) == text


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2022-12-10", "2022-12"),  # the end's month includes the start
        ("2022-12-10", "2022-12-10"),
        ("2022-12-10", "2022"),
        ("2022-12", "2022-12-01"),
        ("2022-12-10T14:30", "2022-12-10T14:30"),
        ("2022-12-10T14:30:59", "2022-12-10T14:30"),
        ("2022-12-10T14:30+04:00", "2022-12-10T10:30Z"),
        ("2021", "2022"),
    ],
)
def test_range_ok(start: str, end: str) -> None:
    assert range_error(parse_date(start), parse_date(end), BAKU) is None


@pytest.mark.parametrize(
    ("start", "end", "tz"),
    [
        ("2022-12-10", "2022-11-30", UTC),
        ("2022-12-10", "2022-11", UTC),
        ("2022", "2021-12-31T23:59:59", UTC),
        ("2022-12-10T14:30", "2022-12-10T14:29", UTC),
        # The end's minute is over exactly when the start begins.
        ("2022-12-10T14:30:00", "2022-12-10T14:29", UTC),
        # 14:30 in Baku is 10:30 UTC, so an end at 10:29Z is before it.
        ("2022-12-10T14:30", "2022-12-10T10:29Z", BAKU),
    ],
)
def test_range_ends_before_it_starts(start: str, end: str, tz: timezone | ZoneInfo) -> None:
    message = range_error(parse_date(start), parse_date(end), tz)
    assert message == f"the range ends ({end}) before it starts ({start})"


def test_range_error_depends_on_site_timezone() -> None:
    start, end = parse_date("2022-12-10T12:00"), parse_date("2022-12-10T10:00Z")
    assert range_error(start, end, UTC) is not None
    assert range_error(start, end, BAKU) is None


def test_range_error_message_example() -> None:
    message = range_error(parse_date("2022-12-10"), parse_date("2022-11-30"), UTC)
    assert message == "the range ends (2022-11-30) before it starts (2022-12-10)"


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("", 0, "the date is empty: write it as YYYY, YYYY-MM or YYYY-MM-DD"),
        ("   ", 0, "the date is empty"),
        (" 2022", 0, "remove the space before the date"),
        ("2022-12 ", 7, "remove the space after the date"),
        ("2022\t", 4, "remove the space after the date"),
        ("2022-02-30", 8, "February 2022 has no day 30 (it has 28 days)"),
        ("2023-02-29", 8, "February 2023 has no day 29"),
        ("2022-04-31", 8, "April 2022 has no day 31 (it has 30 days)"),
        ("2022-12-00", 8, "December 2022 has no day 00"),
        ("2022-12-32", 8, "December 2022 has no day 32"),
        ("2022-13", 5, "there is no month 13: months run from 01 to 12"),
        ("2022-00-10", 5, "there is no month 00"),
        ("2022-12-10T24:00", 11, "there is no hour 24: hours run from 00 to 23"),
        ("2022-12-10T14:60", 14, "there is no minute 60: minutes run from 00 to 59"),
        ("2022-12-10T14:30:60", 17, "there is no second 60"),
        ("2022-12T10:00", 7, "a time needs a full date: write YYYY-MM-DDTHH:MM"),
        ("2022T10:00", 4, "a time needs a full date"),
        ("2022-12-10Z", 10, "a time zone needs a time"),
        ("2022-12-10+04:00", 10, "a time zone needs a time"),
        ("2022-12Z", 7, "a time zone needs a full date and a time"),
        ("2022/12/10", 4, "separate year, month and day with '-' instead of '/'"),
        ("2022.12.10", 4, "in the form YYYY-MM-DD"),
        ("2022-12/10", 7, "instead of '/'"),
        ("10.12.2022", 0, "write the year first, in the form YYYY-MM-DD"),
        ("10/12/2022", 0, "write the year first"),
        ("20221210", 0, "separate year, month and day with '-', in the form YYYY-MM-DD"),
        ("22", 0, "the year needs exactly four digits"),
        ("02022", 0, "the year needs exactly four digits"),
        ("0000", 0, "there is no year 0000"),
        ("December 2022", 0, "expected a date in the form YYYY, YYYY-MM or YYYY-MM-DD"),
        ("\u0662\u0660\u0662\u0662", 0, "expected a date in the form"),
        ("2022x", 4, "unexpected 'x' after the year"),
        ("2022-12x", 7, "unexpected 'x' after the month"),
        ("2022-12-10x", 10, "unexpected 'x' after the date"),
        ("2022-12-10T14:30x", 16, "unexpected 'x' after the time"),
        ("2022-12-10T14:30Zx", 17, "unexpected 'x' at the end of the date"),
        ("2022-12-10T14:30+04:00:00", 22, "unexpected ':' at the end of the date"),
        ("2022-12-10 14:30", 10, "put a 'T' between the date and the time"),
        ("2022-12-10t14:30", 10, "capital letter"),
        ("2022-12-10T14:30z", 16, "write the 'Z' for UTC as a capital letter"),
        ("2022-", 5, "the month is missing"),
        ("2022-1", 5, "the month needs exactly two digits"),
        ("2022-Dec", 5, "expected the month as two digits, e.g. 2022-03, but found 'D'"),
        ("2022-12-", 8, "the day is missing"),
        ("2022-12-1", 8, "the day needs exactly two digits"),
        ("2022-12-10T", 11, "the time is missing after 'T': write HH:MM"),
        ("2022-12-10T14", 13, "the time needs minutes: write HH:MM"),
        ("2022-12-10T1430", 11, "separate hours and minutes with ':'"),
        ("2022-12-10T14.30", 13, "separate hours and minutes with ':' instead of '.'"),
        ("2022-12-10T9:30", 11, "the hour needs exactly two digits"),
        ("2022-12-10T14:30:05.250", 19, "fractions are not allowed"),
        ("2022-12-10T14:30+4:00", 16, "write the time zone as +HH:MM or -HH:MM"),
        ("2022-12-10T14:30+0400", 16, "write the time zone as +HH:MM"),
        ("2022-12-10T14:30+04", 16, "write the time zone as +HH:MM"),
        ("2022-12-10T14:30+15:00", 16, "a time zone is at most 14 hours from UTC"),
        ("2022-12-10T14:30+04:60", 20, "there is no minute 60 in a time zone"),
        ("~", 1, "the date is missing after '~'"),
        ("~~2022", 1, "write '~' only once"),
        ("~ 2022", 1, "write '~' right before the date"),
        ("2022-12-10\u00a0", 10, "remove the space after the date"),
        ("2022-12-10\n", 10, "remove the space after the date"),
        ("2022-12-10\x00", 10, "unexpected U+0000 after the date"),
    ],
)
def test_errors(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(DateError) as caught:
        parse_date(text)
    assert fragment in caught.value.message
    assert caught.value.offset == offset
    assert str(caught.value) == caught.value.message


def test_first_problem_is_reported() -> None:
    # A bad month comes before the trailing space in the text, so it is the one reported.
    with pytest.raises(DateError) as caught:
        parse_date("2022-13 ")
    assert caught.value.offset == 5


def test_date_error_is_a_value_error() -> None:
    error = DateError("bad", 3)
    assert isinstance(error, ValueError)
    assert (error.message, error.offset) == ("bad", 3)
    assert DateError("bad").offset == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"year": 0},
        {"year": 10000},
        {"year": 2022, "month": 13},
        {"year": 2022, "day": 1},
        {"year": 2022, "month": 2, "day": 30},
        {"year": 2022, "month": 2, "day": 1, "hour": 10},
        {"year": 2022, "month": 2, "day": 1, "hour": 24, "minute": 0},
        {"year": 2022, "month": 2, "offset_minutes": 0},
        {"year": 2022, "month": 2, "day": 1, "hour": 1, "minute": 0, "offset_minutes": 900},
    ],
)
def test_constructor_rejects_invalid_fields(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="invalid PartialDate"):
        PartialDate(**fields)  # type: ignore[arg-type]


# --- time zones ---------------------------------------------------------------------------


def test_parse_timezone_known() -> None:
    assert parse_timezone("UTC") is UTC
    assert parse_timezone("Asia/Baku") == BAKU
    assert parse_timezone("Asia/Baku").utcoffset(datetime(2022, 12, 10)) == timedelta(hours=4)


@pytest.mark.parametrize("name", ["Asia/Bakuu", "", "utc ", "Asia", "/etc/passwd", "../x", "a\0b"])
def test_parse_timezone_unknown(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone") as caught:
        parse_timezone(name)
    assert "IANA name such as Asia/Baku" in str(caught.value)


def test_parse_timezone_suggests_a_name() -> None:
    with pytest.raises(ValueError, match="did you mean 'Asia/Baku'"):
        parse_timezone("Asia/Bakuu")


# --- properties ---------------------------------------------------------------------------


@st.composite
def partial_dates(draw: st.DrawFn) -> PartialDate:
    year = draw(st.integers(1, 9999))
    precision = draw(st.sampled_from(list(Precision)))
    approximate = draw(st.booleans())
    if precision is Precision.YEAR:
        return PartialDate(year, approximate=approximate)
    month = draw(st.integers(1, 12))
    if precision is Precision.MONTH:
        return PartialDate(year, month, approximate=approximate)
    day = draw(st.integers(1, calendar.monthrange(year, month)[1]))
    if precision is Precision.DAY:
        return PartialDate(year, month, day, approximate=approximate)
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    second = draw(st.integers(0, 59)) if precision is Precision.SECOND else None
    offset = draw(st.none() | st.integers(-14 * 60, 14 * 60))
    return PartialDate(year, month, day, hour, minute, second, offset, approximate)


@given(partial_dates())
def test_iso_round_trips(value: PartialDate) -> None:
    assert parse_date(value.iso()) == value
    plain = parse_date(value.machine())
    assert plain.approximate is False
    assert plain.iso() == value.machine()


@given(partial_dates(), st.sampled_from([UTC, BAKU, BERLIN]))
def test_start_before_end(value: PartialDate, tz: timezone | ZoneInfo) -> None:
    assert value.start(tz) < value.end(tz)
    assert value.sort_key(tz)[1] == -value.precision
    assert range_error(value, value, tz) is None
    assert value.display()
    assert display_range(value, value) == value.display()


@given(partial_dates(), partial_dates())
def test_sort_key_follows_start(a: PartialDate, b: PartialDate) -> None:
    if a.start(BAKU) < b.start(BAKU):
        assert a.sort_key(BAKU) < b.sort_key(BAKU)
    if a.start(BAKU) == b.start(BAKU) and a.precision > b.precision:
        assert a.sort_key(BAKU) < b.sort_key(BAKU)


def _check_never_crashes(text: str) -> None:
    try:
        parsed = parse_date(text)
    except DateError as error:
        assert error.message
        assert 0 <= error.offset <= len(text)
    else:
        assert parsed.iso() == text or parsed.offset_minutes == 0


@given(st.text())
def test_arbitrary_text_raises_only_date_error(text: str) -> None:
    _check_never_crashes(text)


@given(st.text(alphabet="0123456789-:T+Z~ ./tz", max_size=30))
def test_date_like_text_raises_only_date_error(text: str) -> None:
    _check_never_crashes(text)


@given(partial_dates(), st.data())
def test_mutated_dates_raise_only_date_error(value: PartialDate, data: st.DataObject) -> None:
    text = value.iso()
    index = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.text(alphabet="0123456789-:T+Z~ x\u00a0", max_size=2))
    cut = data.draw(st.integers(0, 2))
    _check_never_crashes(text[:index] + insert + text[index + cut :])


def _read(text: str) -> str:
    try:
        return repr(parse_date(text))
    except DateError as error:
        return f"{error.message} @{error.offset}"


def test_common_dates_are_read_at_once_as_the_scanner_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = {
        approximate + year + (f"-{month}" if month else "") + (f"-{day}" if month and day else "")
        for year in ("0000", "0001", "1900", "2000", "2023", "2024", "9999", "202")
        for month in ("", "00", "01", "02", "04", "12", "13", "1")
        for day in ("", "00", "01", "28", "29", "30", "31", "32", "3")
        for approximate in ("", "~")
    }
    fast = {text: _read(text) for text in texts}
    assert fast["2024-02-29"] == repr(PartialDate(2024, 2, 29))
    assert fast["~2023-04"] == repr(PartialDate(2023, 4, approximate=True))
    monkeypatch.setattr(dates, "_PLAIN_DATE", re.compile("(?!)"))
    assert {text: _read(text) for text in texts} == fast
