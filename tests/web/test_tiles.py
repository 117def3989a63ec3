"""Vector tiles and TileJSON: features against SQL, the ticket rule, datums, caching, errors."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from typing import Any

import mapbox_vector_tile
import psycopg
import pytest
from starlette.testclient import TestClient

from db.queries.layers import LAYERS, TicketView
from db.queries.patrols import PatrolWeek
from db.queries.tiles import (
    BUFFER,
    ENVELOPE,
    EXTENT,
    TicketFilters,
    TileKey,
    count_source,
    layer_source,
    ticket_cell_counts,
    tile_query,
)
from geo.datum import from_wgs84
from geo.types import Crs
from resolvers.patrols import week_of
from tests.conftest import Minter

CENTRE = (118.657, 34.918)
COUNTY = (118.613, 34.886, 118.701, 34.950)
R = 6378137.0
MARGIN = BUFFER / EXTENT
PUBLIC_FIELDS = {"code", "item_code", "status", "channel", "cell_code", "community_code",
                 "created_on", "precise"}
NEVER = {"reporter_name", "reporter_phone", "description", "reporter_subject"}


def mercator(lon: float, lat: float) -> tuple[float, float]:
    return R * math.radians(lon), R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    x, y = mercator(lon, lat)
    size = 2 * math.pi * R / 2**z
    return int((x + math.pi * R) // size), int((math.pi * R - y) // size)


def tile_units(lon: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    """Where a lon/lat falls in tile z/x/y, in tile units with y down (MVT's own frame)."""
    xmin, _, _, ymax = TileKey(z, x, y).mercator_bounds()
    size = 2 * math.pi * R / 2**z
    mx, my = mercator(lon, lat)
    return (mx - xmin) / size * EXTENT, (ymax - my) / size * EXTENT


def decode(body: bytes) -> dict[str, Any]:
    tile: dict[str, Any] = mapbox_vector_tile.decode(
        body, default_options={"y_coord_down": True})
    return tile


def features(client: TestClient, path: str, layer: str, token: str | None = None,
             ) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = decode(response.content).get(layer, {}).get("features", [])
    return found


def sql_codes(db: psycopg.Connection, table: str, z: int, x: int, y: int,
              margin: float) -> set[str]:
    rows = db.execute(
        f"SELECT code FROM {table} WHERE ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(%s, %s, %s, margin => %s))", (z, x, y, margin)).fetchall()
    return {r[0] for r in rows}


def county_tiles(z: int) -> list[tuple[int, int]]:
    x0, y0 = tile_of(COUNTY[0], COUNTY[3], z)
    x1, y1 = tile_of(COUNTY[2], COUNTY[1], z)
    return [(x, y) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)]


# --------------------------------------------------------------------------- places

@pytest.mark.parametrize("layer", ["communities", "compounds", "grid_cells", "zones",
                                   "streets", "facilities"])
def test_centre_tile_at_z14_holds_what_sql_intersects(client: TestClient,
                                                      db: psycopg.Connection,
                                                      layer: str) -> None:
    z = 14
    x, y = tile_of(*CENTRE, z)
    got = [f["properties"]["code"] for f in features(client, f"/tiles/{layer}/{z}/{x}/{y}.mvt",
                                                     layer)]
    assert len(got) == len(set(got))
    assert set(got) == sql_codes(db, layer, z, x, y, MARGIN)
    assert sql_codes(db, layer, z, x, y, 0.0) <= set(got)
    assert got


def test_feature_counts_equal_sql_over_the_county(client: TestClient,
                                                  db: psycopg.Connection) -> None:
    z = 15
    for x, y in county_tiles(z)[::3]:
        for layer in ("compounds", "facilities"):
            got = features(client, f"/tiles/{layer}/{z}/{x}/{y}.mvt", layer)
            assert len(got) == len(sql_codes(db, layer, z, x, y, MARGIN)), (layer, x, y)


