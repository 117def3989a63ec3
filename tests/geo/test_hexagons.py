"""H3 wrapper: cells of points, bbox coverings that miss no overlapping hexagon, rings."""

from __future__ import annotations

import random

import h3
import shapely
from shapely.geometry import box

from geo import hexagons
from geo.types import BBox

BOX = BBox(118.640, 34.905, 118.662, 34.921)


def test_cells_of_points_match_h3() -> None:
    rng = random.Random(1)
    lon = [rng.uniform(118.61, 118.70) for _ in range(200)]
    lat = [rng.uniform(34.88, 34.95) for _ in range(200)]
    nine, eight = hexagons.cells_of(lon, lat)
    for x, y, c9, c8 in zip(lon, lat, nine, eight, strict=True):
        assert hexagons.hex_id(c9) == h3.latlng_to_cell(y, x, 9)
        assert hexagons.hex_id(c8) == h3.latlng_to_cell(y, x, 8)
        assert c9 == hexagons.cell_of(x, y, 9)
        assert 0 < c9 < 2**63  # fits a signed bigint


def test_cover_holds_every_overlapping_hexagon_and_no_other() -> None:
    for res in hexagons.RESOLUTIONS:
        cells = hexagons.cover(BOX, res)
        assert cells == sorted(set(cells))
        target = box(*BOX.as_tuple())
        assert all(hexagons.outline(c).intersects(target) for c in cells)
        # Every hexagon within two rings of the covering that touches the box is in it.
        around = {int(h3.str_to_int(x)) for c in cells for x in h3.grid_disk(hexagons.hex_id(c), 2)}
        missing = [c for c in around - set(cells) if hexagons.outline(c).intersects(target)]
        assert missing == []
        rng = random.Random(res)
        for _ in range(500):
            x, y = rng.uniform(BOX.west, BOX.east), rng.uniform(BOX.south, BOX.north)
            assert hexagons.cell_of(x, y, res) in cells
        centre_cells = h3.polygon_to_cells(h3.LatLngPoly(
            [(BOX.south, BOX.west), (BOX.south, BOX.east), (BOX.north, BOX.east),
             (BOX.north, BOX.west)]), res)
        assert {int(h3.str_to_int(c)) for c in centre_cells} <= set(cells)


def test_cover_of_a_box_inside_one_hexagon() -> None:
    tiny = BBox(118.6570, 34.9180, 118.6571, 34.9181)
    assert hexagons.cover(tiny, 8) == [hexagons.cell_of(118.65705, 34.91805, 8)]
    point = BBox(118.657, 34.918, 118.657, 34.918)
    assert hexagons.cover(point, 9) == [hexagons.cell_of(118.657, 34.918, 9)]


def test_estimated_cover_size_is_a_close_lower_bound() -> None:
    county = BBox(118.60, 34.88, 118.71, 34.96)
    for res in hexagons.RESOLUTIONS:
        for b in (BOX, county):
            assert hexagons.estimated_cover_size(b, res) <= len(hexagons.cover(b, res))
        estimate, actual = hexagons.estimated_cover_size(county, res), len(hexagons.cover(county, res))
        assert estimate >= 0.5 * actual, (res, estimate, actual)


def test_neighbours_are_the_k1_ring_within_the_set() -> None:
    cells = hexagons.cover(BOX, 9)
    ring = hexagons.neighbours(cells)
    for c, near in ring.items():
        assert c not in near and len(near) <= 6
        assert all(c in ring[n] for n in near)
        assert all(h3.are_neighbor_cells(hexagons.hex_id(c), hexagons.hex_id(n)) for n in near)
    inner = [c for c in cells if hexagons.outline(c).within(box(*BOX.as_tuple()))]
    assert inner and all(len(ring[c]) == 6 for c in inner)


def test_outline_and_wkb() -> None:
    c = hexagons.cell_of(118.657, 34.918, 9)
    poly = hexagons.outline(c)
    assert len(poly.exterior.coords) == 7 and poly.contains(shapely.Point(118.657, 34.918))
    back = shapely.from_wkb(hexagons.outlines_wkb([c])[0])
    assert back.equals(poly)
