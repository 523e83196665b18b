"""Locator maps without tiles: a record's coordinates and its neighbours', as SVG-ready shapes.

Input: a record with `coordinates` or `path`, and a Gazetteer of the Corpus (every shaped
record once, sorted by latitude, so that finding neighbours is not a scan of the corpus per
map). Output: a `MapView` in a fixed
viewBox (equirectangular, scaled by latitude), with a scale bar, a north arrow, labels placed
so that they do not overlap, a legend of the symbols (shapes, not colours, tell the kinds
apart) and a text alternative that names every point with its distance and direction.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import Corpus, Record, moved
from .schema import SINGULAR

WIDTH, HEIGHT, MARGIN = 360, 250, 34  # drawn about this size in the infobox: text stays legible
NEIGHBOURS = 6
EARTH_KM = 6371.0
# Label boxes are estimated from the text: 13 px system sans is about 7 px a character.
CHAR_WIDTH, LABEL_HEIGHT, PIN_RADIUS = 7.0, 14.0, 7.0
# Room kept free for the north arrow (top right) and the scale bar (bottom left).
_RESERVED = ((WIDTH - 44.0, 0.0, WIDTH, 60.0), (0.0, HEIGHT - 40.0, 150.0, HEIGHT))
_COMPASS = [
    *("north", "north-east", "east", "south-east"),
    *("south", "south-west", "west", "north-west"),
]


@dataclass(frozen=True)
class MapPoint:
    x: float
    y: float
    label: str
    href: str
    current: bool
    label_anchor: str  # 'start', 'middle' or 'end'
    kind: str  # the record's kind, which picks the symbol: 'deposits' a diamond, else a circle
    label_x: float = 0.0
    label_y: float = 0.0


@dataclass(frozen=True)
class MapLine:
    points: str  # for <polyline points="...">
    label: str
    href: str
    current: bool
    label_x: float = 0.0
    label_y: float = 0.0
    label_anchor: str = "start"


@dataclass(frozen=True)
class LegendItem:
    symbol: str  # 'current', 'current-line', 'deposit', 'place' or 'line': drawn by the template
    label: str


@dataclass(frozen=True)
class MapView:
    width: int
    height: int
    points: tuple[MapPoint, ...]
    lines: tuple[MapLine, ...]
    scale_km: int
    scale_length: float
    description: str
    legend: tuple[LegendItem, ...] = ()


def _shape(record: Record) -> list[tuple[float, float]]:
    if record.get("coordinates") is not None:
        return [record.get("coordinates")]
    return list(record.get("path", ()))


def is_mapped(record: Record) -> bool:
    """Whether the record has a place on the map (its coordinates or path)."""
    return bool(_shape(record))


def _centre(points: list[tuple[float, float]]) -> tuple[float, float]:
    return (
        sum(p[0] for p in points) / len(points),
        sum(p[1] for p in points) / len(points),
    )


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def direction(a: tuple[float, float], b: tuple[float, float]) -> str:
    """The compass direction from a to b."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    bearing = (math.degrees(math.atan2(y, x)) + 360) % 360
    return _COMPASS[round(bearing / 45) % 8]


