"""Property tests of `geo/` with Hypothesis: datum round trips, the household partition,
H3 containment, code formats and value types, over generated inputs rather than chosen ones.

Runs are derandomised (a fixed seed per test), so the suite stays deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from geo import codes, datum, hexagons, partition, projection
from geo.types import BBox, Crs, GeoInputError, LonLat

PROPERTIES = settings(derandomize=True, max_examples=200, deadline=None)
# Mainland China, where the GCJ-02 and BD-09 shifts apply; Linshu County inside it.
CHINA_LON = st.floats(min_value=73.7, max_value=134.9, allow_nan=False)
CHINA_LAT = st.floats(min_value=18.2, max_value=53.5, allow_nan=False)
COUNTY_LON = st.floats(min_value=118.55, max_value=118.75, allow_nan=False)
COUNTY_LAT = st.floats(min_value=34.85, max_value=34.99, allow_nan=False)
SHIFTED = (Crs.GCJ02, Crs.BD09)


@PROPERTIES
@given(CHINA_LON, CHINA_LAT, st.sampled_from(SHIFTED))
def test_a_shifted_point_comes_back_to_where_it_was(lon: float, lat: float, crs: Crs) -> None:
    shifted = datum.from_wgs84(lon, lat, crs)
    back = datum.to_wgs84(*shifted, crs)
    assert abs(back[0] - lon) < 1e-8 and abs(back[1] - lat) < 1e-8
    # The shift itself is real and bounded: a few hundred metres, never kilometres away.
    moved = projection.geodesic_distance_m(lon, lat, *shifted)
    assert 1.0 < moved < 1_500.0


@PROPERTIES
@given(st.lists(st.tuples(COUNTY_LON, COUNTY_LAT), min_size=1, max_size=30),
       st.sampled_from(SHIFTED))
def test_the_array_shift_equals_the_point_shift(points: list[tuple[float, float]],
                                                 crs: Crs) -> None:
    arrays = datum.from_wgs84_array(np.array(points), crs)
    for (lon, lat), (x, y) in zip(points, arrays, strict=True):
        px, py = datum.from_wgs84(lon, lat, crs)
        assert abs(px - x) < 1e-12 and abs(py - y) < 1e-12
    back = datum.to_wgs84_array(arrays, crs)
    assert np.abs(back - np.array(points)).max() < 1e-8


@PROPERTIES
@given(st.floats(min_value=-180, max_value=180, allow_nan=False),
       st.floats(min_value=-90, max_value=90, allow_nan=False))
def test_outside_china_gcj02_leaves_a_point_where_it_is(lon: float, lat: float) -> None:
    if datum.out_of_china(lon, lat):
        assert datum.wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert datum.gcj02_to_wgs84(lon, lat) == (lon, lat)


@PROPERTIES
@given(COUNTY_LON, COUNTY_LAT)
def test_metric_projection_round_trips_to_a_millimetre(lon: float, lat: float) -> None:
    x, y = projection.to_metric(lon, lat)
    back = projection.from_metric(x, y)
    assert projection.geodesic_distance_m(lon, lat, *back) < 0.001


@PROPERTIES
@given(COUNTY_LON, COUNTY_LAT, st.sampled_from((8, 9)))
def test_a_point_lies_in_the_outline_of_its_h3_cell(lon: float, lat: float, res: int) -> None:
    cell = hexagons.cell_of(lon, lat, res)
    assert hexagons.outline(cell).buffer(1e-9).contains(Point(lon, lat))


@PROPERTIES
@given(st.floats(min_value=118.60, max_value=118.70, allow_nan=False),
       st.floats(min_value=34.88, max_value=34.95, allow_nan=False),
       st.floats(min_value=0.001, max_value=0.02), st.floats(min_value=0.001, max_value=0.02),
       st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=10))
def test_the_h3_cover_of_a_box_holds_every_point_of_it(west: float, south: float, width: float,
                                                         height: float,
                                                         inside: list[tuple[float, float]]
                                                         ) -> None:
    box = BBox(west, south, west + width, south + height)
    cover = set(hexagons.cover(box, 9))
    for fx, fy in inside:
        lon, lat = west + fx * width, south + fy * height
        assert hexagons.cell_of(lon, lat, 9) in cover


@st.composite
def households(draw: st.DrawFn) -> tuple[list[tuple[float, float]], np.ndarray]:
    width = draw(st.floats(min_value=200, max_value=2_000))
    height = draw(st.floats(min_value=200, max_value=2_000))
    cells = draw(st.integers(min_value=1, max_value=6))
    n = draw(st.integers(min_value=300 * cells, max_value=500 * cells))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    points = rng.uniform((1, 1), (width - 1, height - 1), size=(n, 2))
    ring = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    return ring, points


@settings(derandomize=True, max_examples=60, deadline=None)
@given(households())
def test_the_partition_is_a_partition_of_cells_of_300_to_500_households(
        case: tuple[list[tuple[float, float]], np.ndarray]) -> None:
    ring, points = case
    cells = partition.partition_households(ring, points)
    polygons = [Polygon(r) for r, _ in cells]
    assert sum(count for _, count in cells) == len(points)
    assert all(300 <= count <= 500 for _, count in cells)
    assert math.isclose(sum(p.area for p in polygons), Polygon(ring).area, rel_tol=1e-9)
    for i, a in enumerate(polygons):  # no two cells overlap (shared edges are fine)
        for b in polygons[i + 1:]:
            assert a.intersection(b).area < 1e-6 * Polygon(ring).area
    # Each cell holds the points it counts.
    for (_, count), poly in zip(cells, polygons, strict=True):
        held = shapely.contains_xy(poly.buffer(1e-9), points[:, 0], points[:, 1]).sum()
        assert held >= count


@PROPERTIES
@given(st.integers(min_value=1, max_value=5_000))
def test_a_count_that_no_cells_of_300_to_500_add_up_to_is_refused(n: int) -> None:
    feasible = any(300 * k <= n <= 500 * k for k in range(1, n // 300 + 1))
    ring = [(0.0, 0.0), (1_000.0, 0.0), (1_000.0, 1_000.0), (0.0, 1_000.0)]
    points = np.random.default_rng(n).uniform(1, 999, size=(n, 2))
    try:
        cells = partition.partition_households(ring, points)
    except ValueError as exc:
        assert not feasible and "cannot be split" in str(exc)
    else:
        assert feasible and sum(count for _, count in cells) == n


@PROPERTIES
@given(st.integers(1, 999), st.integers(1, 999), st.integers(1, 999))
def test_codes_nest_and_say_their_kind(street: int, community: int, cell: int) -> None:
    s = codes.street_code(street)
    c = codes.community_code(s, community)
    g = codes.cell_code(c, cell)
    assert (len(s), len(c), len(g)) == (9, 12, 15)
    assert g.startswith(c) and c.startswith(s) and s.startswith(codes.COUNTY_CODE)
    assert [codes.code_kind(x) for x in (s, c, g)] == ["street", "community", "cell"]


@PROPERTIES
@given(st.text(max_size=20))
def test_a_code_kind_is_never_guessed_from_other_text(text: str) -> None:
    kind = codes.code_kind(text)
    if kind is not None:
        assert text.isascii() and text.isdigit() and text.startswith(codes.COUNTY_CODE)
        assert len(text) == {"street": 9, "community": 12, "cell": 15}[kind]


@PROPERTIES
@given(st.one_of(st.floats(), st.integers(-1000, 1000)), st.one_of(st.floats(),
                                                               st.integers(-1000, 1000)))
def test_a_point_is_valid_exactly_when_it_is_on_the_globe(lon: float, lat: float) -> None:
    valid = (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
             and -90 <= lat <= 90)
    try:
        LonLat(lon, lat)
    except GeoInputError:
        assert not valid
    else:
        assert valid
