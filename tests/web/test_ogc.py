"""OGC API Features at /ogc: over HTTP with the test client, and with GDAL as the client."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from db.queries.layers import LAYERS
from geo.projection import to_metric
from tests.conftest import Minter, serving
from web.settings import Settings

CONFORMANCE = {
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
}
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CELL = "371329001001001"
# A box over the north-west of the county seat: a few communities' worth of features.
BOX = (118.62, 34.92, 118.64, 34.935)
ENVELOPE = "ST_MakeEnvelope(%s, %s, %s, %s, 4326)"


def rels(body: dict[str, Any]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body["links"]}


def path_of(href: str) -> str:
    return href.removeprefix("http://testserver")


def all_pages(client: TestClient, first: str, **headers: str) -> list[dict[str, Any]]:
    """Every page from `first`, following `next` links."""
    pages, url = [], first
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        url = path_of(rels(page).get("next", ""))
    return pages


def one(db: psycopg.Connection, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    row = db.execute(sql, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return tuple(row)


def codes_in_box(db: psycopg.Connection, table: str, box: tuple[float, ...]) -> set[str]:
    rows = db.execute(f"SELECT code FROM {table} WHERE ST_Intersects(geom, {ENVELOPE})", box)
    return {r[0] for r in rows}


# --- landing page, conformance, API definition -----------------------------------------

def test_landing_page_links_to_what_a_client_needs(client: TestClient) -> None:
    response = client.get("/ogc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    links = rels(response.json())
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    for href in links.values():
        assert client.get(path_of(href)).status_code == 200, href


def test_conformance_declares_core_geojson_and_oas30(client: TestClient) -> None:
    assert set(client.get("/ogc/conformance").json()["conformsTo"]) == CONFORMANCE


def test_the_api_definition_is_openapi_30(client: TestClient) -> None:
    response = client.get("/ogc/api")
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = response.json()
    assert doc["openapi"].startswith("3.0")
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]
    limit = next(p for p in items["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}


# --- collections -----------------------------------------------------------------------

def test_every_catalogue_layer_is_a_collection_with_its_extent(client: TestClient,
                                                               db: psycopg.Connection) -> None:
    body = client.get("/ogc/collections").json()
    by_id = {c["id"]: c for c in body["collections"]}
    assert set(by_id) == set(LAYERS)
    w, s, e, n = one(db, "SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) "
                     "FROM (SELECT ST_Extent(geom) AS x FROM compounds) q")
    compounds = client.get("/ogc/collections/compounds").json()
    assert compounds == by_id["compounds"]
    assert compounds["extent"]["spatial"]["crs"] == CRS84
    assert compounds["extent"]["spatial"]["bbox"][0] == pytest.approx([w, s, e, n], abs=1e-9)
    assert rels(compounds)["items"].endswith("/ogc/collections/compounds/items")


def test_extents_follow_a_change_of_the_places_and_are_computed_once_per_change(
        settings: Settings, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept by the places' data version (read here on every request): unchanged places are
    not measured again; a facility moved 0.05° east moves the collection's extent with it."""
    from resolvers import layers
    from web import ogc
    from web.app import create_app

    monkeypatch.setattr(ogc, "VERSION_CHECK_S", 0.0)
    computed = 0
    measure = layers.extents

    async def counted(*args: Any) -> dict[str, layers.Extent | None]:
        nonlocal computed
        computed += 1
        return await measure(*args)

    monkeypatch.setattr(layers, "extents", counted)
    code, east = one(db, "SELECT code, ST_X(geom) FROM facilities ORDER BY ST_X(geom) DESC "
                         "LIMIT 1")

    def facilities_east(client: TestClient) -> float:
        bbox = client.get("/ogc/collections/facilities").json()["extent"]["spatial"]["bbox"]
        return float(bbox[0][2])

    with TestClient(create_app(settings)) as client:
        assert [facilities_east(client) for _ in range(2)] == [pytest.approx(east)] * 2
        client.get("/ogc/collections")
        assert computed == 1
        db.execute("UPDATE facilities SET geom = ST_Translate(geom, 0.05, 0) WHERE code = %s",
                   (code,))
        try:
            assert [facilities_east(client) for _ in range(2)] == \
                [pytest.approx(east + 0.05)] * 2
            assert computed == 2
        finally:
            db.execute("UPDATE facilities SET geom = ST_Translate(geom, -0.05, 0) "
                       "WHERE code = %s", (code,))
        assert facilities_east(client) == pytest.approx(east) and computed == 3


