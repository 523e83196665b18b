"""The model's values survive pickling (to and from workers, into the build cache) unchanged."""

from __future__ import annotations

import gc
import io
import pickle
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import cast

import pytest

from generator import cache, model
from generator.dates import PartialDate, parse_date
from generator.diagnostics import Location
from generator.model import Alias, Citation, Record, Ref, Text, renewed
from generator.workers import run_all

HERE = Location("content/actors/a.yaml", 1, 1)


def _record(**changes: object) -> Record:
    source = Ref("tass", HERE.at(7, 5))
    values: dict[str, object] = {
        "kind": "actors",
        "id": "a",
        "name": "A",
        "location": HERE,
        "fields": {
            "name": "A",
            "born": parse_date("~1970-05"),
            "aliases": (Alias("Ay", "az"),),
            "summary": Text("See [[b]].", HERE.at(3, 10), "name: A\nsummary: See [[b]].\n"),
            "sources": (Citation(source, "words", "p. 2", PartialDate(2020, 1, 2)),),
            "roles": ({"org": Ref("org", HERE.at(9, 9)), "from": PartialDate(2001)},),
        },
        "field_locations": {"name": HERE.at(2, 1), "summary": HERE.at(3, 1)},
        "body": Text("Body\n", Location("content/stories/s/index.md", 5, 1)),
        "assets": (Path("content/stories/s/map.png"),),
    }
    values.update(changes)
    return Record(**values)  # type: ignore[arg-type]


def _roundtrip(value: object) -> object:
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def test_a_pickled_record_is_equal_in_every_part() -> None:
    record = _record()
    copy = _roundtrip(record)
    assert isinstance(copy, Record)
    assert copy == record
    assert repr(copy) == repr(record)
    assert copy.fingerprint == record.fingerprint
    assert type(copy.field_locations) is dict
    assert list(copy.field_locations) == ["name", "summary"]
    assert copy.where("summary") == Location("content/actors/a.yaml", 3, 1)
    assert isinstance(copy.location, Location)
    summary = copy.get("summary")
    assert isinstance(summary, Text)
    assert summary.origin == "name: A\nsummary: See [[b]].\n"
    assert copy.get("born").precision == record.get("born").precision


def test_worked_out_digests_are_pickled_and_others_are_not() -> None:
    record = _record()
    assert "fingerprint" not in vars(_roundtrip(record))
    record.fingerprint  # noqa: B018  (works it out, and keeps it)
    assert record.body is not None
    record.body.digest  # noqa: B018
    copy = _roundtrip(record)
    assert isinstance(copy, Record) and copy.body is not None
    assert vars(copy)["fingerprint"] == record.fingerprint
    assert vars(copy.body)["digest"] == record.body.digest


