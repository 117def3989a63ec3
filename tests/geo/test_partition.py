from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPoint, Polygon
from shapely.geometry.polygon import orient

from geo.partition import partition_households, split_convex

Ring = list[tuple[float, float]]


def random_convex(seed: int, radius: float = 500.0) -> Ring:
    rng = np.random.default_rng(seed)
    hull = orient(MultiPoint(rng.uniform(-radius, radius, (60, 2))).convex_hull, 1.0)
    return [(float(x), float(y)) for x, y in hull.exterior.coords[:-1]]


def points_inside(ring: Ring, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    poly = Polygon(ring)
    x0, y0, x1, y1 = poly.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform((x0, y0), (x1, y1), (2 * n, 2))
        out = np.vstack((out, cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]))
    return out[:n]


def assert_valid_partition(ring: Ring, pts: np.ndarray, cells: list[tuple[Ring, int]]) -> None:
    whole = Polygon(ring)
    polys = [Polygon(cell) for cell, _ in cells]
    counts = [count for _, count in cells]
    assert all(300 <= c <= 500 for c in counts), counts
    assert sum(counts) == len(pts)
    assert all(p.is_valid and p.area > 0 for p in polys)
    union = shapely.union_all(polys)
    assert abs(union.area - whole.area) < 1e-6
    assert union.symmetric_difference(whole).area < 1e-6
    assert abs(sum(p.area for p in polys) - whole.area) < 1e-6
    for a, b in itertools.combinations(polys, 2):
        assert a.intersection(b).area < 1e-9
    for poly, count in zip(polys, counts, strict=True):
        assert int(shapely.contains_xy(poly, pts[:, 0], pts[:, 1]).sum()) == count


@pytest.mark.parametrize(("seed", "n"), [(1, 3000), (2, 4321), (3, 5000), (4, 650)])
def test_partition_random_convex_polygon(seed: int, n: int) -> None:
    ring = random_convex(seed)
    pts = points_inside(ring, n, seed + 100)
    cells = partition_households(ring, pts)
    assert_valid_partition(ring, pts, cells)
    expected_k = min(max(round(n / 400), -(-n // 500)), n // 300)
    assert len(cells) == expected_k


def test_partition_keeps_buildings_whole() -> None:
    # Real households are geocoded to buildings, so many share one coordinate.
    ring = random_convex(5)
    rng = np.random.default_rng(5)
    buildings = points_inside(ring, 120, 6)
    sizes = rng.integers(10, 50, len(buildings))
    pts = np.repeat(buildings, sizes, axis=0)
    cells = partition_households(ring, pts)
    assert_valid_partition(ring, pts, cells)
    polys = [Polygon(cell) for cell, _ in cells]
    owners = np.array([[p.contains(shapely.Point(b)) for p in polys] for b in buildings])
    assert (owners.sum(axis=1) == 1).all()


def test_partition_with_shared_x_coordinates() -> None:
    # Households on a handful of north-south lines: x cuts must dodge the ties.
    ring = [(0.0, 0.0), (1000.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0)]
    rng = np.random.default_rng(8)
    pts = np.column_stack(
        (rng.choice([100.0, 350.0, 600.0, 850.0], 2400), rng.uniform(1, 999, 2400))
    )
    cells = partition_households(ring, pts)
    assert_valid_partition(ring, pts, cells)


def test_partition_is_deterministic_and_orientation_independent() -> None:
    ring = random_convex(9)
    pts = points_inside(ring, 2000, 10)
    first = partition_households(ring, pts)
    assert partition_households(ring, pts.copy()) == first
    clockwise = partition_households(ring[::-1], pts)
    assert [c for _, c in clockwise] == [c for _, c in first]
    for (a, _), (b, _) in zip(clockwise, first, strict=True):
        assert Polygon(a).equals(Polygon(b))


def test_partition_single_cell() -> None:
    ring = random_convex(11)
    pts = points_inside(ring, 450, 12)
    [(cell, count)] = partition_households(ring, pts)
    assert count == 450
    assert Polygon(cell).equals(Polygon(ring))


@pytest.mark.parametrize("n", [0, 299, 520])
def test_partition_rejects_impossible_counts(n: int) -> None:
    ring = random_convex(13)
    with pytest.raises(ValueError):
        partition_households(ring, points_inside(ring, n, 14) if n else np.empty((0, 2)))


def test_partition_rejects_inseparable_households() -> None:
    ring = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    with pytest.raises(ValueError, match="same location"):
        partition_households(ring, np.full((1000, 2), 5.0))


def test_partition_rejects_bad_polygons_and_points() -> None:
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
    pts = points_inside(square, 400, 15)
    notch = [(0.0, 0.0), (100.0, 0.0), (50.0, 20.0), (100.0, 100.0), (0.0, 100.0)]
    star = [(np.cos(a) * 100, np.sin(a) * 100) for a in np.arange(5) * 4 * np.pi / 5]
    for bad in (notch, star, square[:2], [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]):
        with pytest.raises(ValueError):
            partition_households(bad, pts)
    with pytest.raises(ValueError, match="inside"):
        partition_households(square, np.vstack((pts[:-1], [[150.0, 50.0]])))
    with pytest.raises(ValueError):
        partition_households(square, np.vstack((pts[:-1], [[np.nan, 50.0]])))
    with pytest.raises(ValueError):
        partition_households(square, pts, min_households=500, max_households=300)


def test_split_convex_halves_share_identical_vertices() -> None:
    ring = random_convex(16)
    for axis, value in [(0, 12.345678901), (1, -3.0 / 7.0)]:
        lower, upper = split_convex(ring, axis, value)
        on_cut = [v for v in lower if v[axis] == value]
        assert len(on_cut) == 2
        # Bitwise-identical: the very same tuples appear in both halves.
        assert set(on_cut) == {v for v in upper if v[axis] == value}
        assert all(v[axis] < value for v in lower if v not in on_cut)
        assert all(v[axis] > value for v in upper if v not in on_cut)
        a, b, whole = Polygon(lower), Polygon(upper), Polygon(ring)
        assert a.is_valid and b.is_valid
        assert a.intersection(b).area == 0.0
        assert abs(a.area + b.area - whole.area) < 1e-6
        assert shapely.union_all([a, b]).symmetric_difference(whole).area < 1e-6
        # Counter-clockwise orientation survives the split.
        assert a.exterior.is_ccw and b.exterior.is_ccw


def test_split_convex_through_vertices_and_outside() -> None:
    diamond = [(1.0, 0.0), (2.0, 1.0), (1.0, 2.0), (0.0, 1.0)]
    lower, upper = split_convex(diamond, 0, 1.0)
    assert lower == [(1.0, 0.0), (1.0, 2.0), (0.0, 1.0)]
    assert upper == [(1.0, 0.0), (2.0, 1.0), (1.0, 2.0)]
    assert split_convex(diamond, 1, 0.0) == ([], diamond)
    assert split_convex(diamond, 1, 5.0) == (diamond, [])
    assert split_convex(diamond, 0, 2.0) == (diamond, [])
    with pytest.raises(ValueError):
        split_convex(diamond, 2, 1.0)
