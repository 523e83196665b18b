"""Tests for generator.maps: distances, compass directions and the locator map's shapes."""

from __future__ import annotations

import math
import random
from datetime import UTC
from typing import Any

import pytest

from generator.diagnostics import Location
from generator.maps import (
    CHAR_WIDTH,
    HEIGHT,
    LABEL_HEIGHT,
    NEIGHBOURS,
    WIDTH,
    Gazetteer,
    MapView,
    direction,
    distance_km,
    locator_map,
)
from generator.model import Corpus, Record, Site

SITE = Site(title="Maps", tz=UTC)


def place(ident: str, name: str | None = None, kind: str = "places", **fields: Any) -> Record:
    return Record(kind, ident, name or ident, Location(f"content/{kind}/{ident}.yaml"), fields, {})


def corpus(*records: Record) -> Corpus:
    return Corpus(SITE, {r.id: r for r in records})


def href(record: Record) -> str:
    return f"../../{record.kind}/{record.id}/index.html"


# --- distance and direction ----------------------------------------------------------------


def test_distance_of_one_degree_of_latitude() -> None:
    assert distance_km((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111.19, abs=0.01)
    assert distance_km((40.0, 46.0), (40.0, 46.0)) == 0.0


def test_distance_is_symmetric_and_shrinks_east_west_with_latitude() -> None:
    a, b = (40.14, 46.61), (39.76, 46.75)  # Gyzylbulag and Shusha: about 44 km
    assert distance_km(a, b) == pytest.approx(distance_km(b, a))
    assert distance_km(a, b) == pytest.approx(43.8, abs=0.5)
    at_60 = distance_km((60.0, 0.0), (60.0, 1.0))
    assert at_60 == pytest.approx(111.19 * math.cos(math.radians(60)), rel=0.01)


def test_distance_across_the_antimeridian_and_between_antipodes() -> None:
    assert distance_km((0.0, 179.5), (0.0, -179.5)) == pytest.approx(111.19, abs=0.01)
    assert distance_km((0.0, 0.0), (0.0, 180.0)) == pytest.approx(math.pi * 6371.0)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ((1.0, 0.0), "north"),
        ((1.0, 1.0), "north-east"),
        ((0.0, 1.0), "east"),
        ((-1.0, 1.0), "south-east"),
        ((-1.0, 0.0), "south"),
        ((-1.0, -1.0), "south-west"),
        ((0.0, -1.0), "west"),
        ((1.0, -1.0), "north-west"),
        ((1.0, 0.2), "north"),  # 11 degrees off north rounds to north
    ],
)
def test_direction(target: tuple[float, float], expected: str) -> None:
    assert direction((0.0, 0.0), target) == expected


def test_gazetteer_finds_the_same_neighbours_as_sorting_every_record() -> None:
    rng = random.Random(3)
    records = [
        place(f"p{i:03}", coordinates=(rng.choice([40.0, 40.5]), rng.uniform(44.0, 48.0)))
        if i % 3
        else place(f"p{i:03}", coordinates=(rng.uniform(-80.0, 80.0), rng.uniform(-179.0, 179.0)))
        for i in range(150)
    ]
    records.append(place("road", path=[(40.0, 45.0), (40.5, 45.5)]))
    gazetteer = Gazetteer(corpus(*records))
    for record in records:
        centre = gazetteer.places[[r.id for _, _, r in gazetteer.places].index(record.id)][1]
        expected = sorted(
            (distance_km(centre, c), r.id) for _, c, r in gazetteer.places if r.id != record.id
        )[:NEIGHBOURS]
        assert [(d, r.id) for d, r in gazetteer.nearest(record, centre)] == expected


def _spread(layout: str, rng: random.Random, i: int) -> tuple[float, float]:
    if layout == "box":  # the benchmark's: every place in a 2-degree box
        return 40 + 2 * rng.random(), 45 + 2 * rng.random()
    if layout == "antimeridian":  # neighbours across the date line, in far columns
        return rng.uniform(-10, 10), rng.choice([-1, 1]) * rng.uniform(179.0, 180.0)
    if layout == "poles":  # a degree of longitude is short there
        return rng.choice([-1, 1]) * rng.uniform(88.0, 90.0), rng.uniform(-180.0, 180.0)
    if layout == "line":  # one latitude: cells are not worked out from an area
        return 40.0, 45 + i / 1000
    if layout == "twins":  # places at the same spot: ties broken by id
        return 40 + rng.randrange(3) / 10, 45 + rng.randrange(3) / 10
    return rng.uniform(-90, 90), rng.uniform(-180, 180)