def _cached_roundtrip(value: object) -> object:
    """Pickled as the build cache's base pickles it (see `cache.reducers`)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = cache.reducers()
    pickler.dump(value)
    return pickle.loads(buffer.getvalue())


def test_a_record_is_packed_in_the_build_cache_but_not_to_and_from_workers() -> None:
    record = _record()
    assert "fields" in vars(_roundtrip(record))
    copy = _cached_roundtrip(record)
    assert "_packed" in vars(copy) and "fields" not in vars(copy)
    # Still packed, it crosses to a worker as it is.
    assert "_packed" in vars(_roundtrip(copy)) and _roundtrip(copy) == record


def test_an_unpickled_record_unpacks_its_fields_only_when_asked() -> None:
    story = _record(kind="stories", id="s", fields={"title": "S", "draft": True})
    facts = [_record(), _record(id="b", fields={"name": "B"})]
    copies = cast(list[Record], _cached_roundtrip([story, *facts]))
    # What every build asks of every record is known without unpacking.
    assert [(c.draft, c.sourced) for c in copies] == [(True, False), (False, True), (False, False)]
    assert [(r.draft, r.sourced) for r in (story, *facts)] == [
        (True, False),
        (False, True),
        (False, False),
    ]
    assert all("fields" not in vars(c) and "_packed" in vars(c) for c in copies)
    both = [_record(id=i, fields={"name": "A", "type": "".join(["per", "son"])}) for i in "ab"]
    typed = cast(list[Record], _cached_roundtrip(both))
    assert (typed[0].type, copies[1].type) == ("person", None) and "fields" not in vars(typed[0])
    assert typed[0].type is typed[1].type  # (one str, however many records)
    assert typed[0].get("type") == "person" and typed[0].type == "person"
    assert copies[1].body is not None and "fields" not in vars(copies[1])
    # Unread, a record pickles again as the very bytes it was given.
    again = cast(list[Record], _cached_roundtrip(copies))
    assert [vars(a)["_packed"] for a in again] == [vars(c)["_packed"] for c in copies]
    # Asked, it unpacks (once), and is the record it was.
    assert again[1].get("summary") == facts[0].get("summary")
    assert "_packed" not in vars(again[1]) and again[1] == facts[0]
    assert again[1].field_locations == facts[0].field_locations
    assert again[1].get("summary").origin == facts[0].get("summary").origin
    assert again[0] == story and again[2] == facts[1] and repr(again[2]) == repr(facts[1])
    # Unpacked, it packs afresh (asked for its bytes, as a delta of the cache may, too).
    assert _cached_roundtrip(again[1]) == facts[0]
    assert vars(_cached_roundtrip(again[1]))["_packed"] == again[1]._packed  # type: ignore[attr-defined]


def test_a_packed_record_unpacks_alike_in_one_frame_or_in_its_pickler_s_frames() -> None:
    # A record's packed bytes are read in one frame (see `model._unpack`); a record so large
    # that its pickler framed them (past 64 KiB) is read as framed.
    texts = {f"n{i}": Text("word " * 2000 + str(i), HERE.at(3 + i, 10), "") for i in range(14)}
    for fields in ({"name": "A", "summary": "short"}, {"name": "A", **texts}):
        record = _record(fields=fields, field_locations={"name": HERE.at(2, 1)})
        copy = cast(Record, _cached_roundtrip(record))
        packed = vars(copy)["_packed"]
        assert (len(packed) > 64 * 1024) is (len(fields) > 2)
        assert pickle.FRAME in packed if len(fields) > 2 else True
        assert copy.fields == record.fields and "_packed" not in vars(copy)
        assert copy.field_locations == record.field_locations
        assert [copy.get(name).origin for name in texts if name in fields] == [
            texts[name].origin for name in texts if name in fields
        ]


def test_a_story_s_front_matter_texts_refer_to_its_body_once_unpacked() -> None:
    body = Text("The body.\n", Location("content/stories/s.md", 4, 1))
    front = "---\ntitle: S\nsummary: Short.\n---\n"
    summary = Text("Short.", Location("content/stories/s.md", 3, 10), front + body.value)
    story = _record(kind="stories", id="s", fields={"title": "S", "summary": summary}, body=body)
    copy = cast(Record, _cached_roundtrip(story))
    assert copy.body is not None and copy.body.value == body.value
    assert "fields" not in vars(copy)  # (the body is not packed)
    text = copy.get("summary")
    assert vars(text)["_body"] is copy.body and text.origin == front + body.value


def test_field_locations_in_another_file_are_kept_as_they_are() -> None:
    elsewhere = {"name": Location("content/actors/b.yaml", 4, 2), "summary": HERE.at(3, 1)}
    copy = _roundtrip(_record(field_locations=elsewhere))
    assert isinstance(copy, Record)
    assert copy.field_locations == elsewhere


def test_a_story_s_front_matter_texts_are_pickled_without_the_whole_file() -> None:
    head = "---\ntitle: S\nsummary: See [[b]].\ndek: And [[c]].\n---\n"
    body = "Body with [[d]].\n" * 200
    where = Location("content/stories/s.md", 6, 1)
    file = head + body  # one str, as parse gives every text of a file
    summary = Text("See [[b]].", where.at(3, 10), file)
    dek = Text("And [[c]].", where.at(4, 6), file)
    record = _record(
        kind="stories", fields={"summary": summary, "dek": dek}, body=Text(body, where)
    )
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(data) < len(body) * 1.5  # the body once, not once more for each text's file
    copy = pickle.loads(data)
    assert isinstance(copy, Record) and copy.body is not None
    texts = [copy.get("summary"), copy.get("dek")]
    assert all("origin" not in vars(t) for t in texts)
    assert vars(texts[0])["_head"] is vars(texts[1])["_head"] == head
    assert vars(texts[0])["_body"] is copy.body
    # Pickled again before being asked, then asked: the whole file, as it was.
    again = pickle.loads(pickle.dumps(copy, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(again, Record) and again == record and repr(again) == repr(record)
    assert [t.origin for t in texts] == [file] * 2
    assert copy == record and _roundtrip(copy) == record


def test_a_text_whose_file_is_not_its_story_s_keeps_its_origin_when_pickled() -> None:
    record = _record(kind="stories")  # its summary's file does not end with the body
    copy = _roundtrip(record)
    assert isinstance(copy, Record)
    assert vars(copy.get("summary"))["origin"] == "name: A\nsummary: See [[b]].\n"
    assert copy.body is not None and copy.body.origin is None


def test_a_pickled_date_is_equal_and_still_immutable() -> None:
    date = parse_date("~2022-12-10T14:30+04:00")
    copy = _roundtrip(date)
    assert copy == date and hash(copy) == hash(date)
    assert isinstance(copy, PartialDate) and copy.offset_minutes == 240 and copy.approximate
    try:
        copy.year = 1  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a PartialDate must stay frozen")


def test_records_come_back_from_workers_equal() -> None:
    records = [_record(id=f"a{n}") for n in range(3)]
    assert run_all([lambda r=r: r for r in records], 2) == records


def test_run_all_leaves_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    run_all([lambda n=n: n for n in range(3)], 2)
    assert gc.isenabled()
    gc.disable()
    try:
        run_all([lambda n=n: n for n in range(3)], 2)
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_an_unpickled_record_and_reference_make_their_locations_when_first_asked() -> None:
    record = _record()
    copy = _roundtrip(record)
    assert isinstance(copy, Record)
    assert "field_locations" not in vars(copy) and "location" not in vars(copy)
    summary = copy.get("summary")
    assert isinstance(summary, Text) and "location" not in vars(summary)
    assert copy.body is not None and "location" not in vars(copy.body)
    source = copy.get("sources")[0].source
    assert isinstance(source, Ref) and not hasattr(source, "__dict__")  # slots, no Location
    # Pickled again before being asked: the same as the original, once asked.
    again = _roundtrip(copy)
    assert isinstance(again, Record) and again == record and repr(again) == repr(record)
    assert copy.field_locations == record.field_locations
    assert copy.field_locations is copy.field_locations  # made once, then kept
    assert copy.location == record.location and copy.location is copy.location
    assert summary.location == HERE.at(3, 10) and summary.location is vars(summary)["location"]
    assert copy.body.location == Location("content/stories/s/index.md", 5, 1)
    assert source.location == Location("content/actors/a.yaml", 7, 5)
    assert source == Ref("tass", HERE.at(7, 5)) and hash(source) == hash(Ref("tass", HERE.at(7, 5)))
    assert not hasattr(copy, "no_such_attribute") and not hasattr(source, "field_locations")


def _one_by_one(before: dict[str, Record], now: dict[str, Record]) -> list[tuple[str, Record]]:
    return [(i, r) for i, r in now.items() if before.get(i) is not r]


def test_renewed_lists_the_records_that_are_not_the_very_objects_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {i: _record(id=i) for i in "abcdef"}
    same = dict(before)
    edited = {**before, "c": _record(id="c"), "e": _record(id="e")}
    grown = {**before, "g": _record(id="g")}
    moved = dict(reversed(before.items()))
    shrunk = {i: r for i, r in before.items() if i != "b"}
    cases = [same, edited, grown, moved, shrunk]
    for now in cases:
        assert renewed(before, now) == _one_by_one(before, now)
    assert renewed(before, edited) == [("c", edited["c"]), ("e", edited["e"])]
    assert renewed(before, same) == []
    # More records changed than the comparison in C answers for: one by one, the same.
    monkeypatch.setattr(model, "_MOST_CHANGED", 1)
    model._compared.clear()
    assert renewed(before, edited) == _one_by_one(before, edited)


def test_a_reference_compares_hashes_and_shows_as_the_dataclass_it_was() -> None:
    ref = Ref("tass", HERE.at(7, 5))
    assert ref.id == "tass" and ref.location == HERE.at(7, 5)
    assert ref == Ref("tass", HERE.at(7, 5)) and hash(ref) == hash(("tass", HERE.at(7, 5)))
    assert ref != Ref("tass", HERE.at(7, 6)) and ref != Ref("ria", HERE.at(7, 5))
    assert ref != ("tass", HERE.path, 7, 5)
    shown = "Ref(id='tass', location=Location(path='content/actors/a.yaml', line=7, column=5))"
    assert repr(ref) == shown
    for attribute in ("id", "location", "other"):
        with pytest.raises(FrozenInstanceError):
            setattr(ref, attribute, "x")
    with pytest.raises(FrozenInstanceError):
        del ref.id
    copy = _roundtrip(ref)
    assert copy == ref and repr(copy) == shown and not hasattr(copy, "__dict__")


def test_citations_and_dates_keep_no_dict_and_stay_frozen_when_unpickled() -> None:
    citation = Citation(Ref("tass", HERE.at(7, 5)), "words", None, PartialDate(2020, 1))
    copy = _roundtrip(citation)
    assert isinstance(copy, Citation)
    assert copy == citation and repr(copy) == repr(citation) and hash(copy) == hash(citation)
    assert not hasattr(copy, "__dict__") and not hasattr(copy.accessed, "__dict__")
    with pytest.raises(FrozenInstanceError):
        copy.quote = "other"  # type: ignore[misc]


def test_ids_paths_and_field_names_are_one_str_each_once_unpickled() -> None:
    # Equal strs made apart (as by parse workers), in two records, one referring to the other.
    def fresh(text: str) -> str:
        return "".join(list(text))

    path = "content/actors/a.yaml"
    a = _record(id=fresh("tass"), location=Location(fresh(path), 1, 1))
    b = _record(
        id="b",
        location=Location(fresh(path), 1, 1),
        fields={"name": "B", "owner": Ref(fresh("tass"), Location(fresh(path), 4, 2))},
        field_locations={fresh("name"): Location(path, 2, 1), fresh("owner"): HERE.at(4, 1)},
    )
    assert a.id is not b.get("owner").id and a.location.path is not b.location.path
    copy_a, copy_b = cast(list[Record], _roundtrip([a, b]))
    assert copy_a == a and copy_b == b and repr(copy_b) == repr(b)
    ref = copy_b.get("owner")
    assert ref.id is copy_a.id is sys.intern("tass")
    assert ref.location.path is copy_a.location.path is copy_b.location.path
    names_a, names_b = list(copy_a.field_locations), list(copy_b.field_locations)
    assert names_b[0] is names_a[0] == "name"


def test_a_slots_maker_makes_the_object_without_its_checks_and_is_pickled_by_name() -> None:
    from generator.restore import slots_maker

    # (valid values, as the build cache holds them: __post_init__ is not run again)
    made = model._citation(Ref("tass", HERE.at(7, 5)), None, "p. 2", PartialDate(2020, 1))
    assert made == Citation(Ref("tass", HERE.at(7, 5)), None, "p. 2", PartialDate(2020, 1))
    assert not hasattr(made, "__dict__")
    assert b"_citation" in pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL)
    unchecked = slots_maker(PartialDate, "unchecked")(2020, 13, None, None, None, None, None, False)
    assert unchecked.month == 13
    with pytest.raises(FrozenInstanceError):
        made.page = "p. 3"  # type: ignore[misc]