class Gazetteer:
    """Every record with a shape, its centre, sorted by latitude, and in a grid of cells of
    latitude and longitude: nearest neighbours without a walk through most of them.

    Worked out when first asked (its places, or a record's neighbours), not when made: a
    new process's build after one story is edited makes a workshop, hence a gazetteer, and
    as a rule renders no map (shaping every record: 0.4 s at 10,000 stories). A view of it
    (see `deps.WatchedGazetteer`, which copies its attributes) shares the work.
    """

    # (worked out when first asked: see `_work_out`)
    places: list[tuple[float, tuple[float, float], Record]]
    latitudes: list[float]
    radians: list[tuple[float, float, float]]
    cell: float
    cells: dict[tuple[int, int], list[int]]
    rows: tuple[int, int]
    columns: tuple[int, int]
    least_cos: float

    def __init__(self, corpus: Corpus) -> None:
        self._pending = _Pending(corpus)

    def __getattr__(self, name: str) -> Any:  # (only for an attribute not yet set)
        pending = self.__dict__.get("_pending")
        if pending is None or name not in _WORKED_OUT:
            raise AttributeError(name)
        if pending.fields is None:
            pending.fields = _work_out(pending.corpus)
            pending.corpus = None  # (not held longer than needed: serve keeps gazetteers)
        self.__dict__.update(pending.fields)
        return pending.fields[name]

    @property
    def worked_out(self) -> bool:
        """Whether its places are worked out (here or in a view of it)."""
        return self._pending.fields is not None

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return _grid_cell(lat, lon, self.cell)

    def nearest(self, record: Record, centre: tuple[float, float]) -> list[tuple[float, Record]]:
        """The NEIGHBOURS records closest to centre, by (distance, id), record left out.

        Looks through the cells in rings around the centre's cell. After each ring, every
        place not looked at is outside its latitudes or outside its longitudes; a
        great-circle distance is never shorter than the arc of the latitude difference, nor
        than the shortest the longitude difference can be at the places' latitudes, so the
        search stops once both exceed the farthest of the best found (the same result as
        sorting every shaped record).
        """
        best: list[tuple[float, str, Record]] = []
        places, radians, cells, size = self.places, self.radians, self.cells, self.cell
        lat1, lon1, cos1 = _radians(centre)
        sin, asin, sqrt = math.sin, math.asin, math.sqrt
        row, column = self._cell(centre[0], centre[1])
        # Rings past which no cell holds a place.
        last = max(
            row - self.rows[0],
            self.rows[1] - row,
            column - self.columns[0],
            self.columns[1] - column,
        )
        # (slack for rounding in the bounds, as in the distance worked out)
        shrink = 1 - 1e-9
        across = cos1 * self.least_cos
        ring = 0
        while ring <= last:
            for key in _ring(row, column, ring):
                for index in cells.get(key, ()):
                    other = places[index][2]
                    if other.id == record.id:
                        continue
                    # distance_km(centre, other's centre), step by step as it works it out
                    lat2, lon2, cos2 = radians[index]
                    h = sin((lat2 - lat1) / 2) ** 2 + cos1 * cos2 * sin((lon2 - lon1) / 2) ** 2
                    found = (2 * EARTH_KM * asin(min(1.0, sqrt(h))), other.id, other)
                    if len(best) < NEIGHBOURS or found < best[-1]:
                        bisect.insort(best, found)
                        del best[NEIGHBOURS:]
            if len(best) == NEIGHBOURS:
                # The degrees from the centre to the edges of the rings looked through.
                gap_lat = min(centre[0] - (row - ring) * size, (row + ring + 1) * size - centre[0])
                west, east = (column - ring) * size, (column + ring + 1) * size
                by_lat = EARTH_KM * math.radians(gap_lat)
                by_lon = 0.0
                if west >= -180 and east <= 180:  # (past the antimeridian, a place in
                    # a far column may be a near one)
                    half = min(
                        math.radians(min(centre[1] - west, east - centre[1])) / 2, math.pi / 2
                    )
                    by_lon = 2 * EARTH_KM * asin(min(1.0, sqrt(across) * sin(half)))
                if min(by_lat, by_lon) * shrink > best[-1][0]:
                    break
            ring += 1
        return [(d, r) for d, _, r in best]


def _ring(row: int, column: int, ring: int) -> list[tuple[int, int]]:
    """The cells `ring` rows or columns away from (row, column), at most."""
    if ring == 0:
        return [(row, column)]
    top, bottom, left, right = row - ring, row + ring, column - ring, column + ring
    cells = [(top, c) for c in range(left, right + 1)]
    cells += [(bottom, c) for c in range(left, right + 1)]
    cells += [(r, left) for r in range(top + 1, bottom)]
    cells += [(r, right) for r in range(top + 1, bottom)]
    return cells


def _radians(point: tuple[float, float]) -> tuple[float, float, float]:
    lat, lon = math.radians(point[0]), math.radians(point[1])
    return lat, lon, math.cos(lat)


class _Pending:
    """A gazetteer's corpus until its places are worked out, then what was worked out:
    shared by the gazetteer and its views."""

    __slots__ = ("corpus", "fields")

    def __init__(self, corpus: Corpus) -> None:
        self.corpus: Corpus | None = corpus
        self.fields: dict[str, Any] | None = None


def _grid_cell(lat: float, lon: float, cell: float) -> tuple[int, int]:
    """The (row, column) of the square cell of `cell` degrees that holds the point."""
    return math.floor(lat / cell), math.floor(lon / cell)


