"""Land outline for the console's station map, cut from Natural Earth's 1:10m land polygons.

The console draws stations over a plain grid unless it has land to draw under them. This module turns
the TopoJSON redistribution of Natural Earth's land (npm `world-atlas`, `land-10m.json`; Natural Earth is
public domain) into a small GeoJSON of the land inside the network's box, which the console serves as a
static file. Run it again for another registry (`--registry`):

    npm install world-atlas@2.0.2
    python -m services.console.coastline node_modules/world-atlas/land-10m.json

Pure functions (decode, clip, simplify) and a thin command around them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from schemas.registry import load_registry

Point = tuple[float, float]  # (longitude, latitude) in degrees
Ring = list[Point]
BBox = tuple[float, float, float, float]  # west, south, east, north

OUTPUT = Path(__file__).with_name("static") / "land.geojson"
MARGIN_DEG = 1.5  # around the stations: the map pads its view, and labels go east
DECIMALS = 3  # ~100 m, finer than the source's ~300 m quantisation


def decode_arcs(topology: dict) -> list[list[Point]]:
    """Absolute coordinates of every arc (TopoJSON stores quantised deltas)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(arc_ids: Sequence[int], arcs: list[list[Point]]) -> Ring:
    ring: Ring = []
    for index in arc_ids:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points if not ring else points[1:])  # arcs share their end points
    return ring


def polygons(topology: dict, name: str = "land") -> list[list[Ring]]:
    """The object's polygons as lists of rings (outer first), whatever its geometry nesting."""
    arcs = decode_arcs(topology)
    out: list[list[Ring]] = []

    def visit(geometry: dict) -> None:
        kind = geometry["type"]
        if kind == "GeometryCollection":
            for child in geometry["geometries"]:
                visit(child)
        elif kind == "Polygon":
            out.append([_ring(ids, arcs) for ids in geometry["arcs"]])
        elif kind == "MultiPolygon":
            out.extend([_ring(ids, arcs) for ids in polygon] for polygon in geometry["arcs"])

    visit(topology["objects"][name])
    return out


def clip_ring(ring: Ring, box: BBox) -> Ring:
    """The part of a closed ring inside the box (Sutherland–Hodgman: one box edge at a time)."""
    west, south, east, north = box
    edges = (
        (lambda p: p[0] >= west, lambda a, b: _at_x(a, b, west)),
        (lambda p: p[0] <= east, lambda a, b: _at_x(a, b, east)),
        (lambda p: p[1] >= south, lambda a, b: _at_y(a, b, south)),
        (lambda p: p[1] <= north, lambda a, b: _at_y(a, b, north)),
    )
    points = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
    for inside, cross in edges:
        if not points:
            break
        kept: Ring = []
        previous = points[-1]
        for point in points:
            if inside(point):
                if not inside(previous):
                    kept.append(cross(previous, point))
                kept.append(point)
            elif inside(previous):
                kept.append(cross(previous, point))
            previous = point
        points = kept
    return points + points[:1] if len(points) >= 3 else []


def _at_x(a: Point, b: Point, x: float) -> Point:
    return (x, a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0]))


def _at_y(a: Point, b: Point, y: float) -> Point:
    return (a[0] + (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]), y)


def rounded(ring: Ring, decimals: int = DECIMALS) -> Ring:
    """Coordinates rounded, consecutive repeats dropped (rounding merges neighbours)."""
    out: Ring = []
    for lon, lat in ring:
        point = (round(lon, decimals), round(lat, decimals))
        if not out or out[-1] != point:
            out.append(point)
    return out if len(out) >= 4 else []


def network_box(points: Iterable[Point], margin_deg: float = MARGIN_DEG) -> BBox:
    lons, lats = zip(*points, strict=True)
    return (min(lons) - margin_deg, min(lats) - margin_deg, max(lons) + margin_deg, max(lats) + margin_deg)


def land_in_box(topology: dict, box: BBox) -> dict:
    """A GeoJSON FeatureCollection with one MultiPolygon: the land clipped to the box."""
    kept = []
    for rings in polygons(topology):
        outer = rounded(clip_ring(rings[0], box))
        if not outer:
            continue
        holes = [hole for hole in (rounded(clip_ring(r, box)) for r in rings[1:]) if hole]
        kept.append([outer, *holes])
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "source": "Natural Earth 1:10m land (public domain), via npm world-atlas 2.0.2"
                },
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[list(map(list, r)) for r in p] for p in kept],
                },
            }
        ],
        "bbox": list(box),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas land-10m.json")
    parser.add_argument("--registry", help="station registry (default: the sample network)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    registry = load_registry(args.registry) if args.registry else load_registry()
    box = network_box((s.longitude, s.latitude) for s in registry.stations.values())
    land = land_in_box(json.loads(args.topojson.read_text()), box)
    args.output.write_text(json.dumps(land, separators=(",", ":")) + "\n")
    rings = sum(len(p) for p in land["features"][0]["geometry"]["coordinates"])
    print(f"{args.output}: {rings} rings, {args.output.stat().st_size:,} bytes, box {box}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