@pytest.mark.parametrize("layout", ["box", "antimeridian", "poles", "line", "twins", "world"])
def test_the_grid_finds_the_same_neighbours_as_sorting_every_record(layout: str) -> None:
    rng = random.Random(layout)
    records = [place(f"p{i:04}", coordinates=_spread(layout, rng, i)) for i in range(700)]
    gazetteer = Gazetteer(corpus(*records))
    assert len(gazetteer.cells) > 1
    for record in records[::7]:
        centre = record.get("coordinates")
        expected = sorted(
            (distance_km(centre, c), r.id) for _, c, r in gazetteer.places if r.id != record.id
        )[:NEIGHBOURS]
        assert [(d, r.id) for d, r in gazetteer.nearest(record, centre)] == expected


# --- the locator map -----------------------------------------------------------------------


def test_no_map_without_coordinates_or_path() -> None:
    valley = place("valley")
    town = place("town", coordinates=(40.0, 46.0))
    assert locator_map(valley, Gazetteer(corpus(valley, town)), href) is None


def test_a_lone_point_is_drawn_in_the_middle() -> None:
    town = place("town", "Town", coordinates=(40.0, 46.0))
    view = locator_map(town, Gazetteer(corpus(town)), href)
    assert view is not None
    assert (view.width, view.height) == (WIDTH, HEIGHT)
    assert view.description == "Locator map of Town."
    assert view.lines == ()
    (point,) = view.points
    assert (point.x, point.y) == (WIDTH / 2, HEIGHT / 2)
    assert point.current and point.label == "Town" and point.href == href(town)
    assert view.scale_km >= 1 and view.scale_length > 0


def test_text_alternative_names_the_neighbours_nearest_first() -> None:
    mine = place("gyzylbulag", "Gyzylbulag", "deposits", coordinates=(40.14, 46.61))
    shusha = place("shusha", "Shusha", coordinates=(39.76, 46.75))
    khankendi = place("khankendi", "Khankendi", coordinates=(39.82, 46.75))
    lachin = place("lachin", "Lachin", coordinates=(39.64, 46.55))
    road = place("road", "Road", path=((39.64, 46.55), (39.76, 46.75)))
    nowhere = place("nowhere", "Nowhere")
    view = locator_map(
        mine, Gazetteer(corpus(mine, shusha, khankendi, lachin, road, nowhere)), href
    )
    assert view is not None
    assert view.description == (
        # Bearings 161, 164, 176 and 185 degrees: all nearer south than south-east.
        "Locator map of Gyzylbulag. Nearby: Khankendi, 38 km south; Shusha, 44 km south; "
        "Road, 49 km south; Lachin, 56 km south."
    )
    assert [p.label for p in view.points] == ["Gyzylbulag", "Khankendi", "Shusha", "Lachin"]
    assert [p.current for p in view.points] == [True, False, False, False]
    assert [(line.label, line.current) for line in view.lines] == [("Road", False)]
    assert view.points[0].href == "../../deposits/gyzylbulag/index.html"
    # North is up: the mine, furthest north, has the smallest y.
    assert view.points[0].y == min(p.y for p in view.points)


def test_every_shape_fits_in_the_frame_and_labels_stay_inside() -> None:
    records = [place(f"p{i}", f"P{i}", coordinates=(40 + i * 0.1, 46 + i * 0.2)) for i in range(5)]
    records.append(place("line", "Line", path=((39.5, 45.5), (40.8, 47.5), (40.0, 46.0))))
    view = locator_map(records[0], Gazetteer(corpus(*records)), href)
    assert view is not None
    for point in view.points:
        assert 0 <= point.x <= WIDTH and 0 <= point.y <= HEIGHT
    for line in view.lines:
        for pair in line.points.split():
            x, y = map(float, pair.split(","))
            assert 0 <= x <= WIDTH and 0 <= y <= HEIGHT
    for left, top, right, bottom in label_boxes(view):
        assert left >= 0 and top >= 0 and right <= WIDTH and bottom <= HEIGHT