def _work_out(corpus: Corpus | None) -> dict[str, Any]:
    """A gazetteer's attributes: its places and their grid."""
    assert corpus is not None
    shaped = [(r, _shape(r)) for r in corpus]
    places = sorted(
        ((_centre(shape)[0], _centre(shape), r) for r, shape in shaped if shape),
        key=lambda item: (item[0], item[2].id),
    )
    latitudes = [lat for lat, _, _ in places]
    # Each centre in radians with the cosine of its latitude: what `distance_km` works out
    # of it, worked out once.
    radians = [_radians(centre) for _, centre, _ in places]
    # Square cells of `cell` degrees, about two places in each (fewer if they lie along a
    # line), by (row, column).
    count = max(len(places), 1)
    lats = latitudes or [0.0]
    lons = [centre[1] for _, centre, _ in places] or [0.0]
    spans = max(lats) - min(lats), max(lons) - min(lons)
    cell = max(math.sqrt(2 * spans[0] * spans[1] / count), 2 * max(spans) / count, 1e-6)
    cells: dict[tuple[int, int], list[int]] = {}
    for index, (lat, centre, _) in enumerate(places):
        cells.setdefault(_grid_cell(lat, centre[1], cell), []).append(index)
    rows, columns = [r for r, _ in cells] or [0], [c for _, c in cells] or [0]
    return {
        "places": places,
        "latitudes": latitudes,
        "radians": radians,
        "cell": cell,
        "cells": cells,
        "rows": (min(rows), max(rows)),
        "columns": (min(columns), max(columns)),
        # The least cosine of a latitude among the places: how short a degree of longitude
        # can be between the centre of a map and a place.
        "least_cos": min((cos for _, _, cos in radians), default=1.0),
    }


_WORKED_OUT = frozenset(Gazetteer.__annotations__)


def gazetteer(corpus: Corpus) -> Gazetteer:
    """The Gazetteer of the corpus: the last one made here while every mapped record is the
    very object it was then (serve's rebuild after a story is saved: shaping every record
    again costs more than the page that changed).

    Records are compared position by position in `corpus.records`: where every other
    record is the same object, the mapped ones are exactly those of then, so the
    gazetteer's places (mapped records only) are the same too.
    """
    global _last
    records = list(corpus.records.values())
    if _last is not None and len(_last[0]) == len(records):
        then = _last[0]
        if not any(is_mapped(then[i]) or is_mapped(records[i]) for i in moved(then, records)):
            _last = records, _last[1]
            pending = _last[1]._pending
            if pending.fields is None:  # (the same mapped records: not the last corpus held)
                pending.corpus = corpus
            return _last[1]
    _last = records, Gazetteer(corpus)
    return _last[1]


# The records (in the corpus's order) and the gazetteer of the last call to `gazetteer`.
_last: tuple[list[Record], Gazetteer] | None = None


def locator_map(
    record: Record, gazetteer: Gazetteer, href: Callable[[Record], str]
) -> MapView | None:
    own = _shape(record)
    if not own:
        return None
    centre = _centre(own)
    others = gazetteer.nearest(record, centre)
    shown = [(record, own), *((r, _shape(r)) for _, r in others)]
    every = [p for _, shape in shown for p in shape]
    lat_min, lat_max = min(p[0] for p in every), max(p[0] for p in every)
    lon_min, lon_max = min(p[1] for p in every), max(p[1] for p in every)
    squash = math.cos(math.radians((lat_min + lat_max) / 2))
    span_x = max((lon_max - lon_min) * squash, 0.02)
    span_y = max(lat_max - lat_min, 0.02)
    scale = min((WIDTH - 2 * MARGIN) / span_x, (HEIGHT - 2 * MARGIN) / span_y)
    mid_lat, mid_lon = (lat_min + lat_max) / 2, (lon_min + lon_max) / 2

    def project(p: tuple[float, float]) -> tuple[float, float]:
        x = WIDTH / 2 + (p[1] - mid_lon) * squash * scale
        y = HEIGHT / 2 - (p[0] - mid_lat) * scale
        return round(x, 1), round(y, 1)

    points, lines = [], []
    # Pins are placed first, so that no label covers a pin; then labels, the record's own
    # first, each at the first free spot around its pin or along its line.
    taken: list[_Box] = [*_RESERVED]
    for _, shape in shown:
        if len(shape) == 1:
            x, y = project(shape[0])
            taken.append((x - PIN_RADIUS, y - PIN_RADIUS, x + PIN_RADIUS, y + PIN_RADIUS))
    for other, shape in shown:
        current = other.id == record.id
        if len(shape) == 1:
            x, y = project(shape[0])
            lx, ly, anchor = _place_label(other.name, _around_pin(x, y), taken)
            points.append(
                MapPoint(x, y, other.name, href(other), current, anchor, other.kind, lx, ly)
            )
        else:
            projected = [project(p) for p in shape]
            coords = " ".join(f"{x},{y}" for x, y in projected)
            lx, ly, anchor = _place_label(other.name, _along_line(projected), taken)
            lines.append(MapLine(coords, other.name, href(other), current, lx, ly, anchor))
    km_per_unit = 111.32 / scale  # a degree of latitude is about 111 km
    scale_km = _nice(km_per_unit * (WIDTH / 4))
    description = f"Locator map of {record.name}."
    if others:
        nearby = "; ".join(
            f"{r.name}, {d:.0f} km {direction(centre, _centre(_shape(r)))}" for d, r in others
        )
        description += f" Nearby: {nearby}."
    return MapView(
        WIDTH,
        HEIGHT,
        tuple(points),
        tuple(lines),
        scale_km,
        round(scale_km / km_per_unit, 1),
        description,
        _legend(record, points, lines),
    )


