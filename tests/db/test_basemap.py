"""The demo's base map: roads along the community boundaries and into every compound, the 沭河
beside the town, ponds in parks, each as its own layer with names and Chinese kind titles."""

from __future__ import annotations

import psycopg
from starlette.testclient import TestClient


def test_roads_of_every_class_follow_the_community_boundaries(db: psycopg.Connection) -> None:
    kinds = dict(db.execute("SELECT kind, count(*) FROM roads GROUP BY 1").fetchall())
    assert set(kinds) == {"PRIMARY", "SECONDARY", "MINOR"} and kinds["PRIMARY"] >= 3
    assert db.execute("SELECT count(*) = count(DISTINCT name) FROM roads").fetchone() == (True,)
    # primary and secondary roads run along community edges (within a metre, EPSG:4549)
    off_edges = db.execute("""
        WITH edges AS (SELECT ST_Buffer(ST_Union(ST_Boundary(ST_Transform(geom, 4549))), 1) AS g
                       FROM communities)
        SELECT count(*) FROM roads r, edges e
        WHERE r.kind <> 'MINOR' AND NOT ST_Within(ST_Transform(r.geom, 4549), e.g)""").fetchone()
    assert off_edges == (0,)
    # the town's roads add up to a network, not a few lines: over 150 km
    km = db.execute("SELECT sum(ST_Length(geom::geography)) / 1000 FROM roads").fetchone()
    assert km is not None and km[0] > 150


def test_every_compound_has_a_lane_to_a_road(db: psycopg.Connection) -> None:
    without = db.execute("""
        SELECT count(*) FROM compounds k WHERE NOT EXISTS (
          SELECT 1 FROM roads r WHERE r.kind = 'MINOR'
          AND ST_DWithin(ST_Transform(r.geom, 4549), ST_Transform(k.geom, 4549), 0.5))""").fetchone()
    assert without == (0,)
    # and each lane stays inside one community
    crossing = db.execute("""
        SELECT count(*) FROM roads r WHERE r.kind = 'MINOR' AND NOT EXISTS (
          SELECT 1 FROM communities c
          WHERE ST_Covers(ST_Buffer(ST_Transform(c.geom, 4549), 0.5), ST_Transform(r.geom, 4549)))
    """).fetchone()
    assert crossing == (0,)


def test_the_river_runs_beside_the_town_and_ponds_lie_in_parks(db: psycopg.Connection) -> None:
    river = db.execute("SELECT code, kind FROM waters WHERE name = '沭河'").fetchone()
    assert river is not None and river[1] == "RIVER"
    # the river is wider than 200 m, runs north-south past the whole town and floods no place
    touching = db.execute("""
        SELECT count(*) FROM communities c, waters w
        WHERE w.kind = 'RIVER' AND ST_Intersects(c.geom, w.geom)""").fetchone()
    assert touching == (0,)
    spans = db.execute("""
        SELECT ST_YMin(w.geom) < (SELECT ST_YMin(ST_Extent(geom)) FROM communities)
           AND ST_YMax(w.geom) > (SELECT ST_YMax(ST_Extent(geom)) FROM communities),
               ST_Area(w.geom::geography) / ST_Length(ST_LongestLine(w.geom, w.geom)::geography)
        FROM waters w WHERE w.kind = 'RIVER'""").fetchone()
    assert spans is not None and spans[0] and spans[1] > 200
    ponds = db.execute("""
        SELECT count(*), count(*) FILTER (WHERE EXISTS (
                 SELECT 1 FROM communities c WHERE ST_Within(w.geom, c.geom))),
               count(*) FILTER (WHERE EXISTS (
                 SELECT 1 FROM compounds k WHERE ST_Intersects(w.geom, k.geom)))
        FROM waters w WHERE w.kind = 'POND'""").fetchone()
    assert ponds is not None and ponds[0] >= 1 and ponds[1] == ponds[0] and ponds[2] == 0


def test_roads_and_waters_are_layers_everywhere(client: TestClient) -> None:
    collections = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert {"roads", "waters"} <= set(collections)
    items = client.get("/ogc/collections/waters/items").json()
    river = next(f for f in items["features"] if f["properties"]["name"] == "沭河")
    assert river["properties"]["kind_name"] == "河流"
    assert river["geometry"]["type"] == "MultiPolygon"
    roads = client.get("/ogc/collections/roads/items", params={"limit": 5}).json()
    assert {f["geometry"]["type"] for f in roads["features"]} == {"MultiLineString"}
    assert all(f["properties"]["kind_name"] in {"主干路", "次干路", "支路"}
               for f in roads["features"])
    layers = {entry["name"]: entry for entry in client.get("/tiles.json").json()["layers"]}
    assert (layers["roads"]["geometry_type"], layers["waters"]["title_zh"]) == (
        "MultiLineString", "水系")
    tile = client.get("/tiles/roads/14/13592/6494.mvt")
    assert tile.status_code == 200 and len(tile.content) > 100
