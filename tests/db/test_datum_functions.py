"""The datum SQL functions of migration 0004 agree with `geo/datum.py`."""

from __future__ import annotations

import json

import numpy as np
import psycopg
import pytest
from shapely.geometry import shape

from geo.datum import from_wgs84, transform_geojson
from geo.types import Crs

# Points across the county and across China, plus two outside China's rectangle.
POINTS = [(118.65, 34.92), (118.613, 34.886), (116.39, 39.91), (121.47, 31.23),
          (87.6, 43.8), (129.5, 42.9), (151.2, -33.9), (2.35, 48.86)]


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09, Crs.WGS84])
def test_points_match_python(db: psycopg.Connection, crs: Crs) -> None:
    rng = np.random.default_rng(7)
    county = [(118.613 + 0.088 * a, 34.886 + 0.064 * b) for a, b in rng.random((200, 2))]
    for lon, lat in POINTS + county:
        row = db.execute("SELECT redgrid_datum_xy(%s, %s, %s)", (lon, lat, crs.value)).fetchone()
        assert row is not None
        expected = from_wgs84(lon, lat, crs)
        assert row[0] == pytest.approx(list(expected), abs=1e-12), (lon, lat)


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_geometries_match_python_vertex_for_vertex(db: psycopg.Connection, crs: Crs) -> None:
    wkt = ("GEOMETRYCOLLECTION(POINT(118.65 34.92), LINESTRING(118.62 34.90, 118.66 34.93), "
           "POLYGON((118.61 34.88, 118.70 34.88, 118.70 34.95, 118.61 34.95, 118.61 34.88), "
           "(118.64 34.90, 118.66 34.90, 118.66 34.92, 118.64 34.90)), "
           "MULTIPOLYGON(((118.62 34.89, 118.63 34.89, 118.63 34.90, 118.62 34.89))))")
    for part in db.execute("SELECT ST_AsGeoJSON((ST_Dump(ST_GeomFromText(%s, 4326))).geom)::text",
                           (wkt,)).fetchall():
        source = json.loads(part[0])
        row = db.execute("SELECT ST_AsGeoJSON(redgrid_to_datum(ST_SetSRID("
                         "ST_GeomFromGeoJSON(%s), 4326), %s), 15)::text, "
                         "ST_SRID(redgrid_to_datum(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326), %s))",
                         (part[0], crs.value, part[0], crs.value)).fetchone()
        assert row is not None and row[1] == 4326
        moved = json.loads(row[0])
        expected = transform_geojson(source, crs)
        assert moved["type"] == expected["type"]
        assert np.allclose(np.array(_flat(moved["coordinates"])),
                           np.array(_flat(expected["coordinates"])), atol=1e-12, rtol=0)
    multi = db.execute("SELECT GeometryType(redgrid_to_datum(geom, %s)), "
                       "ST_NPoints(redgrid_to_datum(geom, %s)) = ST_NPoints(geom) "
                       "FROM streets ORDER BY code LIMIT 1", (crs.value, crs.value)).fetchone()
    assert multi == ("MULTIPOLYGON", True)


def test_moved_polygons_stay_valid(db: psycopg.Connection) -> None:
    invalid = db.execute("SELECT count(*) FROM communities "
                         "WHERE NOT ST_IsValid(redgrid_to_datum(geom, 'GCJ02'))").fetchone()
    assert invalid == (0,)
    area = db.execute("SELECT ST_Area(redgrid_to_datum(geom, 'BD09')) / ST_Area(geom) "
                      "FROM communities ORDER BY code LIMIT 1").fetchone()
    assert area is not None and area[0] == pytest.approx(1.0, rel=1e-3)
    assert shape(json.loads(db.execute(
        "SELECT ST_AsGeoJSON(redgrid_to_datum(geom, 'GCJ02'))::text FROM communities "
        "ORDER BY code LIMIT 1").fetchone()[0])).is_valid  # type: ignore[index]


def test_unknown_datum_is_refused(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="unknown datum"):
        db.execute("SELECT redgrid_datum_xy(118.6, 34.9, 'EPSG3857')")


def _flat(coords: object) -> list[float]:
    if isinstance(coords, (int, float)):
        return [float(coords)]
    assert isinstance(coords, list)
    return [v for c in coords for v in _flat(c)]
