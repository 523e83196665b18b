"""The watched corpus and links (`deps.watch`): every lookup notes the key `deps.key` names."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.deps import key, watch
from generator.links import Links
from generator.model import Corpus
from generator.pipeline import Options, load

CONTENT = Path(__file__).resolve().parent.parent / "content"


def _watched(reads: set[str]) -> tuple[Corpus, Links, Corpus, Links, str, tuple[str, str]]:
    """The example content's corpus and links, and both watched into `reads`; a record's
    id, and a rendered field's key."""
    corpus, links, _ = load(Options(content=CONTENT))
    assert corpus is not None and links is not None
    watched, seen = watch(corpus, links, reads)
    return corpus, links, watched, seen, next(iter(corpus.records)), next(iter(links.html))


def test_every_kind_of_lookup_notes_its_key() -> None:
    reads: set[str] = set()
    corpus, links, watched, seen, record_id, field = _watched(reads)

    def noted(look: Callable[[], object]) -> set[str]:
        reads.clear()
        look()
        return set(reads)

    assert noted(lambda: watched[record_id]) == {key("r", record_id)}
    assert noted(lambda: record_id in watched) == {key("r", record_id)}
    assert noted(lambda: watched.records[record_id]) == {key("r", record_id)}
    assert noted(lambda: watched.records.get("nowhere")) == {key("r", "nowhere")}
    assert noted(lambda: "nowhere" in watched.records) == {key("r", "nowhere")}
    assert noted(lambda: seen.html[field]) == {key("h", *field)}
    assert noted(lambda: seen.html.get(("x", "summary"))) == {key("h", "x", "summary")}
    assert noted(lambda: field in seen.html) == {key("h", *field)}
    assert noted(lambda: seen.backlinks.get(record_id)) == {key("b", record_id)}
    assert noted(lambda: seen.story_members.get(record_id)) == {key("m", record_id)}
    assert noted(lambda: seen.publishers.get(record_id)) == {key("p", record_id)}
    assert noted(lambda: seen.outgoing(record_id)) == {key("o", record_id)}
    assert noted(lambda: seen.incoming(record_id)) == {key("i", record_id)}
    assert noted(lambda: list(watched.records)) == {"all"}
    assert noted(lambda: len(seen.backlinks)) == {"all"}
    assert noted(lambda: watched.of_kind("actors")) == {key("k", "actors")}
    # What the unwatched corpus has, the watched one gives.
    assert watched[record_id] is corpus[record_id]
    assert seen.html[field] is links.html[field]
    with pytest.raises(KeyError):
        watched["nowhere"]
    with pytest.raises(TypeError):  # a key that is not text names no key
        watched.records.get(1)


def test_a_lookup_notes_its_key_made_once_and_interned() -> None:
    """Each key is made once per watched mapping, interned: a lookup of the same entry again,
    by any way in, notes that very object (a trace's keys are then interned for nothing)."""
    reads: set[str] = set()
    _, _, watched, seen, record_id, field = _watched(reads)

    def noted(look: Callable[[], object]) -> str:
        reads.clear()
        look()
        (found,) = reads
        return found

    record_key = noted(lambda: watched[record_id])
    assert record_key == key("r", record_id) and record_key is sys.intern(record_key)
    for look in (
        lambda: record_id in watched,
        lambda: watched.records[record_id],
        lambda: watched.records.get(record_id),
        lambda: record_id in watched.records,
    ):
        assert noted(look) is record_key
    html_key = noted(lambda: seen.html.get(field))
    assert html_key == key("h", *field) and html_key is sys.intern(html_key)
    assert noted(lambda: seen.html[(field[0], field[1])]) is html_key
    assert noted(lambda: seen.plain(*field)) is html_key  # (its plain text reads its HTML)
    assert noted(lambda: seen.backlinks.get(record_id)) is sys.intern(key("b", record_id))


def test_the_map_key_is_where_every_mapped_record_is_now() -> None:
    """The fingerprint of "g" comes from the gazetteer kept for the workshops, when it is
    that of these records; else from a new one."""
    from test_maps import corpus, place

    from generator.deps import Fingerprints, digest
    from generator.links import Links
    from generator.maps import Gazetteer, gazetteer

    def fingerprint(world: object) -> str:
        return Fingerprints(world, Links((), {}, {}, {}, {}), {})("g")  # type: ignore[arg-type]

    def expected(world: object) -> str:
        places = Gazetteer(world).places  # type: ignore[arg-type]
        return digest(repr([(centre, record.id) for _, centre, record in places]))

    before = corpus(place("a", coordinates=(40.0, 45.0)), place("b", coordinates=(41.0, 45.0)))
    after = corpus(place("a", coordinates=(40.0, 45.0)), place("b", coordinates=(42.0, 45.0)))
    gazetteer(before)
    assert fingerprint(before) == expected(before)
    assert fingerprint(after) == expected(after) != expected(before)
