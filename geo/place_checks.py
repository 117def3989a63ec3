"""Geometry checks of places brought in from a county's own GIS files: ring repair, gaps and
overlaps between neighbours, a child inside its parent. Pure shapely on metric polygons
(EPSG:4549), so every area is in square metres."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Repair:
    """The outcome of repairing one geometry: the polygonal result (None when rejected), whether
    it changed, and by what share of its area it changed."""

    geometry: BaseGeometry | None
    repaired: bool
    area_change: float
    reason: str = ""


@dataclass(frozen=True)
class Gap:
    """An uncovered piece inside a parent: its area in m² and a point inside it."""

    area_m2: float
    at: Point


@dataclass(frozen=True)
class Overlap:
    """Two neighbours (by index) that share an area of `area_m2` m²."""

    first: int
    second: int
    area_m2: float


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of a geometry (make_valid may add stray lines and points)."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    nested = [q for p in shapely.get_parts(geom) if isinstance(p, MultiPolygon)
              for q in p.geoms]
    polys = parts + nested
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def repair(geom: BaseGeometry, max_area_change: float) -> Repair:
    """A valid polygonal geometry for `geom`: as it is when valid, else `make_valid`'s polygons
    when they change the area by at most `max_area_change` (a share, e.g. 0.01), else None.

    The area of an invalid ring is the signed shoelace sum GEOS gives it, so a bow-tie, whose
    halves cancel, counts as a change of the whole area: it is rejected, not guessed at.
    """
    if geom.is_empty:
        return Repair(None, False, 1.0, "the geometry is empty")
    if not isinstance(geom, Polygon | MultiPolygon):
        return Repair(None, False, 1.0, f"a {geom.geom_type} is not a polygon")
    if geom.is_valid:
        return Repair(geom, False, 0.0)
    reason = shapely.is_valid_reason(geom)
    fixed = _polygonal(shapely.make_valid(geom))
    before, after = abs(geom.area), fixed.area
    change = abs(after - before) / max(before, after) if max(before, after) > 0 else 1.0
    if fixed.is_empty or change > max_area_change:
        return Repair(None, False, change, reason)
    return Repair(fixed, True, change, reason)


def overlaps(geoms: Sequence[BaseGeometry], min_area_m2: float) -> list[Overlap]:
    """Every pair of geometries sharing at least `min_area_m2` m², each pair once."""
    if len(geoms) < 2:
        return []
    tree = shapely.STRtree(list(geoms))
    left, right = tree.query(list(geoms), predicate="intersects")
    found: list[Overlap] = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < j:
            area = geoms[i].intersection(geoms[j]).area
            if area >= min_area_m2:
                found.append(Overlap(i, j, area))
    return found


def _pieces(geom: BaseGeometry, min_area_m2: float) -> list[Gap]:
    return [Gap(p.area, p.representative_point()) for p in shapely.get_parts(_polygonal(geom))
            if p.area >= min_area_m2]


def gaps(outline: BaseGeometry, parts: Sequence[BaseGeometry], min_area_m2: float) -> list[Gap]:
    """The pieces of `outline` that none of `parts` covers, each of at least `min_area_m2`."""
    covered = shapely.union_all(list(parts)) if parts else Polygon()
    return _pieces(outline.difference(covered), min_area_m2)


def holes(geoms: Sequence[BaseGeometry], min_area_m2: float) -> list[Gap]:
    """The holes enclosed by the union of `geoms`: gaps between neighbours with no parent."""
    union = _polygonal(shapely.union_all(list(geoms)))
    rings = [Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
    return [g for r in rings for g in _pieces(r.difference(union), min_area_m2)]


@dataclass(frozen=True)
class Outside:
    """How far a child sticks out of its parent: the farthest metres and the m² outside."""

    distance_m: float
    area_m2: float


def outside(child: BaseGeometry, parent: BaseGeometry) -> Outside:
    """How far `child` sticks out of `parent`: the greatest distance of a vertex of the part
    outside from the parent, and that part's area. Measured as a distance, so that rounding
    vertices along a long shared edge (a sliver of some m², a centimetre wide) is not taken for
    a child that crosses its border."""
    part = child.difference(parent)
    if part.is_empty:
        return Outside(0.0, 0.0)
    distances = shapely.distance(parent, shapely.points(shapely.get_coordinates(part)))
    return Outside(float(distances.max()), float(part.area))