def test_properties_follow_the_catalogue(client: TestClient) -> None:
    x, y = tile_of(*CENTRE, 14)
    feature = features(client, f"/tiles/communities/14/{x}/{y}.mvt", "communities")[0]
    assert set(feature["properties"]) == {name for name, _ in LAYERS["communities"].properties}
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_below_min_zoom_is_an_empty_tile(client: TestClient) -> None:
    x, y = tile_of(*CENTRE, 11)
    response = client.get(f"/tiles/compounds/11/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"


# --------------------------------------------------------------------------- tickets

def cell_count_sql(db: psycopg.Connection, z: int, x: int, y: int, status: str | None) -> int:
    row = db.execute(
        "SELECT count(*) FROM tickets t JOIN grid_cells c ON c.code = t.cell_code "
        "WHERE ST_Intersects(ST_Transform(ST_PointOnSurface(c.geom), 3857), "
        "ST_TileEnvelope(%s, %s, %s)) AND (%s::text IS NULL OR t.status = %s)",
        (z, x, y, status, status)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("status", [None, "RESOLVED"])
def test_tickets_below_z15_are_counts_per_cell_summing_to_sql(client: TestClient,
                                                             db: psycopg.Connection,
                                                             token: Minter,
                                                             status: str | None) -> None:
    z, total = 12, 0
    # Cell counts are kept a minute (a per-minute aggregate): tickets filed by earlier tests
    # within that minute would be missing from the tiles but not from SQL.
    client.app.state.ticket_cell_counts.clear()  # type: ignore[attr-defined]
    county = token("COUNTY_OFFICE", sub="county-cells")
    query = f"?status={status}" if status else ""
    for x, y in county_tiles(z):
        got = features(client, f"/tiles/tickets/{z}/{x}/{y}.mvt{query}", "tickets", county)
        for f in got:
            assert set(f["properties"]) == {"cell_code", "count"}
            assert f["geometry"]["type"] == "Point"
        counts = [f["properties"]["count"] for f in got]
        assert sum(counts) == cell_count_sql(db, z, x, y, status)
        total += sum(counts)
    row = db.execute("SELECT count(*) FROM tickets WHERE %s::text IS NULL OR status = %s",
                     (status, status)).fetchone()
    assert row is not None and total == row[0] > 0


def test_the_public_gets_no_cell_count_under_3(client: TestClient, token: Minter) -> None:
    # One December: many cells hold 1–2 tickets, which the county office sees; the public
    # counts every ticket (no period), and no cell under 3 even so.
    query = "?from=2023-12-01&to=2023-12-31"
    county = token("COUNTY_OFFICE", sub="county-day")
    for x, y in county_tiles(13):
        public = features(client, f"/tiles/tickets/13/{x}/{y}.mvt", "tickets")
        exact = features(client, f"/tiles/tickets/13/{x}/{y}.mvt", "tickets", county)
        assert all(f["properties"]["count"] >= 3 for f in public)
        assert {f["properties"]["cell_code"] for f in public} == {
            f["properties"]["cell_code"] for f in exact if f["properties"]["count"] >= 3}
    assert any(f["properties"]["count"] < 3 for x, y in county_tiles(13)
               for f in features(client, f"/tiles/tickets/13/{x}/{y}.mvt{query}", "tickets",
                                 county))


@pytest.mark.parametrize("query", ["?from=2023-12-05&to=2023-12-05", "?from=2023-12-02",
                                   "?to=2023-12-30", "?from=2023-12-01T08:00:00%2B08:00"])
def test_the_public_filters_tickets_by_whole_months_only(client: TestClient, token: Minter,
                                                         query: str) -> None:
    x, y = tile_of(*CENTRE, 13)
    response = client.get(f"/tiles/tickets/13/{x}/{y}.mvt{query}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERIOD_TOO_FINE"
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='county-day')}"}
    assert client.get(f"/tiles/tickets/13/{x}/{y}.mvt{query}", headers=county).status_code == 200


def detail_tile() -> tuple[int, int, int]:
    z = 16
    x, y = tile_of(*CENTRE, z)
    return z, x, y


def mvt_points(db: psycopg.Connection, geom: str, z: int, x: int, y: int,
               where: str = "TRUE", precise: str = "FALSE") -> Counter[tuple[int, int]]:
    """Tile coordinates of the tickets' geometries as PostGIS draws them."""
    rows = db.execute(
        f"SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_AsMVTGeom(ST_Transform({geom}, 3857), "
        f"ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true) AS g "
        f"FROM (SELECT t.*, {precise} AS precise FROM tickets t) f WHERE {where}) q "
        "WHERE g IS NOT NULL", (z, x, y)).fetchall()
    return Counter((int(a), int(b)) for a, b in rows)


def square_points(db: psycopg.Connection, z: int, x: int, y: int, where: str = "TRUE",
                  min_count: int = 3) -> Counter[tuple[int, int]]:
    """Tickets per 100 m square (EPSG:4549) drawn at the square's centre, for the squares
    holding `min_count` or more, as PostGIS draws them in tile z/x/y."""
    rows = db.execute(
        "SELECT ST_X(g), ST_Y(g), n FROM (SELECT ST_AsMVTGeom(ST_Transform(ST_Transform("
        "ST_SetSRID(ST_MakePoint((ix + 0.5) * 100, (iy + 0.5) * 100), 4549), 4326), 3857), "
        f"ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true) AS g, n FROM ("
        "SELECT floor(ST_X(geom_metric) / 100)::bigint AS ix, "
        "floor(ST_Y(geom_metric) / 100)::bigint AS iy, count(*) AS n FROM tickets f "
        f"WHERE {where} GROUP BY 1, 2 HAVING count(*) >= %s) q) r WHERE g IS NOT NULL",
        (z, x, y, min_count)).fetchall()
    return Counter({(int(a), int(b)): int(n) for a, b, n in rows})


def drawn(feats: list[dict[str, Any]]) -> Counter[tuple[int, int]]:
    return Counter((int(f["geometry"]["coordinates"][0]), int(f["geometry"]["coordinates"][1]))
                   for f in feats)


def squares(feats: list[dict[str, Any]]) -> Counter[tuple[int, int]]:
    """Tickets per drawn position, from merged 100 m squares and their counts."""
    out: Counter[tuple[int, int]] = Counter()
    for f in feats:
        x, y = f["geometry"]["coordinates"]
        out[(int(x), int(y))] += f["properties"]["count"]
    return out


def test_public_z16_squares_are_generalised_and_impersonal(client: TestClient,
                                                           db: psycopg.Connection) -> None:
    z, x, y = detail_tile()
    got = features(client, f"/tiles/tickets/{z}/{x}/{y}.mvt", "tickets")
    assert got
    for f in got:
        assert f["properties"]["precise"] is False
        assert set(f["properties"]) == {"precise", "count"}
    counted = square_points(db, z, x, y)
    # One feature per 100 m square of 3 or more, carrying how many tickets it stands for.
    assert len(got) == len(counted)
    assert squares(got) == counted
    assert min(f["properties"]["count"] for f in got) >= 3
    assert square_points(db, z, x, y, min_count=1) != counted  # squares of 1 or 2 left out
    assert drawn(got).keys() != mvt_points(db, "f.geom", z, x, y).keys()


def test_grid_worker_sees_exact_points_only_in_their_cell(client: TestClient,
                                                          db: psycopg.Connection,
                                                          token: Minter) -> None:
    z, x, y = detail_tile()
    row = db.execute(
        "SELECT cell_code FROM tickets WHERE ST_Intersects(ST_Transform(geom, 3857), "
        "ST_TileEnvelope(%s, %s, %s)) GROUP BY cell_code ORDER BY count(*) DESC, cell_code "
        "LIMIT 1", (z, x, y)).fetchone()
    assert row is not None
    cell = row[0]
    got = features(client, f"/tiles/tickets/{z}/{x}/{y}.mvt", "tickets",
                   token("GRID_WORKER", cell, sub="w-tiles"))
    mine = [f for f in got if f["properties"]["precise"] is True]
    others = [f for f in got if f["properties"]["precise"] is False]
    assert mine and others and len(mine) + len(others) == len(got)
    assert all(f["properties"]["cell_code"] == cell and "level" in f["properties"]
               and f["properties"]["count"] == 1 for f in mine)
    assert all(set(f["properties"]) == {"precise", "count"} for f in others)
    assert drawn(mine) == mvt_points(db, "f.geom", z, x, y, f"f.cell_code = '{cell}'")
    assert squares(others) == square_points(db, z, x, y, f"f.cell_code <> '{cell}'")
    for f in got:
        assert not set(f["properties"]) & NEVER


def test_status_and_date_filters_apply_to_points(client: TestClient, db: psycopg.Connection,
                                                 token: Minter) -> None:
    z, x, y = detail_tile()
    county = token("COUNTY_OFFICE", sub="county-tiles")
    query = "?status=RESOLVED,CLOSED&from=2023-01-01&to=2023-12-31"
    got = features(client, f"/tiles/tickets/{z}/{x}/{y}.mvt{query}", "tickets", county)
    where = ("f.status IN ('RESOLVED', 'CLOSED') AND f.created_at >= '2023-01-01T00:00+08' "
             "AND f.created_at < '2024-01-01T00:00+08'")
    expected = mvt_points(db, "f.geom", z, x, y, where)
    assert got and drawn(got) == expected
    assert {f["properties"]["status"] for f in got} <= {"RESOLVED", "CLOSED"}


def test_a_per_cell_count_query_plugs_in_as_a_layer(db: psycopg.Connection) -> None:
    # The shape of the heat map's per-cell SQL: id, a polygon in EPSG:4326, a count.
    rows = ("SELECT c.code AS id, c.geom, (SELECT count(*) FROM tickets t "
            f"WHERE t.cell_code = c.code)::int AS count FROM grid_cells c WHERE c.geom && {ENVELOPE}")
    z = 14
    x, y = tile_of(*CENTRE, z)
    sql, params = tile_query(count_source("heat", rows, buffer=BUFFER), TileKey(z, x, y))
    row = db.execute(sql, params).fetchone()
    assert row is not None
    feats = decode(bytes(row[0]))["heat"]["features"]
    assert {f["properties"]["id"] for f in feats} == sql_codes(db, "grid_cells", z, x, y, MARGIN)
    assert all(isinstance(f["properties"]["count"], int) for f in feats)


# --------------------------------------------------------------------------- datums

@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_basemap_datum_tiles_shift_points_by_the_datum(client: TestClient,
                                                       db: psycopg.Connection,
                                                       crs: Crs) -> None:
    row = db.execute("SELECT code, ST_X(geom), ST_Y(geom) FROM facilities "
                     "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 1",
                     CENTRE).fetchone()
    assert row is not None
    code, lon, lat = row
    z = 16

    def position(path: str, x: int, y: int, at: tuple[float, float]) -> None:
        feats = [f for f in features(client, path, "facilities")
                 if f["properties"]["code"] == code]
        assert len(feats) == 1
        px, py = feats[0]["geometry"]["coordinates"]
        ex, ey = tile_units(*at, z, x, y)
        assert abs(px - ex) <= 1.0 and abs(py - ey) <= 1.0, ((px, py), (ex, ey))

    x, y = tile_of(lon, lat, z)
    position(f"/tiles/facilities/{z}/{x}/{y}.mvt", x, y, (lon, lat))
    shifted = from_wgs84(lon, lat, crs)
    gx, gy = tile_of(*shifted, z)
    position(f"/tiles/facilities/{z}/{gx}/{gy}.mvt?crs={crs.value}", gx, gy, shifted)
    # The shift is hundreds of metres here: the WGS-84 place would be far off the basemap.
    dx, dy = (a - b for a, b in zip(mercator(*shifted), mercator(lon, lat), strict=True))
    assert math.hypot(dx, dy) > 100


# --------------------------------------------------------------------------- HTTP

def test_headers_say_what_may_be_cached(client: TestClient) -> None:
    x, y = tile_of(*CENTRE, 14)
    place = client.get(f"/tiles/zones/14/{x}/{y}.mvt")
    assert place.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert place.headers["cache-control"] == "public, max-age=300"
    assert place.headers["etag"].startswith('"')
    tickets = client.get(f"/tiles/tickets/14/{x}/{y}.mvt")
    assert tickets.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert tickets.headers["cache-control"] == "private, max-age=60"
    assert "Authorization" in tickets.headers["vary"]


def test_a_matching_etag_is_a_304(client: TestClient) -> None:
    x, y = tile_of(*CENTRE, 14)
    path = f"/tiles/communities/14/{x}/{y}.mvt"
    first = client.get(path)
    etag = first.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f'W/{etag}, "x"'}).status_code == 304
    other = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content


