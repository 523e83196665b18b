"""The skeleton of a new record or story, for `factsheet new`: text only, no disk.

Input: a kind, an id, the schema file's path relative to the new file, today's date and the
ids that exist; output: a file that passes the check as it is, whose first YAML line points
editors' YAML language servers at the kind's JSON Schema, with every optional field as a hint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from .schema import ANY, KIND_HELP, SCHEMAS, SINGULAR, STORY, Field

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 ]*$")
_YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}
_COMMENT_COLUMN = 28


def relative_path(kind: str, record_id: str) -> Path:
    """Where the new file goes inside the content folder."""
    return Path(kind, f"{record_id}.md" if kind == STORY else f"{record_id}.yaml")


def skeleton(
    kind: str,
    record_id: str,
    schema_url: str,
    today: date,
    known: Mapping[str, Sequence[str]],
) -> str:
    """The new file's text; `known` lists the existing ids of each kind (for required refs)."""
    lines = [
        f"# yaml-language-server: $schema={schema_url}",
        f"# {KIND_HELP[kind]}",
        "# Replace the stand-ins, uncomment the fields you need, then run `factsheet check`.",
    ]
    fields = SCHEMAS[kind]
    for field in (f for f in fields if f.required):
        value, note = _placeholder(field, record_id, today, known)
        lines.append(_line(f"{field.name}: {value}", field.help + note))
    for field in (f for f in fields if not f.required):
        lines.append(_line(f"# {field.name}:", field.help + _type_hint(field)))
    if kind != STORY:
        return "\n".join(lines) + "\n"
    return "\n".join(["---", *lines, "---", "Write the story here, in Markdown.", ""])


def _line(text: str, comment: str) -> str:
    return f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment}"


def _placeholder(
    field: Field, record_id: str, today: date, known: Mapping[str, Sequence[str]]
) -> tuple[str, str]:
    """A value that passes the check, and a note when it is only a stand-in."""
    if field.type == "date":
        return today.isoformat(), ""
    if field.type == "choice":
        return field.choices[0], f" One of: {' | '.join(field.choices)}."
    if field.type in ("texts", "refs"):
        return "[]", " (Fill in the list: [one, another].)"
    if field.type == "ref":
        ids = known.get(field.ref or ANY, ())
        if ids:
            return ids[0], " (A stand-in: put the right id here.)"
        return "todo", f" (Put {_article(SINGULAR.get(field.ref or '', 'record'))} id here.)"
    if field.name in ("name", "title"):
        return _text(record_id.replace("-", " ").title()), ""
    return _text("TODO"), " (Replace TODO.)"


def _type_hint(field: Field) -> str:
    if field.choices:
        return f" One of: {' | '.join(field.choices)}."
    if field.ref in SINGULAR and field.type == "ref":
        return f" ({_article(SINGULAR[field.ref or '']).capitalize()} id.)"
    if field.ref in SINGULAR and field.type == "refs":
        return f" (A list of {SINGULAR[field.ref or '']} ids.)"
    return ""


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _text(value: str) -> str:
    """A YAML scalar that reads back as the same text."""
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