def test_collections_have_chinese_titles_and_facilities_their_kind_names(
        client: TestClient, db: psycopg.Connection) -> None:
    titles = {c["id"]: c["title"] for c in client.get("/ogc/collections").json()["collections"]}
    assert titles == {"streets": "街道", "zones": "片区", "communities": "社区",
                      "compounds": "小区", "grid_cells": "网格", "buildings": "楼栋",
                      "facilities": "服务设施",
                      "waters": "水系", "roads": "道路", "tickets": "工单",
                      "patrol_coverage": "巡查覆盖"}
    features = client.get("/ogc/collections/facilities/items?limit=1000").json()["features"]
    assert len(features) == one(db, "SELECT count(*) FROM facilities")[0]
    assert {(f["properties"]["kind"], f["properties"]["kind_name"]) for f in features} == {
        ("STATION", "驿站"), ("CLINIC", "社区诊疗点"), ("CANTEEN", "幸福食堂"),
        ("SERVICE_ROOM", "社服用房")}


def test_an_unknown_collection_is_a_404_with_a_code(client: TestClient) -> None:
    for path in ("/ogc/collections/parcels", "/ogc/collections/parcels/items",
                 "/ogc/collections/parcels/items/X1"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json()["code"] == "NOT_FOUND"


# --- items -----------------------------------------------------------------------------

def test_paging_reaches_every_feature_exactly_once(client: TestClient,
                                                   db: psycopg.Connection) -> None:
    pages = all_pages(client, "/ogc/collections/compounds/items?limit=37")
    codes = [f["id"] for page in pages for f in page["features"]]
    assert len(pages) == 7  # 230 = 6 * 37 + 8
    assert len(codes) == len(set(codes)) == 230
    assert set(codes) == {r[0] for r in db.execute("SELECT code FROM compounds")}
    assert all(p["numberMatched"] == 230 for p in pages)
    assert [p["numberReturned"] for p in pages] == [len(p["features"]) for p in pages]
    assert "prev" not in rels(pages[0]) and "next" not in rels(pages[-1])
    assert "offset=0" in rels(pages[1])["prev"]


def ticket_count(db: psycopg.Connection) -> int:
    """Tickets now: other tests file some into the shared demo database."""
    row = db.execute("SELECT count(*) FROM tickets").fetchone()
    assert row is not None and row[0] >= 9746
    return int(row[0])


def test_limit_defaults_to_100_and_is_capped_at_1000(client: TestClient, token: Minter,
                                                     db: psycopg.Connection) -> None:
    assert client.get("/ogc/collections/grid_cells/items").json()["numberReturned"] == 100
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='county-ogc')}"}
    big = client.get("/ogc/collections/tickets/items?limit=5000", headers=county).json()
    assert big["numberReturned"] == 1000 and big["numberMatched"] == ticket_count(db)


def test_an_offset_past_the_end_is_an_empty_page(client: TestClient) -> None:
    body = client.get("/ogc/collections/zones/items?offset=50").json()
    assert body["features"] == [] and body["numberReturned"] == 0
    assert body["numberMatched"] == 5


