"""The data export's JSON writer (orjson, json.dumps where they differ) writes the very bytes
`json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)` wrote before it: for any
JSON value, for the values orjson writes differently or refuses, and for every JSON file of
the full fixture's export."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opendata import FULL

from generator import data, plan
from generator.pipeline import Options, load
from generator.render import TEMPLATES
from generator.urls import GRAPH


def dumps(value: Any) -> bytes:
    """The export's JSON as json.dumps wrote it before orjson."""
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


SPECIAL_CHARACTERS = ["\x00", "\x08", "\x1f", "\x7f", "\x85", "\u2028", "\u2029", '"', "\\"]
text = st.text(st.characters(codec="utf-8") | st.sampled_from([*SPECIAL_CHARACTERS, "é", "😀"]))
integers = st.integers() | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1])
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.1, -0.0, 1e-7, 1e-5, 1e-4, 1e16, 40.123456, -179.99999999, 5e-324]
)
scalars = st.none() | st.booleans() | integers | floats | text
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(text, inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=1000, derandomize=True, deadline=None)
@given(values)
def test_any_json_value_is_written_as_json_dumps_wrote_it(value: Any) -> None:
    assert data.to_json(value) == dumps(value)


class Text(str):
    pass


class Number(float):
    pass


class Pair(tuple[int, int]):
    pass


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"small": 1e-05, "tiny": -2.5e-07, "nan": math.nan, "inf": [math.inf, -math.inf]},
        {"beyond 64 bits": 2**64, "below": -(2**63) - 1},
        {1: "a key that is not text", 2: None},
        {"subclasses": [Text("text"), Pair((1, 2))]},
        {"float subclass": Number(1.5)},
        nested(300),  # deeper than orjson goes
    ],
    ids=["floats", "integers", "keys", "subclasses", "float-subclass", "nesting"],
)
def test_what_orjson_writes_differently_or_refuses_is_written_by_json_dumps(value: Any) -> None:
    assert data.to_json(value) == dumps(value)


def test_what_json_dumps_refuses_is_still_refused() -> None:
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular"):
        data.to_json(circular)
    with pytest.raises(TypeError, match="not JSON serializable"):
        data.to_json({"a date": date(2022, 12, 10)})  # orjson would write "2022-12-10"


def test_every_json_file_of_the_export_is_what_json_dumps_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus, links, _ = load(Options(content=FULL))
    assert corpus is not None and links is not None
    written: list[Any] = []
    write = data.to_json

    def recording(value: Any) -> bytes:
        written.append(value)
        return write(value)

    monkeypatch.setattr(plan, "to_json", recording)
    shop = plan.Workshop(corpus, links, TEMPLATES)
    files: dict[str, bytes] = {}
    for maker in plan.makers(corpus, links, TEMPLATES):
        if maker.name.startswith("data/"):
            files.update(maker.make(shop)[0])
    # (the graph is written a batch of edges at a time: `Exporter.graph_json`)
    assert len(written) == sum(path.endswith(".json") for path in files) - 1
    assert files[GRAPH] == dumps(shop.exporter.graph())
    assert any(b'"latitude": ' in files[path] for path in files)  # floats are among them
    for value in written:
        assert write(value) == dumps(value)


def _flats(value: Any) -> list[dict[str, Any]]:
    """Every `data._Flat` in a JSON value."""
    found = [value] if type(value) is data._Flat else []
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list | tuple):
        for child in children:
            found.extend(_flats(child))
    return found


def test_what_the_exporter_calls_flat_holds_nothing_to_look_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The JSON writer does not look inside the exporter's flat dicts (references, dates,
    edges): they hold text, bools and None only, which orjson writes as json.dumps does."""
    corpus, links, _ = load(Options(content=FULL))
    assert corpus is not None and links is not None
    written: list[Any] = []
    monkeypatch.setattr(plan, "to_json", lambda value: written.append(value) or b"")
    shop = plan.Workshop(corpus, links, TEMPLATES)
    for maker in plan.makers(corpus, links, TEMPLATES):
        if maker.name.startswith("data/"):
            maker.make(shop)
    flats = [flat for value in written for flat in _flats(value)]
    assert len(flats) > 100
    for flat in flats:
        assert all(type(v) in (str, bool, type(None)) for v in flat.values()), flat


def test_a_flat_dict_is_not_looked_into_and_is_written_as_a_dict() -> None:
    flat = data._Flat(id="a", name="é<")
    assert data.to_json([flat, {"b": flat}]) == dumps([{"id": "a", "name": "é<"}, {"b": flat}])
    # Trusted, not looked at: a float orjson writes differently would go unseen in one.
    assert data._orjson_agrees([data._Flat(x=1e-05)])
    assert not data._orjson_agrees([{"x": 1e-05}])
