"""The heat map 民情气象图 as vector tiles: the county-wide cells, drawn where they meet a tile."""

from __future__ import annotations

from typing import Any

import psycopg
from starlette.testclient import TestClient

from tests.conftest import Minter
from tests.web.test_tiles import county_tiles, features, tile_of

# One calendar month: what the public may ask for (the disclosure rule).
PERIOD = "from=2024-03-01T00:00:00%2B08:00&to=2024-04-01T00:00:00%2B08:00"


def county_box(db: psycopg.Connection) -> str:
    """The study area the tiles compute over: the extent of the streets."""
    row = db.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                     "FROM (SELECT ST_Extent(geom) AS e FROM streets) x").fetchone()
    assert row is not None
    return ",".join(repr(float(v)) for v in row)


def geojson_cells(client: TestClient, db: psycopg.Connection, query: str,
                  token: str | None = None) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(f"/heatmap.geojson?bbox={county_box(db)}&{query}", headers=headers)
    assert response.status_code == 200, response.text
    return {f["id"]: f["properties"] for f in response.json()["features"]}


def tile_cells(client: TestClient, z: int, x: int, y: int, query: str,
               token: str | None = None) -> dict[str, dict[str, Any]]:
    got = features(client, f"/tiles/heatmap/{z}/{x}/{y}.mvt?{query}", "heatmap", token)
    return {f["properties"]["id"]: f["properties"] for f in got}


def test_the_county_tiles_hold_every_cell_with_the_geojson_values(
        client: TestClient, db: psycopg.Connection, token: Minter) -> None:
    county = token("COUNTY_OFFICE", sub="heat-tiles")
    query = f"{PERIOD}&resolution=GRID_CELL"
    tiled: dict[str, dict[str, Any]] = {}
    for x, y in county_tiles(11):
        tiled.update(tile_cells(client, 11, x, y, query, county))
    expected = geojson_cells(client, db, query, county)
    assert len(tiled) == 429 and tiled.keys() == expected.keys()
    for cell, props in tiled.items():
        assert props["count"] == expected[cell]["count"]
        assert props.get("hotspot") == expected[cell]["hotspot"]
    assert {p.get("hotspot") for p in tiled.values()} >= {"NOT_SIGNIFICANT"}
    assert any(p.get("hotspot", "").startswith("HOT") for p in tiled.values())


def test_a_detail_tile_keeps_the_county_wide_classes(client: TestClient,
                                                    db: psycopg.Connection) -> None:
    x, y = tile_of(118.657, 34.918, 15)
    query = f"{PERIOD}&resolution=H3_8"
    tiled = tile_cells(client, 15, x, y, query)
    expected = geojson_cells(client, db, query)
    assert 0 < len(tiled) < len(expected)
    for cell, props in tiled.items():
        assert props.get("hotspot") == expected[cell]["hotspot"]
        assert props.get("count") == expected[cell]["count"]


def test_the_public_never_gets_a_count_under_3(client: TestClient) -> None:
    x, y = tile_of(118.657, 34.918, 12)
    tiled = tile_cells(client, 12, x, y, f"{PERIOD}&resolution=H3_8")
    assert tiled
    withheld = [p for p in tiled.values() if p["withheld"]]
    assert withheld and all("count" not in p for p in withheld)
    assert all(p["count"] >= 3 for p in tiled.values() if "count" in p)


def test_bad_parameters_are_400_with_a_code(client: TestClient) -> None:
    for path in (f"/tiles/heatmap/12/1/1.mvt?{PERIOD}&resolution=H3_7",
                 "/tiles/heatmap/12/1/1.mvt?from=2024-02-01&to=2024-01-01",
                 f"/tiles/heatmap/40/1/1.mvt?{PERIOD}"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    response = client.get(f"/tiles/heatmap/12/3371/1626.mvt?{PERIOD}")
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["vary"] == "Authorization"


def test_the_heat_map_has_tilejson_listed_with_the_other_layers(client: TestClient,
                                                               db: psycopg.Connection) -> None:
    index = {e["name"]: e for e in client.get(f"/tiles.json?{PERIOD}").json()["layers"]}
    entry = index["heatmap"]
    assert entry["title_zh"] == "民情气象图" and ".mvt?from=2024-03-01T00" in entry["tiles"]
    doc = client.get(entry["tilejson"].removeprefix("http://testserver")).json()
    assert doc["tilejson"] == "3.0.0" and doc["name"] == "heatmap"
    assert doc["bounds"] == client.get(
        "/tiles/communities.json").json()["bounds"]
    layer = doc["vector_layers"][0]
    assert layer["id"] == "heatmap" and {"id", "count", "withheld", "hotspot"} <= set(
        layer["fields"])
    x, y = tile_of(118.657, 34.918, 14)
    url = doc["tiles"][0].replace("{z}", "14").replace("{x}", str(x)).replace("{y}", str(y))
    got = tile_cells(client, 14, x, y, url.split("?", 1)[1])
    assert got and set(got) <= set(geojson_cells(client, db, PERIOD))
    assert client.get("/tiles/heatmap.json?crs=EPSG3857").status_code == 400
