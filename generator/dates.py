"""Partial dates: parse the ISO 8601 subset editors write (`2022`, `~2022-12`,
`2022-12-10T14:30+04:00`), keep the precision as written, and turn it into instants,
sort keys, HTML `datetime` values and reader-facing text.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .diagnostics import did_you_mean
from .restore import slots_maker

__all__ = [
    "DateError",
    "PartialDate",
    "Precision",
    "display_range",
    "parse_date",
    "parse_timezone",
    "range_error",
]

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Real-world offsets run from -12:00 to +14:00; anything beyond is a typo, not a place.
MAX_OFFSET_MINUTES = 14 * 60

_FORMS = "YYYY, YYYY-MM or YYYY-MM-DD"
_DIGITS = re.compile(r"[0-9]*", re.ASCII)
_ZONE = re.compile(r"([0-9]{2}):([0-9]{2})", re.ASCII)


class Precision(IntEnum):
    YEAR = 1
    MONTH = 2
    DAY = 3
    MINUTE = 4
    SECOND = 5


class DateError(ValueError):
    """A date the editor wrote that cannot be read; `offset` is the 0-based character
    offset in the text where the problem starts (it may equal the text's length when
    something is missing at the end)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date as precise as written (the fields after the last one given are None).

    In slots, without a `__dict__`: the build cache keeps some 40,000 at 10,000 stories.
    """

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    offset_minutes: int | None = None
    approximate: bool = False

    def __post_init__(self) -> None:
        # Constructed values must be as valid as parsed ones, or start()/iso() would
        # fail far from the mistake.
        problem = _invalid_fields(self)
        if problem:
            raise ValueError(f"invalid PartialDate: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by the ten thousand (with records): a tuple of the values, loaded without
        # checking again what was checked when the date was made.
        return _partial_date, (
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.offset_minutes,
            self.approximate,
        )

    @property
    def precision(self) -> Precision:
        if self.second is not None:
            return Precision.SECOND
        if self.minute is not None:
            return Precision.MINUTE
        if self.day is not None:
            return Precision.DAY
        if self.month is not None:
            return Precision.MONTH
        return Precision.YEAR

    def _zone(self, tz: tzinfo) -> tzinfo:
        if self.offset_minutes is None:
            return tz
        if self.offset_minutes == 0:
            return UTC
        return timezone(timedelta(minutes=self.offset_minutes))

    def _naive_start(self) -> datetime:
        return datetime(
            self.year,
            self.month or 1,
            self.day or 1,
            self.hour or 0,
            self.minute or 0,
            self.second or 0,
        )

    def start(self, tz: tzinfo) -> datetime:
        """The first moment of the period, in the explicit offset if written, else `tz`."""
        return self._naive_start().replace(tzinfo=self._zone(tz))

    def end(self, tz: tzinfo) -> datetime:
        """The first moment after the period (exclusive).

        The step is taken on the wall clock, so a day across a DST change ends at the next
        local midnight. The period that ends with year 9999 has no representable end;
        it gets the last representable moment instead.
        """
        naive = self._naive_start()
        precision = self.precision
        try:
            if precision is Precision.YEAR:
                after = naive.replace(year=self.year + 1)
            elif precision is Precision.MONTH:
                if naive.month == 12:
                    after = naive.replace(year=self.year + 1, month=1)
                else:
                    after = naive.replace(month=naive.month + 1)
            elif precision is Precision.DAY:
                after = naive + timedelta(days=1)
            elif precision is Precision.MINUTE:
                after = naive + timedelta(minutes=1)
            else:
                after = naive + timedelta(seconds=1)
        except (OverflowError, ValueError):
            after = datetime.max
        return after.replace(tzinfo=self._zone(tz))

    def sort_key(self, tz: tzinfo) -> tuple[float, int]:
        """Earlier start first; on the same start instant the more precise first."""
        return (self.start(tz).timestamp(), -int(self.precision))

    def machine(self) -> str:
        """A valid HTML `<time datetime>` value (no approximation marker)."""
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        if self.hour is not None:
            text += f"T{self.hour:02d}:{self.minute:02d}"
        if self.second is not None:
            text += f":{self.second:02d}"
        if self.offset_minutes is not None:
            text += _offset_text(self.offset_minutes, "Z", "-")
        return text

    def iso(self) -> str:
        """The canonical text, as an editor would write it (`parse_date` reads it back)."""
        return ("~" if self.approximate else "") + self.machine()

    def display(self) -> str:
        """Reader-facing text at the written precision: "c. 10 December 2022, 14:30"."""
        return ("c. " if self.approximate else "") + self._display_exact()

    def _display_exact(self) -> str:
        return _display_date(self) + _display_time(self) + _display_zone(self)


# A PartialDate made from valid values (loaded from the build cache, or read by the quick path
# of `parse_date`): no check again.
_partial_date = slots_maker(PartialDate, "_partial_date")


def _invalid_fields(d: PartialDate) -> str:
    if not 1 <= d.year <= 9999:
        return f"year {d.year} is outside 1-9999"
    chain = (d.month, d.day, d.hour, d.minute)
    for index, later in enumerate((d.day, d.hour, d.minute, d.second)):
        if later is not None and chain[index] is None:
            return "a finer field is set while a coarser one is not"
    if (d.hour is None) != (d.minute is None):
        return "hour and minute go together"
    if d.month is not None and not 1 <= d.month <= 12:
        return f"month {d.month}"
    if d.month is not None and d.day is not None and not 1 <= d.day <= _last_day(d.year, d.month):
        return f"day {d.day}"
    if d.hour is not None and not 0 <= d.hour <= 23:
        return f"hour {d.hour}"
    if d.minute is not None and not 0 <= d.minute <= 59:
        return f"minute {d.minute}"
    if d.second is not None and not 0 <= d.second <= 59:
        return f"second {d.second}"
    if d.offset_minutes is not None:
        if d.hour is None:
            return "an offset needs a time"
        if abs(d.offset_minutes) > MAX_OFFSET_MINUTES:
            return f"offset {d.offset_minutes} minutes"
    return ""


def _offset_text(minutes: int, zero: str, minus: str) -> str:
    if minutes == 0:
        return zero
    sign = "+" if minutes > 0 else minus
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _display_date(d: PartialDate) -> str:
    if d.month is None:
        return str(d.year)
    if d.day is None:
        return f"{MONTHS[d.month - 1]} {d.year}"
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _clock(d: PartialDate) -> str:
    text = f"{d.hour:02d}:{d.minute:02d}"
    if d.second is not None:
        text += f":{d.second:02d}"
    return text


def _display_time(d: PartialDate) -> str:
    return "" if d.hour is None else ", " + _clock(d)


def _display_zone(d: PartialDate) -> str:
    if d.offset_minutes is None:
        return ""
    # A true minus sign: screen readers say "minus" and it does not break the line.
    return " (UTC" + _offset_text(d.offset_minutes, "", "\u2212") + ")"


# --- parsing -----------------------------------------------------------------------------


def _show(char: str) -> str:
    """A character quoted for a message; invisible ones by code point."""
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    if char == " ":
        return "a space"
    return f"U+{ord(char):04X}"


class _Scanner:
    """Reads the text left to right, so each error points at the first problem."""

    def __init__(self, text: str, end: int) -> None:
        self.text = text
        self.end = end  # trailing whitespace is left for the caller to report
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def digits(self) -> str:
        match = _DIGITS.match(self.text, self.pos, self.end)
        return match.group() if match else ""

    def number(self, what: str, lowest: int, highest: int, example: str) -> int:
        """Two ASCII digits in [lowest, highest]; `what` names the field in messages."""
        start = self.pos
        run = self.digits()
        if not run:
            if start >= self.end:
                raise DateError(f"the {what} is missing: write it as two digits, {example}", start)
            raise DateError(
                f"expected the {what} as two digits, {example}, but found "
                f"{_show(self.text[start])}",
                start,
            )
        if len(run) != 2:
            raise DateError(f"the {what} needs exactly two digits, {example}", start)
        value = int(run)
        if not lowest <= value <= highest:
            raise DateError(
                f"there is no {what} {run}: {what}s run from {lowest:02d} to {highest:02d}",
                start,
            )
        self.pos += 2
        return value


# The common dates, read at once (the scanner below says what is wrong with the others).
_PLAIN_DATE = re.compile(r"(~?)([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", re.ASCII)


def parse_date(text: str) -> PartialDate:
    """Read a partial date exactly as typed; raise `DateError` saying what is wrong."""
    plain = _PLAIN_DATE.fullmatch(text)
    if plain is not None:
        approximate, year, month, day = plain.groups()
        y = int(year)
        m = int(month) if month else None
        d = int(day) if day else None
        if y and (m is None or (1 <= m <= 12 and (d is None or 1 <= d <= _last_day(y, m)))):
            # As the scanner would make it, and as valid: no check again.
            made: PartialDate = _partial_date(y, m, d, None, None, None, None, bool(approximate))
            return made
    if not text or text.isspace():
        raise DateError(f"the date is empty: write it as {_FORMS} (e.g. 2022-12-10)", 0)
    if text[0].isspace():
        raise DateError("remove the space before the date", 0)
    core_end = len(text.rstrip())
    scan = _Scanner(text, core_end)
    result = _parse(scan)
    if core_end < len(text):
        raise DateError("remove the space after the date", core_end)
    return result


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _parse(scan: _Scanner) -> PartialDate:
    text = scan.text
    approximate = scan.peek() == "~"
    if approximate:
        scan.pos += 1
        if scan.peek() == "~":
            raise DateError("write '~' only once", scan.pos)
        if not scan.peek():
            raise DateError("the date is missing after '~' (e.g. ~2022-12)", scan.pos)
        if scan.peek().isspace():
            raise DateError("write '~' right before the date, without a space (e.g. ~2022-12)", 1)

    year = _parse_year(scan)
    if not scan.peek():
        return PartialDate(year, approximate=approximate)
    _after_field(scan, "year")
    scan.pos += 1
    month = scan.number("month", 1, 12, "e.g. 2022-03")
    if not scan.peek():
        return PartialDate(year, month, approximate=approximate)
    _after_field(scan, "month")
    scan.pos += 1

    start = scan.pos
    last_day = _last_day(year, month)
    run = scan.digits()
    if len(run) == 2 and (int(run) == 0 or int(run) > last_day):
        name = f"{MONTHS[month - 1]} {year}"
        raise DateError(f"{name} has no day {run} (it has {last_day} days)", start)
    day = scan.number("day", 1, 31, "e.g. 2022-12-05")
    if not scan.peek():
        return PartialDate(year, month, day, approximate=approximate)

    char = scan.peek()
    if char in ("+", "-", "Z", "z"):
        raise DateError(
            "a time zone needs a time: write YYYY-MM-DDTHH:MM+04:00 (or Z for UTC)", scan.pos
        )
    if char == "t":
        raise DateError("write the 'T' before the time as a capital letter", scan.pos)
    if char.isspace():
        raise DateError(
            "put a 'T' between the date and the time, without spaces: YYYY-MM-DDTHH:MM",
            scan.pos,
        )
    if char != "T":
        raise DateError(
            f"unexpected {_show(char)} after the date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM",
            scan.pos,
        )
    scan.pos += 1
    hour, minute, second = _parse_time(scan)
    offset = _parse_zone(scan)
    if scan.peek():
        raise DateError(f"unexpected {_show(text[scan.pos])} at the end of the date", scan.pos)
    return PartialDate(year, month, day, hour, minute, second, offset, approximate)


def _parse_year(scan: _Scanner) -> int:
    start = scan.pos
    run = scan.digits()
    following = start + len(run)
    after = scan.text[following] if following < scan.end else ""
    if not run:
        raise DateError(f"expected a date in the form {_FORMS} (e.g. 2022-12-10)", start)
    if len(run) <= 2 and after in ("-", ".", "/"):
        # 10.12.2022, 10/12/2022, 10-12-2022: day-first habits.
        raise DateError("write the year first, in the form YYYY-MM-DD (e.g. 2022-12-10)", start)
    if len(run) in (6, 8) and not after:
        raise DateError(
            "separate year, month and day with '-', in the form YYYY-MM-DD (e.g. 2022-12-10)",
            start,
        )
    if len(run) != 4:
        raise DateError("the year needs exactly four digits, from 0001 to 9999", start)
    if run == "0000":
        raise DateError("there is no year 0000: years run from 0001 to 9999", start)
    scan.pos += 4
    return int(run)


def _after_field(scan: _Scanner, field: str) -> None:
    """Check what follows a year or a month: only '-' may continue the date."""
    char = scan.peek()
    if char == "-":
        return
    where = scan.pos
    if char in ("T", "t"):
        raise DateError(
            "a time needs a full date: write YYYY-MM-DDTHH:MM (e.g. 2022-12-10T14:30)", where
        )
    if char in ("Z", "z", "+"):
        raise DateError(
            "a time zone needs a full date and a time: write YYYY-MM-DDTHH:MM+04:00", where
        )
    if char in ("/", ".", "_") or char.isspace():
        raise DateError(
            f"separate year, month and day with '-' instead of {_show(char)}, "
            "in the form YYYY-MM-DD (e.g. 2022-12-10)",
            where,
        )
    raise DateError(
        f"unexpected {_show(char)} after the {field}: write the date as {_FORMS}", where
    )


def _parse_time(scan: _Scanner) -> tuple[int, int, int | None]:
    start = scan.pos
    run = scan.digits()
    if not run and not scan.peek():
        raise DateError("the time is missing after 'T': write HH:MM (e.g. T14:30)", start)
    if len(run) in (4, 6):
        raise DateError("separate hours and minutes with ':', as HH:MM (e.g. T14:30)", start)
    hour = scan.number("hour", 0, 23, "e.g. T09:30")
    if scan.peek() != ":":
        if not scan.peek():
            raise DateError("the time needs minutes: write HH:MM (e.g. T14:00)", scan.pos)
        raise DateError(
            f"separate hours and minutes with ':' instead of {_show(scan.peek())}, as HH:MM",
            scan.pos,
        )
    scan.pos += 1
    minute = scan.number("minute", 0, 59, "e.g. T14:05")
    second = None
    if scan.peek() == ":":
        scan.pos += 1
        second = scan.number("second", 0, 59, "e.g. T14:05:30")
    if scan.peek() in (".", ","):
        raise DateError("fractions are not allowed: write HH:MM or HH:MM:SS", scan.pos)
    return hour, minute, second


def _parse_zone(scan: _Scanner) -> int | None:
    char = scan.peek()
    if not char:
        return None
    where = scan.pos
    if char == "Z":
        scan.pos += 1
        return 0
    if char == "z":
        raise DateError("write the 'Z' for UTC as a capital letter", where)
    if char not in ("+", "-"):
        raise DateError(
            f"unexpected {_show(char)} after the time: a time zone is written Z or +HH:MM",
            where,
        )
    match = _ZONE.match(scan.text, where + 1, scan.end)
    if match is None:
        raise DateError("write the time zone as +HH:MM or -HH:MM (e.g. +04:00)", where)
    if int(match[2]) > 59:
        raise DateError(
            f"there is no minute {match[2]} in a time zone: minutes run from 00 to 59",
            match.start(2),
        )
    total = int(match[1]) * 60 + int(match[2])
    if total > MAX_OFFSET_MINUTES:
        raise DateError("a time zone is at most 14 hours from UTC (-14:00 to +14:00)", where)
    scan.pos = match.end()
    return total if char == "+" else -total


# --- ranges and time zones ----------------------------------------------------------------


def display_range(start: PartialDate, end: PartialDate | None) -> str:
    """Reader-facing text of a range, sharing what both ends have in common."""
    if end is None or end == start:
        return start.display()
    if start.approximate == end.approximate:
        collapsed = _collapse(start, end)
        if collapsed is not None:
            return ("c. " if start.approximate else "") + collapsed
    return f"{start.display()} – {end.display()}"


def _collapse(a: PartialDate, b: PartialDate) -> str | None:
    if a.precision >= Precision.MINUTE and b.precision >= Precision.MINUTE:
        # Times stay in full; only a shared day (and zone) is written once.
        same_day = (a.year, a.month, a.day) == (b.year, b.month, b.day)
        if same_day and a.offset_minutes == b.offset_minutes:
            return f"{_display_date(a)}, {_clock(a)}–{_clock(b)}{_display_zone(a)}"
        return None
    if a.precision != b.precision:
        return None
    if a.precision is Precision.YEAR:
        return f"{a.year}–{b.year}"
    assert a.month is not None and b.month is not None
    if a.precision is Precision.MONTH:
        if a.year == b.year:
            return f"{MONTHS[a.month - 1]}–{MONTHS[b.month - 1]} {a.year}"
        return f"{_display_date(a)} – {_display_date(b)}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {MONTHS[a.month - 1]} {a.year}"
    if a.year == b.year:
        return f"{a.day} {MONTHS[a.month - 1]} – {b.day} {MONTHS[b.month - 1]} {a.year}"
    return f"{_display_date(a)} – {_display_date(b)}"


def range_error(start: PartialDate, end: PartialDate, tz: tzinfo) -> str | None:
    """A message when the range ends before it starts, else None.

    The end counts until the end of its period, so `2022-12-10` to `2022-12` is fine.
    """
    if end.end(tz) <= start.start(tz):
        return f"the range ends ({end.iso()}) before it starts ({start.iso()})"
    return None


def parse_timezone(name: str) -> tzinfo:
    """`UTC` or an IANA time zone name (e.g. `Asia/Baku`); ValueError if unknown."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = did_you_mean(name, available_timezones() | {"UTC"}) if name.strip() else ""
    raise ValueError(f"unknown time zone '{name}'{hint}: use UTC or an IANA name such as Asia/Baku")