@pytest.mark.parametrize(("path", "status", "code", "field"), [
    ("/tiles/zones/23/0/0.mvt", 400, "BAD_USER_INPUT", "z"),
    ("/tiles/zones/-1/0/0.mvt", 400, "BAD_USER_INPUT", "z"),
    ("/tiles/zones/1.5/0/0.mvt", 400, "BAD_USER_INPUT", "z"),
    ("/tiles/zones/a/0/0.mvt", 400, "BAD_USER_INPUT", "z"),
    ("/tiles/zones/2/4/0.mvt", 400, "BAD_USER_INPUT", "x"),
    ("/tiles/zones/2/0/4.mvt", 400, "BAD_USER_INPUT", "y"),
    ("/tiles/zones/14/1e3/0.mvt", 400, "BAD_USER_INPUT", "x"),
    ("/tiles/zones/14/0/99999999999.mvt", 400, "BAD_USER_INPUT", "y"),
    ("/tiles/zones/14/0/0.mvt?crs=EPSG3857", 400, "BAD_USER_INPUT", "crs"),
    ("/tiles/zones/14/0/0.mvt?status=OPEN", 400, "BAD_USER_INPUT", "status"),
    ("/tiles/tickets/14/0/0.mvt?status=OPEN", 400, "BAD_USER_INPUT", "status"),
    ("/tiles/tickets/14/0/0.mvt?from=yesterday", 400, "BAD_USER_INPUT", "from"),
    ("/tiles/tickets/14/0/0.mvt?from=2024-02-01&to=2024-01-01", 400, "BAD_USER_INPUT", "from"),
    ("/tiles/nowhere/1/0/0.mvt", 404, "NOT_FOUND", "layer"),
    ("/tiles/nowhere.json", 404, "NOT_FOUND", "layer"),
    ("/tiles/zones.json?crs=nope", 400, "BAD_USER_INPUT", "crs"),
    ("/tiles/zones/1/0/0.pbf", 404, "NOT_FOUND", None),
])
def test_bad_requests_have_a_stable_code(client: TestClient, path: str, status: int,
                                         code: str, field: str | None) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == code
    assert error["extensions"].get("field") == field
    assert error["message"]


