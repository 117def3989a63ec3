from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from pyproj import Geod

from geo.datum import (
    bbox_to_wgs84,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    from_wgs84_array,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    to_wgs84_array,
    transform_geojson,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.types import BBox, Crs, GeoInputError

GEOD = Geod(ellps="WGS84")
FORWARD = {Crs.GCJ02: wgs84_to_gcj02, Crs.BD09: wgs84_to_bd09}
INVERSE = {Crs.GCJ02: gcj02_to_wgs84, Crs.BD09: bd09_to_wgs84}
OUTSIDE = [
    (-0.1246, 51.5007),
    (151.2093, -33.8688),
    (-74.006, 40.7128),
    (72.0, 30.0),
    (100.0, 56.0),
]


def china_points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack((rng.uniform(73.0, 135.0, n), rng.uniform(18.0, 53.0, n)))


def test_reference_point_matches_published_values() -> None:
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024, abs=1e-4)
    assert lat == pytest.approx(39.91641, abs=1e-4)
    # Published outputs of the widely used coordTransform implementations.
    assert (lon, lat) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    bd = gcj02_to_bd09(116.404, 39.915)
    assert bd == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)
    bd = wgs84_to_bd09(116.404, 39.915)
    assert bd == pytest.approx((116.41662724378733, 39.922699552216216), abs=1e-12)


def test_out_of_china_rectangle() -> None:
    assert not out_of_china(118.65, 34.92)
    assert out_of_china(72.003, 30.0) and not out_of_china(72.004, 30.0)
    assert out_of_china(137.8348, 30.0) and not out_of_china(137.8347, 30.0)
    assert out_of_china(100.0, 0.8292) and not out_of_china(100.0, 0.8293)
    assert out_of_china(100.0, 55.8272) and not out_of_china(100.0, 55.8271)


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_round_trip_within_half_metre(crs: Crs) -> None:
    pts = china_points(1000, seed=1 if crs is Crs.GCJ02 else 2)
    shifted = [FORWARD[crs](lon, lat) for lon, lat in pts]
    back = np.array([INVERSE[crs](lon, lat) for lon, lat in shifted])
    _, _, err = GEOD.inv(pts[:, 0], pts[:, 1], back[:, 0], back[:, 1])
    assert float(np.max(err)) < 0.5
    # The datum shift itself is hundreds of metres, so the check above is not vacuous.
    shifted_arr = np.array(shifted)
    _, _, moved = GEOD.inv(pts[:, 0], pts[:, 1], shifted_arr[:, 0], shifted_arr[:, 1])
    assert float(np.min(moved)) > 5.0


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_inverse_forward_image_hits_target(crs: Crs) -> None:
    for lon, lat in china_points(200, seed=3):
        w = INVERSE[crs](lon, lat)
        f = FORWARD[crs](*w)
        assert abs(f[0] - lon) < 1e-9 and abs(f[1] - lat) < 1e-9


def test_bd09_to_gcj02_inverts_gcj02_to_bd09() -> None:
    for lon, lat in china_points(200, seed=4):
        back = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
        assert back == pytest.approx((lon, lat), abs=1e-8)


def test_outside_china_unchanged() -> None:
    funcs = [
        wgs84_to_gcj02,
        gcj02_to_wgs84,
        gcj02_to_bd09,
        bd09_to_gcj02,
        wgs84_to_bd09,
        bd09_to_wgs84,
    ]
    for lon, lat in OUTSIDE:
        for func in funcs:
            assert func(lon, lat) == (lon, lat)
        for crs in Crs:
            assert from_wgs84(lon, lat, crs) == (lon, lat)
            assert to_wgs84(lon, lat, crs) == (lon, lat)
    arr = np.array(OUTSIDE)
    for crs in Crs:
        assert np.array_equal(from_wgs84_array(arr, crs), arr)
        assert np.array_equal(to_wgs84_array(arr, crs), arr)