def label_boxes(view: MapView) -> list[tuple[float, float, float, float]]:
    """Each label's box, estimated as the map module estimates it."""
    boxes = []
    labels = [(p.label, p.label_x, p.label_y, p.label_anchor) for p in view.points]
    labels += [(line.label, line.label_x, line.label_y, line.label_anchor) for line in view.lines]
    for text, x, y, anchor in labels:
        width = CHAR_WIDTH * len(text)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        boxes.append((left, y - LABEL_HEIGHT + 3, left + width, y + 3))
    return boxes


def test_labels_of_close_neighbours_do_not_overlap_each_other_or_the_pins() -> None:
    # Khankendi and Shusha are 7 km apart: side by side, their labels would collide.
    mine = place("gyzylbulag", "Gyzylbulag", "deposits", coordinates=(40.14, 46.61))
    khankendi = place("khankendi", "Khankendi", coordinates=(39.82, 46.75))
    shusha = place("shusha", "Shusha", coordinates=(39.76, 46.75))
    stepanakert = place("stepanakert", "Stepanakert", coordinates=(39.815, 46.752))
    view = locator_map(mine, Gazetteer(corpus(mine, khankendi, shusha, stepanakert)), href)
    assert view is not None
    boxes = label_boxes(view)
    pins = [(p.x - 7, p.y - 7, p.x + 7, p.y + 7) for p in view.points]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :] + pins:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_roads_are_labelled_and_the_legend_names_the_symbols_shown() -> None:
    mine = place("mine", "Mine", "deposits", coordinates=(40.0, 46.0))
    other = place("other-mine", "Other mine", "deposits", coordinates=(40.05, 46.05))
    road = place("road", "Road", path=((39.9, 45.9), (40.1, 46.1)))
    view = locator_map(mine, Gazetteer(corpus(mine, other, road)), href)
    assert view is not None
    (line,) = view.lines
    assert (line.label, line.href) == ("Road", href(road))
    assert [(item.symbol, item.label) for item in view.legend] == [
        ("current", "Mine (this deposit)"),
        ("deposit", "Deposit"),
        ("line", "Road, corridor or border"),
    ]
    own_road = locator_map(road, Gazetteer(corpus(mine, road)), href)
    assert own_road is not None
    assert [item.symbol for item in own_road.legend] == ["current-line", "deposit"]


def test_at_most_the_nearest_neighbours_are_shown() -> None:
    records = [place(f"p{i:02d}", coordinates=(40 + i * 0.01, 46.0)) for i in range(12)]
    view = locator_map(records[0], Gazetteer(corpus(*records)), href)
    assert view is not None
    assert [p.label for p in view.points] == [f"p{i:02d}" for i in range(NEIGHBOURS + 1)]


def test_a_path_is_its_own_current_line() -> None:
    road = place("road", "Road", path=((39.64, 46.55), (39.70, 46.66), (39.82, 46.75)))
    town = place("town", "Town", coordinates=(39.76, 46.75))
    view = locator_map(road, Gazetteer(corpus(road, town)), href)
    assert view is not None
    (line,) = view.lines
    assert line.current and line.label == "Road" and len(line.points.split()) == 3
    assert view.description.startswith("Locator map of Road. Nearby: Town, ")


@pytest.mark.parametrize("spread", [0.001, 0.05, 0.5, 5.0])
def test_the_scale_bar_is_a_round_number_of_kilometres(spread: float) -> None:
    a = place("a", coordinates=(40.0, 46.0))
    b = place("b", coordinates=(40.0 + spread, 46.0 + spread))
    view = locator_map(a, Gazetteer(corpus(a, b)), href)
    assert view is not None
    mantissa = view.scale_km / 10 ** math.floor(math.log10(view.scale_km))
    assert mantissa in (1, 2, 5)
    assert 0 < view.scale_length <= WIDTH


