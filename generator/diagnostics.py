"""Diagnostics: where a problem is, what it is, and how it is printed.

Every stage returns its problems as `Diagnostic` values instead of raising; `cli` prints them
sorted, one per line, as `path:line:col: error[CODE]: message`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """A position in a content file; `path` is relative to the content folder's parent.

    Lines and columns count from 1, columns in characters (as editors show them).
    """

    path: str
    line: int = 1
    column: int = 1

    def at(self, line: int, column: int) -> Location:
        return Location(self.path, line, column)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    location: Location
    severity: Severity
    code: str
    message: str

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.code, self.message)

    def format(self) -> str:
        line = f"{self.location}: {self.severity.value}[{self.code}]: {self.message}"
        # One line, whatever a message quotes: a line break or an escape sequence from the
        # content would break the format (or the editor's terminal).
        return _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode(), line)


_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# The catalogue of codes: stable, grouped by stage (E01 reading files, E02 YAML and front
# matter, E03 fields and ids, E04 references and links, E05 dates, E06 output, W warnings).
CATALOGUE: dict[str, str] = {
    "E0101": "the file cannot be read, or is a symbolic link",
    "E0102": "the file is not valid UTF-8",
    "E0103": "the file is larger than the limit for its kind",
    "E0104": "the file holds a NUL or another control character",
    "E0105": "a file or folder in content/ is in the wrong place",
    "E0106": "Markdown nested too deeply to render in reasonable time",
    "E0201": "the YAML cannot be parsed",
    "E0202": "a key appears twice in one mapping",
    "E0203": "YAML tags, anchors and aliases are not allowed",
    "E0204": "tabs (or other non-space characters) used as indentation",
    "E0205": "the file holds more than one YAML document, or none",
    "E0206": "the story has no front matter, or it is not closed",
    "E0207": "the YAML is nested too deeply",
    "E0301": "a required field is missing",
    "E0302": "an unknown field",
    "E0303": "a field has the wrong type",
    "E0304": "a field's value is not one of the allowed values",
    "E0305": "an id is not a valid slug",
    "E0306": "two records share one id",
    "E0307": "the top level of a fact file is not a mapping or a list of mappings",
    "E0308": "a number is out of range or not a number",
    "E0401": "a reference names no record",
    "E0402": "a reference names a record of the wrong kind",
    "E0403": "a [[link]] names no record",
    "E0404": "a link target uses a scheme that is not allowed",
    "E0501": "a date is not a valid partial ISO 8601 date",
    "E0502": "a date range ends before it starts",
    "E0601": "the output folder cannot be used",
    "E0602": "a template failed to render",
    "E0603": "two pages would be written to one path",
    "W0101": "the file starts with a byte-order mark",
    "W0301": "a record is backed by no source",
    "W0302": "a record that nothing links to",
}


@dataclass
class Diagnostics:
    """A collector: stages add to it; nothing here prints or exits."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, location: Location, code: str, message: str) -> None:
        self._add(location, Severity.ERROR, code, message)

    def warning(self, location: Location, code: str, message: str) -> None:
        self._add(location, Severity.WARNING, code, message)

    def _add(self, location: Location, severity: Severity, code: str, message: str) -> None:
        if code not in CATALOGUE:
            raise ValueError(f"uncatalogued diagnostic code {code}")
        self.items.append(Diagnostic(location, severity, code, message))

    def extend(self, others: Iterable[Diagnostic]) -> None:
        self.items.extend(others)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def sorted(self) -> list[Diagnostic]:
        unique = {(d.sort_key(), d.severity.value): d for d in self.items}
        return [unique[k] for k in sorted(unique)]


def clip(text: str, limit: int = 60) -> str:
    """Text from the content, shortened for a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix naming the closest candidates, or ''.

    Matching ignores case ('TASS' finds 'tass'); the suggestion is spelled as declared.
    """
    spelled: dict[str, str] = {}
    for candidate in sorted(set(candidates)):
        # A ratio of 0.6 needs the shorter word to be 3/7 of the longer at least; the rest
        # cannot match, and a hostile 900 KB word would cost difflib a second.
        if 3 * max(len(word), len(candidate)) <= 7 * min(len(word), len(candidate)):
            spelled.setdefault(candidate.casefold(), candidate)
    if not spelled:
        return ""
    folded = difflib.get_close_matches(word.casefold(), list(spelled), n=3, cutoff=0.6)
    close = [spelled[f] for f in folded]
    if not close:
        return ""
    if len(close) == 1:
        return f" (did you mean '{close[0]}'?)"
    names = ", ".join(f"'{c}'" for c in close[:-1])
    return f" (did you mean {names} or '{close[-1]}'?)"