def test_dispatchers() -> None:
    assert from_wgs84(118.6, 34.9, Crs.WGS84) == (118.6, 34.9)
    assert to_wgs84(118.6, 34.9, Crs.WGS84) == (118.6, 34.9)
    for crs in (Crs.GCJ02, Crs.BD09):
        assert from_wgs84(118.6, 34.9, crs) == FORWARD[crs](118.6, 34.9)
        assert to_wgs84(118.6, 34.9, crs) == INVERSE[crs](118.6, 34.9)
    assert from_wgs84(118.6, 34.9, "GCJ02") == wgs84_to_gcj02(118.6, 34.9)  # type: ignore[arg-type]


@pytest.mark.parametrize("crs", list(Crs))
def test_vectorised_equals_scalar(crs: Crs) -> None:
    pts = np.vstack((china_points(300, seed=5), np.array(OUTSIDE)))
    fwd = from_wgs84_array(pts, crs)
    inv = to_wgs84_array(fwd, crs)
    assert fwd.shape == inv.shape == pts.shape
    for i, (lon, lat) in enumerate(pts):
        assert tuple(fwd[i]) == pytest.approx(from_wgs84(lon, lat, crs), abs=1e-11)
        assert tuple(inv[i]) == pytest.approx(to_wgs84(fwd[i, 0], fwd[i, 1], crs), abs=1e-11)
    assert from_wgs84_array(np.empty((0, 2)), crs).shape == (0, 2)
    with pytest.raises(ValueError):
        from_wgs84_array(np.zeros(4), crs)


def _square(lon: float, lat: float, size: float) -> list[list[float]]:
    return [
        [lon, lat],
        [lon + size, lat],
        [lon + size, lat + size],
        [lon, lat + size],
        [lon, lat],
    ]


def _assert_positions_match(got: Any, src: Any, crs: Crs, tol: float = 1e-11) -> None:
    if isinstance(src[0], int | float):
        expected = from_wgs84(src[0], src[1], crs)
        assert got[:2] == pytest.approx(list(expected), abs=tol)
        assert got[2:] == src[2:]
        return
    assert len(got) == len(src)
    for g, s in zip(got, src, strict=True):
        _assert_positions_match(g, s, crs, tol)


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_transform_geojson_polygon_and_multipolygon(crs: Crs) -> None:
    outer = _square(118.6, 34.9, 0.01)
    hole = _square(118.603, 34.903, 0.002)
    polygon = {"type": "Polygon", "coordinates": [outer, hole]}
    multi = {"type": "MultiPolygon", "coordinates": [[outer, hole], [_square(118.7, 35.0, 0.01)]]}
    for geom in (polygon, multi):
        before = copy.deepcopy(geom)
        out = transform_geojson(geom, crs)
        assert geom == before, "input must not be mutated"
        assert out["type"] == geom["type"]
        _assert_positions_match(out["coordinates"], geom["coordinates"], crs)
        back = transform_geojson(out, crs, inverse=True)
        # The inverse stops once its forward image is within 1e-9 degrees of the target.
        _assert_positions_match(back["coordinates"], geom["coordinates"], Crs.WGS84, 2e-9)