# --------------------------------------------------------------------------- TileJSON

def test_tilejson_describes_a_layer(client: TestClient) -> None:
    doc = client.get("/tiles/compounds.json?crs=GCJ02").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/tiles/compounds/{z}/{x}/{y}.mvt?crs=GCJ02"]
    assert doc["minzoom"] == 12 and doc["maxzoom"] >= 16
    west, south, east, north = doc["bounds"]
    assert 118.5 < west < east < 118.8 and 34.8 < south < north < 35.0
    layer = doc["vector_layers"][0]
    assert layer["id"] == "compounds"
    assert set(layer["fields"]) == {name for name, _ in LAYERS["compounds"].properties}
    x, y = tile_of(*CENTRE, 14)
    url = doc["tiles"][0].replace("{z}", "14").replace("{x}", str(x)).replace("{y}", str(y))
    assert features(client, url.removeprefix("http://testserver"), "compounds")


def test_tiles_index_lists_every_layer(client: TestClient) -> None:
    doc = client.get("/tiles.json").json()
    assert [entry["name"] for entry in doc["layers"]] == [*LAYERS, "heatmap"]
    for entry in doc["layers"]:
        tilejson = client.get(entry["tilejson"].removeprefix("http://testserver"))
        assert tilejson.status_code == 200
        # The page reads each layer's zooms from the index alone: they are its TileJSON's.
        assert (entry["minzoom"], entry["maxzoom"]) == (tilejson.json()["minzoom"],
                                                        tilejson.json()["maxzoom"])


