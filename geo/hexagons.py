"""H3 hexagons: cells of points, bbox coverings, neighbourhoods and outlines.

Cells travel as Python ints (what the database stores as bigint) and are shown to callers as
H3's 15-digit hex strings. Only the stable h3 v4 API is used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import h3.api.basic_int as h3
import shapely
from shapely.geometry import Polygon, box

from geo.types import BBox

RESOLUTIONS = (8, 9)
# Average hexagon areas (km²) from H3's published table, to refuse oversized boxes before
# enumerating their cells.
_AREA_KM2 = {8: 0.7373276, 9: 0.1053325}
_KM_PER_DEG_LAT = 111.32


def cell_of(lon: float, lat: float, res: int) -> int:
    """The H3 cell of a WGS-84 point at resolution `res`."""
    return int(h3.latlng_to_cell(lat, lon, res))


def cells_of(lon: Sequence[float], lat: Sequence[float]) -> tuple[list[int], list[int]]:
    """Resolution-9 and resolution-8 cells of many points.

    Both are looked up from the point: H3 children do not nest exactly in their parent, so a
    point's resolution-8 cell is not always its resolution-9 cell's parent.
    """
    pairs = list(zip(lon, lat, strict=True))
    return ([int(h3.latlng_to_cell(y, x, 9)) for x, y in pairs],
            [int(h3.latlng_to_cell(y, x, 8)) for x, y in pairs])


def hex_id(cell: int) -> str:
    return str(h3.int_to_str(cell))


def estimated_cover_size(bbox: BBox, res: int) -> int:
    """A lower bound of how many cells cover `bbox` (the box's area over the mean cell
    area), cheap enough to refuse a huge box before enumerating its cells."""
    mid = math.radians((bbox.south + bbox.north) / 2)
    height = (bbox.north - bbox.south) * _KM_PER_DEG_LAT
    width = (bbox.east - bbox.west) * _KM_PER_DEG_LAT * math.cos(mid)
    return math.ceil(width * height / _AREA_KM2[res])


def outline(cell: int) -> Polygon:
    """The cell's hexagon in lon/lat order."""
    return Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def cover(bbox: BBox, res: int) -> list[int]:
    """Every cell at `res` whose hexagon overlaps `bbox`, sorted.

    polygon_to_cells keeps only cells whose centre lies in the box, so the cells along the
    box's outline and their rings are added and tested against the box itself.
    """
    w, s, e, n = bbox.as_tuple()
    poly = h3.LatLngPoly([(s, w), (s, e), (n, e), (n, w)])
    found = {int(c) for c in h3.polygon_to_cells(poly, res)} if w < e and s < n else set()
    # Half an edge length apart, the outline visits every hexagon it crosses.
    step_deg = h3.average_hexagon_edge_length(res, "km") / 2 / _KM_PER_DEG_LAT
    edge_points = _outline_points(bbox, step_deg)
    rim = {int(h3.latlng_to_cell(lat, lon, res)) for lon, lat in edge_points}
    candidates = set(rim)
    for c in rim:
        candidates.update(int(x) for x in h3.grid_disk(c, 1))
    target = box(w, s, e, n)
    found.update(c for c in candidates - found if outline(c).intersects(target))
    return sorted(found)


def _outline_points(bbox: BBox, step_deg: float) -> list[tuple[float, float]]:
    w, s, e, n = bbox.as_tuple()
    nx = max(1, math.ceil((e - w) / step_deg))
    ny = max(1, math.ceil((n - s) / step_deg))
    xs = [w + (e - w) * i / nx for i in range(nx + 1)]
    ys = [s + (n - s) * j / ny for j in range(ny + 1)]
    return ([(x, s) for x in xs] + [(x, n) for x in xs]
            + [(w, y) for y in ys] + [(e, y) for y in ys])


def neighbours(cells: Iterable[int]) -> dict[int, set[int]]:
    """Each cell's k-ring-1 neighbours among `cells` (itself excluded)."""
    present = set(cells)
    return {c: {int(x) for x in h3.grid_disk(c, 1) if x != c and x in present} for c in present}


def outlines_wkb(cells: Sequence[int]) -> list[bytes]:
    """The hexagons as WKB (SRID-less), for handing a covering to PostGIS."""
    return [bytes(b) for b in shapely.to_wkb([outline(c) for c in cells])]
