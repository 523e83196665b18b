"""Locator maps without tiles: a record's coordinates and its neighbours', as SVG-ready shapes.

Input: a record with `coordinates` or `path`, and the Corpus. Output: a `MapView` in a fixed
viewBox (equirectangular, scaled by latitude), with a scale bar, a north arrow and a text
alternative that names every point with its distance and direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .model import Corpus, Record

WIDTH, HEIGHT, MARGIN = 480, 300, 40
NEIGHBOURS = 6
EARTH_KM = 6371.0
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
    label_anchor: str  # 'start' or 'end', so labels stay inside the frame


@dataclass(frozen=True)
class MapLine:
    points: str  # for <polyline points="...">
    label: str
    href: str
    current: bool


@dataclass(frozen=True)
class MapView:
    width: int
    height: int
    points: tuple[MapPoint, ...]
    lines: tuple[MapLine, ...]
    scale_km: int
    scale_length: float
    description: str


def _shape(record: Record) -> list[tuple[float, float]]:
    if record.get("coordinates") is not None:
        return [record.get("coordinates")]
    return list(record.get("path", ()))


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


def locator_map(record: Record, corpus: Corpus, href: Callable[[Record], str]) -> MapView | None:
    own = _shape(record)
    if not own:
        return None
    centre = _centre(own)
    others = sorted(
        (
            (distance_km(centre, _centre(_shape(r))), r)
            for r in corpus
            if r.id != record.id and _shape(r)
        ),
        key=lambda pair: (pair[0], pair[1].id),
    )[:NEIGHBOURS]
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
    for other, shape in shown:
        current = other.id == record.id
        if len(shape) == 1:
            x, y = project(shape[0])
            anchor = "end" if x > WIDTH * 0.66 else "start"
            points.append(MapPoint(x, y, other.name, href(other), current, anchor))
        else:
            coords = " ".join(f"{x},{y}" for x, y in map(project, shape))
            lines.append(MapLine(coords, other.name, href(other), current))
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
    )


def _nice(km: float) -> int:
    """The largest 1, 2 or 5 times a power of ten not above `km` (at least 1 km)."""
    if km < 1:
        return 1
    power = 10 ** math.floor(math.log10(km))
    for step in (5, 2, 1):
        if step * power <= km:
            return int(step * power)
    return int(power)
