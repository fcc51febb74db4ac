"""The console map's land outline: TopoJSON decoding and clipping, and the committed file against the
sample network (buoys at sea, tide gauges on the coast)."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from schemas.registry import load_registry
from services.console.coastline import (
    OUTPUT,
    clip_ring,
    land_in_box,
    network_box,
    polygons,
)
from tests.support.geometry import contains, on_land

# Two unit squares sharing an edge, quantised at 0.5 degrees from (100, 30): arc 0 is the shared edge.
TOPOLOGY = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.5], "translate": [100.0, 30.0]},
    "objects": {
        "land": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "arcs": [[0, 1]]},
                {"type": "MultiPolygon", "arcs": [[[~0, 2]]]},
            ],
        }
    },
    "arcs": [
        [[2, 0], [0, 2]],  # (101, 30) -> (101, 31)
        [[2, 2], [-2, 0], [0, -2], [2, 0]],  # (101, 31) -> (100, 31) -> (100, 30) -> (101, 30)
        [[2, 0], [2, 0], [0, 2], [-2, 0]],  # (101, 30) -> (102, 30) -> (102, 31) -> (101, 31)
    ],
}


def test_topojson_arcs_are_joined_into_closed_rings() -> None:
    left, right = polygons(TOPOLOGY)
    assert left == [[(101.0, 30.0), (101.0, 31.0), (100.0, 31.0), (100.0, 30.0), (101.0, 30.0)]]
    # The shared edge is walked backwards by the right-hand square (~0).
    assert right == [[(101.0, 31.0), (101.0, 30.0), (102.0, 30.0), (102.0, 31.0), (101.0, 31.0)]]


def test_a_ring_is_clipped_to_the_box() -> None:
    square = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]
    clipped = clip_ring(square, (2.0, 1.0, 10.0, 3.0))
    assert clipped[0] == clipped[-1]
    assert {(round(x, 9), round(y, 9)) for x, y in clipped} == {
        (2.0, 1.0),
        (4.0, 1.0),
        (4.0, 3.0),
        (2.0, 3.0),
    }
    assert clip_ring(square, (5.0, 5.0, 6.0, 6.0)) == []  # wholly outside
    assert clip_ring(square, (-1.0, -1.0, 5.0, 5.0)) == square  # wholly inside


def test_even_odd_containment_with_a_hole() -> None:
    outer = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]
    hole = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0)]
    land = {"features": [{"geometry": {"type": "Polygon", "coordinates": [outer, hole]}}]}
    assert contains(outer, (2.0, 2.0)) and not contains(outer, (5.0, 2.0))
    assert on_land(land, (0.5, 0.5)) and not on_land(land, (2.0, 2.0))


def test_land_in_box_keeps_what_overlaps() -> None:
    land = land_in_box(TOPOLOGY, (101.5, 29.0, 103.0, 32.0))
    (feature,) = land["features"]
    assert len(feature["geometry"]["coordinates"]) == 1  # only the right square reaches the box
    assert on_land(land, (101.75, 30.5)) and not on_land(land, (101.25, 30.5))


# -- the committed file ---------------------------------------------------------------------------

REGISTRY = load_registry()
LAND = json.loads(OUTPUT.read_text())
RINGS = [ring for polygon in LAND["features"][0]["geometry"]["coordinates"] for ring in polygon]


def coast_distance_km(lon: float, lat: float) -> float:
    k = math.cos(math.radians(lat))
    best = math.inf
    for ring in RINGS:
        for (x1, y1), (x2, y2) in itertools.pairwise(ring):
            ax, ay, bx, by = (x1 - lon) * k, y1 - lat, (x2 - lon) * k, y2 - lat
            dx, dy = bx - ax, by - ay
            t = max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy or 1.0)))
            best = min(best, math.hypot(ax + t * dx, ay + t * dy) * 111.2)
    return best


def test_the_land_file_covers_the_network() -> None:
    west, south, east, north = LAND["bbox"]
    assert LAND["bbox"] == list(network_box((s.longitude, s.latitude) for s in REGISTRY.stations.values()))
    for station in REGISTRY.stations.values():
        assert west < station.longitude < east and south < station.latitude < north, station.id


@pytest.mark.parametrize(
    "station", [s for s in REGISTRY.stations.values() if s.kind == "buoy"], ids=lambda s: s.id
)
def test_buoys_are_at_sea(station) -> None:
    assert not on_land(LAND, (station.longitude, station.latitude))


@pytest.mark.parametrize(
    "station", [s for s in REGISTRY.stations.values() if s.kind == "tide_gauge"], ids=lambda s: s.id
)
def test_tide_gauges_are_on_the_coast(station) -> None:
    assert coast_distance_km(station.longitude, station.latitude) < 6.0  # Yingkou is 5 km up the Liao
