"""Point-in-land tests for the console map's outline (services/console/coastline.py writes it): the
tests check the committed file against the sample network with them; the console itself never asks.
"""

from __future__ import annotations

import itertools

from services.console.coastline import Point, Ring


def contains(ring: Ring, point: Point) -> bool:
    """Even-odd rule: is the point inside the closed ring?"""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (x2 - x1) * (y - y1) / (y2 - y1):
            inside = not inside
    return inside


def on_land(land: dict, point: Point) -> bool:
    """Is the point on land in a GeoJSON of (Multi)Polygons (inside an outer ring, outside its holes)?"""
    for feature in land["features"]:
        geometry = feature["geometry"]
        polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        for rings in polys:
            outer, *holes = [[tuple(p) for p in ring] for ring in rings]
            if contains(outer, point) and not any(contains(hole, point) for hole in holes):
                return True
    return False