# --- the gazetteer kept for the process ----------------------------------------------------


def test_the_last_gazetteer_is_given_while_every_mapped_record_is_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kept while only unmapped records changed; made again, the same as one made afresh,
    when a mapped record is another object, or one is added, removed or unmapped."""
    from generator import maps

    monkeypatch.setattr(maps, "_last", None)
    town, mine = place("town", coordinates=(40.0, 46.0)), place("mine", coordinates=(40.1, 46.2))
    road = place("road", path=[(40.0, 45.0), (40.5, 45.5)])
    actor, story = place("actor", kind="actors"), place("story", kind="stories")
    records = [actor, mine, road, story, town]
    first = maps.gazetteer(corpus(*records))
    assert [r for _, _, r in first.places] == [r for _, _, r in Gazetteer(corpus(*records)).places]
    calm = [place("actor", "Renamed", kind="actors"), mine, road, place("story"), town]
    assert maps.gazetteer(corpus(*calm)) is first
    for changed in (
        [actor, place("mine", "Renamed", coordinates=(40.1, 46.2)), road, story, town],
        [actor, mine, road, story, place("town", coordinates=(41.0, 46.0))],
        [actor, mine, road, place("story", coordinates=(39.0, 44.0)), town],
        [actor, mine, place("road"), story, town],
        [actor, mine, road, story],
        [actor, mine, road, story, town, place("zz", coordinates=(10.0, 10.0))],
    ):
        made = maps.gazetteer(corpus(*changed))
        assert made is not first, changed
        fresh = Gazetteer(corpus(*changed))
        assert [(lat, centre, r) for lat, centre, r in made.places] == fresh.places
        assert [r.name for _, _, r in made.places] == [r.name for _, _, r in fresh.places]
        assert made.latitudes == fresh.latitudes
        first = maps.gazetteer(corpus(*records))  # back as it was, for the next change


# --- the gazetteer worked out when first asked ------------------------------------------------


def test_a_gazetteer_works_its_places_out_when_asked_and_shares_them_with_its_views() -> None:
    """Made, it has worked nothing out; its neighbours (or its places) are those of a
    gazetteer that worked everything out at once; a view of it (as the dependency record
    watches it) works them out once for both."""
    from generator.deps import WatchedGazetteer

    town, mine = place("town", coordinates=(40.0, 46.0)), place("mine", coordinates=(40.1, 46.2))
    road = place("road", path=[(40.0, 45.0), (40.5, 45.5)])
    world = corpus(town, mine, road, place("actor", kind="actors"))
    lazy = Gazetteer(world)
    assert not lazy.worked_out
    reads: set[str] = set()
    view = WatchedGazetteer(lazy, reads)
    assert [r.id for _, r in view.nearest(town, (40.0, 46.0))] == ["mine", "road"]
    assert lazy.worked_out and "g" in reads
    assert lazy.places is view.places and lazy.cells is view.cells
    eager = Gazetteer(world)
    assert [(lat, centre, r.id) for lat, centre, r in eager.places] == [
        (lat, centre, r.id) for lat, centre, r in lazy.places
    ]
    assert (eager.cell, eager.rows, eager.columns, eager.least_cos) == (
        lazy.cell,
        lazy.rows,
        lazy.columns,
        lazy.least_cos,
    )
    with pytest.raises(AttributeError):
        lazy.no_such_attribute  # noqa: B018


def test_a_kept_gazetteer_not_yet_worked_out_works_out_the_corpus_it_was_last_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kept for a corpus whose mapped records are those of the last (see `gazetteer`), and
    not worked out yet, it works out the new corpus's places, and holds the old corpus no
    longer."""
    from generator import maps

    monkeypatch.setattr(maps, "_last", None)
    town = place("town", coordinates=(40.0, 46.0))
    first = maps.gazetteer(corpus(place("actor", kind="actors"), town))
    renamed = place("actor", "Renamed", kind="actors")
    later = corpus(renamed, town)
    assert maps.gazetteer(later) is first and not first.worked_out
    assert first._pending.corpus is later
    assert [r for _, _, r in first.places] == [town]
    assert first._pending.corpus is None
