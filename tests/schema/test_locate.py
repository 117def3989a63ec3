"""`locate` assigns points exactly as containment in the stored geometries does."""

from __future__ import annotations

import random

import psycopg
import pytest
import shapely
from shapely import wkb

from geo.datum import from_wgs84
from geo.types import Crs
from tests.conftest import GraphQLClient

LOCATE = """query ($p: PointInput!) { locate(point: $p) {
  gridCell { code } compound { code } community { code } zone { code } street { code }
  nearestFacilities(kind: CLINIC, first: 3) { distanceM facility { code kind } } } }"""


@pytest.fixture(scope="module")
def shapes(db: psycopg.Connection) -> dict[str, list[tuple[str, shapely.Geometry]]]:
    out = {}
    for table in ("grid_cells", "compounds"):
        rows = db.execute(f"SELECT code, ST_AsBinary(geom) FROM {table} ORDER BY code").fetchall()
        out[table] = [(code, wkb.loads(bytes(g))) for code, g in rows]
    return out


def _containing(items: list[tuple[str, shapely.Geometry]], p: shapely.Point) -> str | None:
    return next((code for code, g in items if g.intersects(p)), None)


def test_locate_equals_shapely_containment(gql: GraphQLClient, db: psycopg.Connection,
                                           shapes: dict[str, list[tuple[str, shapely.Geometry]]]
                                           ) -> None:
    rng = random.Random(7)
    community_of = dict(db.execute("SELECT code, community_code FROM grid_cells").fetchall())
    zone_of = dict(db.execute("SELECT code, zone_code FROM communities").fetchall())
    checked = outside = 0
    for _ in range(150):
        lon, lat = rng.uniform(118.605, 118.71), rng.uniform(34.88, 34.955)
        p = shapely.Point(lon, lat)
        cell = _containing(shapes["grid_cells"], p)
        body = gql(LOCATE, {"p": {"lon": lon, "lat": lat}})
        if cell is None:
            assert body["errors"][0]["extensions"]["code"] == "OUTSIDE_COVERAGE"
            outside += 1
            continue
        loc = body["data"]["locate"]
        assert loc["gridCell"]["code"] == cell
        compound = _containing(shapes["compounds"], p)
        assert (loc["compound"] or {}).get("code") == compound
        assert loc["community"]["code"] == community_of[cell]
        assert loc["zone"]["code"] == zone_of[community_of[cell]]
        assert loc["street"]["code"] == cell[:9]
        hits = loc["nearestFacilities"]
        assert len(hits) == 3 and all(h["facility"]["kind"] == "CLINIC" for h in hits)
        assert [h["distanceM"] for h in hits] == sorted(h["distanceM"] for h in hits)
        checked += 1
    assert checked > 80 and outside > 0


def test_point_on_a_shared_edge_goes_to_the_lowest_code(gql: GraphQLClient,
                                                        db: psycopg.Connection) -> None:
    a, b, lon, lat = db.execute("""
        SELECT a.code, b.code, ST_X(p), ST_Y(p) FROM grid_cells a
        JOIN grid_cells b ON a.code < b.code AND ST_Touches(a.geom, b.geom),
        LATERAL ST_LineInterpolatePoint(
            ST_GeometryN(ST_LineMerge(ST_CollectionExtract(
                ST_Intersection(a.geom, b.geom), 2)), 1), 0.5) p
        WHERE ST_Dimension(ST_Intersection(a.geom, b.geom)) = 1 LIMIT 1""").fetchone()  # type: ignore[misc]
    got = gql.data(LOCATE, {"p": {"lon": lon, "lat": lat}})["locate"]["gridCell"]["code"]
    assert got == a < b


def test_locate_accepts_gcj02_and_bd09(gql: GraphQLClient) -> None:
    lon, lat = 118.657, 34.918
    want = gql.data(LOCATE, {"p": {"lon": lon, "lat": lat}})["locate"]["gridCell"]["code"]
    for crs in (Crs.GCJ02, Crs.BD09):
        x, y = from_wgs84(lon, lat, crs)
        got = gql.data(LOCATE, {"p": {"lon": x, "lat": y, "crs": crs.value}})
        assert got["locate"]["gridCell"]["code"] == want