_Box = tuple[float, float, float, float]  # left, top, right, bottom
_Spot = tuple[float, float, str]  # x, y of the text's baseline, and its anchor


def _around_pin(x: float, y: float) -> list[_Spot]:
    """Right, left, above and below the pin, in that order of preference."""
    gap = PIN_RADIUS + 6  # clear of the ring drawn round the record's own pin
    return [
        (x + gap, y + 4, "start"),
        (x - gap, y + 4, "end"),
        (x, y - gap, "middle"),
        (x, y + gap + LABEL_HEIGHT - 4, "middle"),
    ]


def _along_line(points: list[tuple[float, float]]) -> list[_Spot]:
    """Beside each vertex and segment middle of a line, its middle first."""
    spots: list[tuple[float, float]] = list(points)
    spots += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(points)]
    middle = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
    spots.sort(key=lambda p: (math.dist(p, middle), p))
    return [spot for x, y in spots for spot in _around_pin(x, y)]


def _box(text: str, spot: _Spot) -> _Box:
    x, y, anchor = spot
    width = CHAR_WIDTH * len(text)
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return (left, y - LABEL_HEIGHT + 3, left + width, y + 3)


def _overlaps(a: _Box, b: _Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_label(text: str, spots: list[_Spot], taken: list[_Box]) -> _Spot:
    """The first spot whose box is inside the frame and free; else the first inside."""
    boxed = [(spot, _box(text, spot)) for spot in spots]  # each box worked out once
    inside = [
        (spot, box)
        for spot, box in boxed
        if box[0] >= 2 and box[1] >= 2 and box[2] <= WIDTH - 2 and box[3] <= HEIGHT - 2
    ] or boxed
    chosen, box = next(
        ((spot, box) for spot, box in inside if not any(_overlaps(box, t) for t in taken)),
        inside[0],
    )
    taken.append(box)
    x, y, anchor = chosen
    return round(x, 1), round(y, 1), anchor


def _legend(record: Record, points: list[MapPoint], lines: list[MapLine]) -> tuple[LegendItem, ...]:
    own = "current-line" if record.get("coordinates") is None else "current"
    items = [LegendItem(own, f"{record.name} (this {SINGULAR[record.kind]})")]
    if any(p.kind == "deposits" and not p.current for p in points):
        items.append(LegendItem("deposit", "Deposit"))
    if any(p.kind != "deposits" and not p.current for p in points):
        items.append(LegendItem("place", "Place"))
    if any(not line.current for line in lines):
        items.append(LegendItem("line", "Road, corridor or border"))
    return tuple(items)


def _nice(km: float) -> int:
    """The largest 1, 2 or 5 times a power of ten not above `km` (at least 1 km)."""
    if km < 1:
        return 1
    power = 10 ** math.floor(math.log10(km))
    for step in (5, 2, 1):
        if step * power <= km:
            return int(step * power)
    return int(power)