def test_an_offset_beyond_the_cap_is_refused_with_a_code(client: TestClient) -> None:
    assert client.get("/ogc/collections/zones/items?offset=10000").status_code == 200
    response = client.get("/ogc/collections/tickets/items?offset=10001")
    assert response.status_code == 400
    assert response.json()["code"] == "OFFSET_TOO_LARGE"
    assert response.json()["field"] == "offset"
    # A `next` link may number a page past the cap: it continues after a key, skipping nothing.
    deep = client.get("/ogc/collections/compounds/items?offset=20000&after=371329001001C01")
    assert deep.status_code == 200 and deep.json()["numberReturned"] > 0
    assert client.get("/ogc/collections/tickets/items?after=x").status_code == 400


def test_keyset_pages_give_every_ticket_once(client: TestClient, token: Minter,
                                             db: psycopg.Connection) -> None:
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='county-keyset')}"}
    first = "/ogc/collections/tickets/items?limit=1000"
    pages = all_pages(client, first, **county)
    ids = [f["id"] for page in pages for f in page["features"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {r[0] for r in db.execute("SELECT code FROM tickets")}
    assert all("after=" in rels(page)["next"] for page in pages[:-1])
    # The public's squares page the same way, each once.
    squares = [f["id"] for page in all_pages(client, "/ogc/collections/tickets/items?limit=100")
               for f in page["features"]]
    assert len(squares) == len(set(squares)) > 100


def test_items_are_geojson_with_a_timestamp(client: TestClient) -> None:
    response = client.get("/ogc/collections/facilities/items?limit=3")
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 3
    assert body["timeStamp"].endswith("Z")
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert set(feature["properties"]) == {name for name, _ in LAYERS["facilities"].properties}


def test_bbox_selects_what_intersects_the_box(client: TestClient,
                                              db: psycopg.Connection) -> None:
    for table in ("compounds", "facilities", "grid_cells"):
        pages = all_pages(client, f"/ogc/collections/{table}/items?bbox="
                          + ",".join(map(str, BOX)))
        got = {f["id"] for page in pages for f in page["features"]}
        assert got == codes_in_box(db, table, BOX) and got, table


def test_a_single_feature_and_an_unknown_one(client: TestClient) -> None:
    response = client.get("/ogc/collections/compounds/items/371329001001C01")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == "371329001001C01"
    assert feature["properties"]["name"] == "翡翠星城"
    assert {"self", "collection"} <= set(rels(feature))
    missing = client.get("/ogc/collections/compounds/items/371329001001C99")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("query", [
    "limit=0", "limit=abc", "limit=-5", "offset=-1", "offset=x",
    "bbox=118.7,34.9,118.6,34.95",  # west > east
    "bbox=118.6,34.95,118.7,34.9",  # south > north
    "bbox=118.6,34.9,190,34.95",  # out of range
    "bbox=a,b,c,d", "bbox=1,2,3", "bbox=118.6,34.9,nan,34.95",
    "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326", "f=html", "colour=red",
])
def test_bad_parameters_are_400_with_a_code(client: TestClient, query: str) -> None:
    response = client.get(f"/ogc/collections/compounds/items?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == "BAD_USER_INPUT" and body["description"]


# --- media types and caching -----------------------------------------------------------

def test_accept_and_f_choose_the_media_type(client: TestClient) -> None:
    url = "/ogc/collections/zones/items"
    as_json = client.get(url, headers={"Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json"
    assert client.get(url, headers={"Accept": "text/html"}).status_code == 406
    forced = client.get(url + "?f=json", headers={"Accept": "text/html"})
    assert forced.status_code == 200 and forced.json()["numberMatched"] == 5
    browser = client.get(url, headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.headers["content-type"] == "application/geo+json"


def test_public_layers_are_cacheable_with_an_etag(client: TestClient) -> None:
    url = "/ogc/collections/compounds/items?limit=10"
    first = client.get(url)
    assert first.headers["cache-control"] == "public, max-age=300"
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = client.get(url + "&offset=10", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    meta = client.get("/ogc/collections")
    assert client.get("/ogc/collections",
                      headers={"If-None-Match": meta.headers["etag"]}).status_code == 304


def test_ticket_responses_are_private(client: TestClient, token: Minter) -> None:
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='county-ogc')}"}
    for path in ("/ogc/collections/tickets", "/ogc/collections/tickets/items?limit=1",
                 "/ogc/collections/tickets/items/T20230101-0000001"):
        response = client.get(path, headers=county)
        assert response.status_code == 200, path
        assert response.headers["cache-control"].startswith("private")
        assert "Authorization" in response.headers["vary"]
        assert "etag" not in response.headers


# --- tickets: what each caller sees ----------------------------------------------------

def on_grid_centre(lon: float, lat: float) -> bool:
    x, y = to_metric(lon, lat)
    # 7 decimals of a degree are about 1 cm; allow a few.
    return all(abs((v - 50) - 100 * round((v - 50) / 100)) < 0.05 for v in (x, y))


def squares_of_3_or_more(db: psycopg.Connection) -> dict[tuple[int, int], int]:
    """Tickets per 100 m square (EPSG:4549), the squares holding 3 or more."""
    return {(r[0], r[1]): r[2] for r in db.execute(
        "SELECT floor(ST_X(geom_metric) / 100)::bigint, floor(ST_Y(geom_metric) / 100)::bigint, "
        "count(*) FROM tickets GROUP BY 1, 2 HAVING count(*) >= 3")}


def test_the_public_sees_only_counts_per_square_of_3_or_more(client: TestClient,
                                                             db: psycopg.Connection) -> None:
    responses = []
    url = "/ogc/collections/tickets/items?limit=1000"
    while url:
        response = client.get(url)
        responses.append(response)
        url = path_of(rels(response.json()).get("next", ""))
    features = [f for r in responses for f in r.json()["features"]]
    allowed = {name for name, _ in LAYERS["tickets"].properties}
    got = {}
    for f in features:
        p = f["properties"]
        assert set(p) == allowed
        assert p["precise"] is False and p["count"] >= 3
        assert all(p[k] is None for k in allowed - {"precise", "count"}), f
        assert on_grid_centre(*f["geometry"]["coordinates"]), f
        _, ix, iy = f["id"].split("-")
        got[(int(ix), int(iy))] = p["count"]
    assert got == squares_of_3_or_more(db) and len(got) > 100
    personal = {v for row in db.execute("SELECT reporter_name, reporter_phone, description, code "
                                        "FROM tickets") for v in row if v}
    text = "".join(r.text for r in responses)
    for word in ("reporter", "phone", "description"):
        assert word not in text
    for sample in sorted(personal):
        assert sample not in text
    square = features[0]["id"]
    one_square = client.get(f"/ogc/collections/tickets/items/{square}").json()
    assert one_square["properties"]["count"] == features[0]["properties"]["count"]
    assert client.get("/ogc/collections/tickets/items/T20230101-0000001").status_code == 404


def test_a_grid_worker_sees_exact_points_of_their_cell_only(client: TestClient, token: Minter,
                                                            db: psycopg.Connection) -> None:
    # The cell's extent and about 500 m around it, to catch other cells' squares too.
    w, s, e, n = one(db, "SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM "
                     "(SELECT ST_Expand(ST_Extent(geom), 0.005) AS x FROM grid_cells "
                     "WHERE code = %s) q", (CELL,))
    exact = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT code, ST_X(geom), ST_Y(geom) FROM tickets WHERE cell_code = %s", (CELL,))}
    headers = {"Authorization": f"Bearer {token('GRID_WORKER', CELL, sub='w-ogc')}"}
    pages = all_pages(client, f"/ogc/collections/tickets/items?limit=1000&bbox={w},{s},{e},{n}",
                      **headers)
    features = [f for page in pages for f in page["features"]]
    mine = {f["id"]: f for f in features if f["properties"]["cell_code"] == CELL}
    assert set(mine) == set(exact) and len(mine) > 10
    for code, f in mine.items():
        assert f["properties"]["precise"] is True and f["properties"]["level"]
        assert f["geometry"]["coordinates"] == pytest.approx(exact[code], abs=1e-7)
    others = [f for f in features if f["properties"]["cell_code"] != CELL]
    assert others, "the box should catch squares of other cells' tickets too"
    for f in others:
        assert f["properties"]["precise"] is False and f["properties"]["code"] is None
        assert f["properties"]["count"] >= 3 and f["id"].startswith("square-")
        assert on_grid_centre(*f["geometry"]["coordinates"])


# --- GDAL as the client ----------------------------------------------------------------

@pytest.fixture(scope="module")
def ogc_url(settings: Settings) -> Iterator[str]:
    with serving(settings) as url:
        yield f"{url}/ogc"


def gdal(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done


def gpkg_rows(path: Path, layer: str, columns: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute(f"SELECT {columns} FROM {layer}"))


def test_ogrinfo_lists_every_layer(ogc_url: str) -> None:
    out = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{ogc_url}").stdout
    listed = {line.split(":")[1].split("(")[0].strip() for line in out.splitlines()
              if line[:1].isdigit()}
    assert listed == set(LAYERS)


def test_ogr2ogr_pages_through_every_compound(ogc_url: str, tmp_path: Path,
                                              db: psycopg.Connection) -> None:
    out = tmp_path / "compounds.gpkg"
    done = gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{ogc_url}", "compounds",
                "-oo", "PAGE_SIZE=50", "--debug", "on")
    assert "offset=200" in done.stderr  # it really followed `next` links
    columns = "code, name, community_code, households, population"
    expected = sorted(tuple(r) for r in db.execute(f"SELECT {columns} FROM compounds"))
    assert len(expected) == 230
    assert gpkg_rows(out, "compounds", columns) == expected


def test_a_gdal_spatial_filter_matches_sql(ogc_url: str, tmp_path: Path,
                                           db: psycopg.Connection) -> None:
    for table in ("facilities", "compounds"):
        out = tmp_path / f"{table}.gpkg"
        done = gdal("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{ogc_url}", table,
                    "-spat", *map(str, BOX), "-oo", "PAGE_SIZE=20", "--debug", "on")
        assert "bbox=" in done.stderr  # the server filtered, not only GDAL
        got = {r[0] for r in gpkg_rows(out, table, "code")}
        assert got == codes_in_box(db, table, BOX) and got, table


def test_gdal_types_ticket_times_as_dates(ogc_url: str, token: Minter,
                                          db: psycopg.Connection) -> None:
    """Times carry an offset (Asia/Shanghai, +08:00), so GDAL reads them as DateTime, the day
    of creation as Date, and the values are the database's instants."""
    auth = f"Authorization: Bearer {token('COUNTY_OFFICE', sub='ogr-dates')}"
    out = gdal("ogrinfo", "-ro", "--config", "GDAL_HTTP_HEADERS", auth, f"OAPIF:{ogc_url}",
               "tickets", "-oo", "PAGE_SIZE=5", "-fid", "1").stdout
    assert "created_at: DateTime" in out and "due_at: DateTime" in out
    assert "created_on: Date " in out
    code = re.search(r"code \(String\) = (\S+)", out)
    assert code is not None
    created, due = db.execute("SELECT created_at, due_at FROM tickets WHERE code = %s",
                              (code.group(1),)).fetchone()  # type: ignore[misc]
    assert gdal_time(out, "due_at") == due.replace(microsecond=0)
    assert gdal_time(out, "created_at") == created.replace(microsecond=0)


def gdal_time(ogrinfo_out: str, field: str) -> datetime:
    """A DateTime field as ogrinfo prints it (2024/06/30 18:00:00+08)."""
    shown = re.search(rf"{field} \(DateTime\) = (\S+ \S+)", ogrinfo_out)
    assert shown is not None, field
    return datetime.strptime(shown.group(1) + "00", "%Y/%m/%d %H:%M:%S%z")