def test_transform_geojson_feature_collection() -> None:
    fc: dict[str, Any] = {
        "type": "FeatureCollection",
        "bbox": [118.6, 34.9, 118.61, 34.91],
        "features": [
            {
                "type": "Feature",
                "id": 7,
                "properties": {"name": "cell"},
                "geometry": {"type": "Polygon", "coordinates": [_square(118.6, 34.9, 0.01)]},
            },
            {"type": "Feature", "properties": None, "geometry": None},
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "GeometryCollection",
                    "geometries": [
                        {"type": "Point", "coordinates": [118.605, 34.905, 12.5]},
                        {"type": "LineString", "coordinates": [[118.6, 34.9], [118.61, 34.91]]},
                        {"type": "MultiPoint", "coordinates": [[118.6, 34.9]]},
                        {"type": "MultiLineString", "coordinates": [[[118.6, 34.9], [119, 35]]]},
                        {"type": "Point", "coordinates": []},
                    ],
                },
            },
        ],
    }
    before = copy.deepcopy(fc)
    out = transform_geojson(fc, Crs.GCJ02)
    assert fc == before
    assert out is not fc
    f0, f1, f2 = out["features"]
    assert (f0["id"], f0["properties"]) == (7, {"name": "cell"})
    _assert_positions_match(f0["geometry"]["coordinates"], [_square(118.6, 34.9, 0.01)], Crs.GCJ02)
    assert f1 == before["features"][1]
    geoms = f2["geometry"]["geometries"]
    src = before["features"][2]["geometry"]["geometries"]
    for g, s in zip(geoms[:4], src[:4], strict=True):
        _assert_positions_match(g["coordinates"], s["coordinates"], Crs.GCJ02)
    assert geoms[0]["coordinates"][2] == 12.5
    assert geoms[4] == {"type": "Point", "coordinates": []}
    # The stale WGS-84 bbox is replaced by the envelope of the converted coordinates.
    ring = np.array(f0["geometry"]["coordinates"][0])
    all_xy = np.vstack((ring, np.array([g["coordinates"][:2] for g in geoms[:1]])))
    assert out["bbox"][0] <= all_xy[:, 0].min() and out["bbox"][2] >= all_xy[:, 0].max()
    assert out["bbox"] != before["bbox"]


def test_transform_geojson_identity_and_large_polygon() -> None:
    geom = {"type": "Polygon", "coordinates": [_square(118.6, 34.9, 0.01)]}
    assert transform_geojson(geom, Crs.WGS84) is geom
    assert transform_geojson(geom, Crs.WGS84, inverse=True) is geom
    angles = np.linspace(0.0, 2 * np.pi, 20000, endpoint=False)
    ring = np.column_stack((118.65 + 0.1 * np.cos(angles), 34.92 + 0.1 * np.sin(angles)))
    big = {"type": "Polygon", "coordinates": [ring.tolist()]}
    out = transform_geojson(big, Crs.BD09)
    got = np.array(out["coordinates"][0])
    assert got.shape == ring.shape
    for i in range(0, len(ring), 997):
        assert tuple(got[i]) == pytest.approx(wgs84_to_bd09(*ring[i]), abs=1e-11)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "Circle", "coordinates": [0, 0]},
        {"type": "Polygon", "coordinates": [[[118.6, "x"], [118.7, 34.9], [118.6, 35.0]]]},
        {"type": "Polygon", "coordinates": [[[118.6, float("nan")], [118.7, 34.9]]]},
        {"type": "Point", "coordinates": [118.6]},
        {"type": "LineString", "coordinates": 5},
        {"type": "FeatureCollection", "features": {}},
        {"type": "FeatureCollection", "features": [42]},
    ],
)
def test_transform_geojson_rejects_malformed(bad: dict[str, Any]) -> None:
    with pytest.raises(GeoInputError):
        transform_geojson(bad, Crs.GCJ02)


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_bbox_to_wgs84_contains_converted_corners(crs: Crs) -> None:
    box = BBox(118.5, 34.8, 118.8, 35.05)
    out = bbox_to_wgs84(box, crs)
    assert out != box
    w, s, e, n = box.as_tuple()
    for lon, lat in [(w, s), (e, s), (e, n), (w, n), ((w + e) / 2, s), (e, (s + n) / 2)]:
        x, y = to_wgs84(lon, lat, crs)
        assert out.west <= x <= out.east
        assert out.south <= y <= out.north
    # The envelope hugs the converted outline: a dense sampling gives the same box.
    t = np.linspace(0.0, 1.0, 2001)
    outline = np.vstack(
        [
            np.column_stack((w + (e - w) * t, np.full_like(t, s))),
            np.column_stack((w + (e - w) * t, np.full_like(t, n))),
            np.column_stack((np.full_like(t, w), s + (n - s) * t)),
            np.column_stack((np.full_like(t, e), s + (n - s) * t)),
        ]
    )
    dense = to_wgs84_array(outline, crs)
    expected = (*dense.min(axis=0), *dense.max(axis=0))
    assert out.as_tuple() == pytest.approx(expected, abs=1e-6)
    assert bbox_to_wgs84(box, Crs.WGS84) == box