# --------------------------------------------------------------------------- the plan

def plan(db: psycopg.Connection, sql: str, params: dict[str, Any], *, force: bool) -> str:
    # Tiny tables are cheaper to scan than to probe: with seq scans priced out the plan shows
    # whether the filter can use the index at all (a non-sargable one would still scan).
    if force:
        db.execute("SET enable_seqscan = off")
    try:
        return "\n".join(r[0] for r in db.execute("EXPLAIN " + sql, params).fetchall())
    finally:
        db.execute("RESET enable_seqscan")


@pytest.mark.parametrize("layer", list(LAYERS))
def test_every_layer_filters_on_its_gist_index(db: psycopg.Connection, layer: str) -> None:
    x, y = tile_of(*CENTRE, 14)
    found = LAYERS[layer]
    week = PatrolWeek(*week_of(date(2024, 6, 24)), scopes=None,
                      tickets=True) if found.weekly else None
    sql, params = tile_query(layer_source(found, week=week), TileKey(14, x, y))
    assert f"ix_{found.table}_geom" in plan(db, sql, params, force=True)


def test_ticket_tiles_use_the_index_unforced(db: psycopg.Connection) -> None:
    x, y = tile_of(*CENTRE, 16)
    for crs in (Crs.WGS84, Crs.GCJ02):
        sql, params = tile_query(layer_source(LAYERS["tickets"], TicketView(), TicketFilters()),
                                 TileKey(16, x, y, crs))
        assert "ix_tickets_geom" in plan(db, sql, params, force=False)
    sql, params = tile_query(ticket_cell_counts(["371329001001001"], [5]),
                             TileKey(12, *tile_of(*CENTRE, 12)))
    assert "Seq Scan on grid_cells" not in plan(db, sql, params, force=True)
