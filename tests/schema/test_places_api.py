"""Places over GraphQL: every contract field, datums, boxes and batched loading."""

from __future__ import annotations

import psycopg
import pytest
from starlette.testclient import TestClient

from db.queries.places import _list_query
from geo.datum import from_wgs84
from geo.projection import geodesic_distance_m
from geo.types import Crs
from tests.conftest import GraphQLClient

ZONES = """{ zones { code name geometry communities { code } } }"""
COMMUNITIES_DEEP = """{
  communities { code name households population geometry
    zone { code name } street { code name geometry }
    compounds { code name households population community { code } }
    gridCells { code households community { code } } } }"""
SHALLOW = """query ($zone: String) { communities(zoneCode: $zone) {
  code zone { code } street { code } compounds { code } gridCells { code } } }"""
COMMUNITY = """query ($code: String!) { community(code: $code) { code name
  compounds { code geometry(crs: GCJ02) } gridCells { code geometry } } }"""
COMPOUNDS_IN_BOX = """query ($bbox: BBoxInput) { compounds(bbox: $bbox) { code } }"""
CELLS = """query ($c: String) { gridCells(communityCode: $c) { code households geometry } }"""
FACILITIES = """query ($kind: FacilityKind, $c: String, $bbox: BBoxInput) {
  facilities(kind: $kind, communityCode: $c, bbox: $bbox) {
    code name kind geometry(crs: BD09) community { code } } }"""
FACILITY_POINTS = """{ facilities { code geometry } }"""


def test_zones_cover_all_communities(gql: GraphQLClient) -> None:
    zones = gql.data(ZONES)["zones"]
    assert [z["code"] for z in zones] == ["Z1", "Z2", "Z3", "Z4", "Z5"]
    assert sum(len(z["communities"]) for z in zones) == 43
    assert zones[0]["geometry"]["type"] == "MultiPolygon"


def test_communities_with_relations(gql: GraphQLClient) -> None:
    communities = gql.data(COMMUNITIES_DEEP)["communities"]
    assert len(communities) == 43
    assert sum(len(c["compounds"]) for c in communities) == 230
    for c in communities:
        assert c["street"]["code"] == c["code"][:9]
        assert c["geometry"]["type"] == "Polygon"
        assert all(k["community"]["code"] == c["code"] for k in c["compounds"])
        assert all(g["code"].startswith(c["code"]) for g in c["gridCells"])
        assert c["households"] > 0 and c["population"] > c["households"]


def test_deep_community_query_runs_a_constant_number_of_statements(
    client: TestClient, gql: GraphQLClient
) -> None:
    statements: list[str] = []

    observers = client.app.state.db.observers  # type: ignore[attr-defined]
    observers.append(statements.append)
    try:
        gql.data(COMMUNITIES_DEEP)
        deep = len(statements)
        statements.clear()
        all_43 = gql.data(SHALLOW)["communities"]
        many = len(statements)
        statements.clear()
        nine = gql.data(SHALLOW, {"zone": "Z1"})["communities"]
        few = len(statements)
    finally:
        observers.remove(statements.append)
    # communities, zones, streets, compounds, cells, the compounds' and cells' communities,
    # community geometries, street geometries
    assert deep <= 8, statements
    assert (len(all_43), len(nine)) == (43, 9)
    assert many == few == 5  # communities, zones, streets, compounds, cells: one each


@pytest.mark.parametrize(("field", "single"), [
    ("zones", "zone"), ("communities", "community"), ("compounds", "compound"),
    ("gridCells", "gridCell")])
def test_a_list_with_outlines_is_one_statement(client: TestClient, gql: GraphQLClient,
                                               field: str, single: str) -> None:
    """The outlines of a list come with its rows, equal to those loaded one place at a time."""
    statements: list[str] = []
    observers = client.app.state.db.observers  # type: ignore[attr-defined]
    observers.append(statements.append)
    try:
        listed = gql.data(f"{{ {field} {{ code geometry }} }}")[field]
        count = len(statements)
    finally:
        observers.remove(statements.append)
    assert count == 1, statements
    for place in listed[:: max(1, len(listed) // 5)]:
        one = gql.data(f'{{ {single}(code: "{place["code"]}") {{ geometry }} }}')[single]
        assert one["geometry"] == place["geometry"]


def test_a_list_statement_is_composed_once(gql: GraphQLClient) -> None:
    """The same list (table, filters, box, outlines) reuses its composed statement; another
    filter value is a parameter, not a new statement."""
    query = 'query ($c: String) { compounds(communityCode: $c) { code } }'
    first = gql.data(query, {"c": "371329001001"})["compounds"]
    hits = _list_query.cache_info().hits
    other = gql.data(query, {"c": "371329001002"})["compounds"]
    assert _list_query.cache_info().hits == hits + 1
    assert first and other and {c["code"][:12] for c in first} == {"371329001001"}
    assert {c["code"][:12] for c in other} == {"371329001002"}


def test_community_by_code_and_missing(gql: GraphQLClient) -> None:
    c = gql.data(COMMUNITY, {"code": "371329001001"})["community"]
    assert c["code"] == "371329001001" and c["compounds"] and c["gridCells"]
    assert gql.data(COMMUNITY, {"code": "000"})["community"] is None


def test_bbox_filters_what_intersects(gql: GraphQLClient, db: psycopg.Connection) -> None:
    box = {"west": 118.65, "south": 34.91, "east": 118.66, "north": 34.92}
    got = {c["code"] for c in gql.data(COMPOUNDS_IN_BOX, {"bbox": box})["compounds"]}
    want = {r[0] for r in db.execute(
        "SELECT code FROM compounds WHERE ST_Intersects(geom, "
        "ST_MakeEnvelope(118.65, 34.91, 118.66, 34.92, 4326))").fetchall()}
    assert got == want and got


def test_gcj02_bbox_selects_the_same_place(gql: GraphQLClient) -> None:
    w, s = from_wgs84(118.65, 34.91, Crs.GCJ02)
    e, n = from_wgs84(118.66, 34.92, Crs.GCJ02)
    shifted = {"west": w, "south": s, "east": e, "north": n, "crs": "GCJ02"}
    plain = {"west": 118.65, "south": 34.91, "east": 118.66, "north": 34.92}
    a = {c["code"] for c in gql.data(COMPOUNDS_IN_BOX, {"bbox": shifted})["compounds"]}
    b = {c["code"] for c in gql.data(COMPOUNDS_IN_BOX, {"bbox": plain})["compounds"]}
    assert b <= a  # the converted outline's envelope holds the original box


def test_cells_partition_a_community(gql: GraphQLClient) -> None:
    cells = gql.data(CELLS, {"c": "371329001001"})["gridCells"]
    assert cells and all(300 <= c["households"] <= 500 for c in cells)
    assert [c["code"] for c in cells] == sorted(c["code"] for c in cells)


def test_facilities_filters_and_datum(gql: GraphQLClient) -> None:
    stations = gql.data(FACILITIES, {"kind": "STATION"})["facilities"]
    assert len(stations) == 125 and {f["kind"] for f in stations} == {"STATION"}
    plain = {f["code"]: f["geometry"]["coordinates"]
             for f in gql.data(FACILITY_POINTS)["facilities"]}
    for f in stations[:10]:
        lon, lat = plain[f["code"]]
        assert f["geometry"]["coordinates"] == list(from_wgs84(lon, lat, Crs.BD09))
    mine = gql.data(FACILITIES, {"c": stations[0]["community"]["code"]})["facilities"]
    assert all(f["community"]["code"] == stations[0]["community"]["code"] for f in mine)


def test_geometry_in_gcj02_is_the_wgs84_geometry_shifted(gql: GraphQLClient) -> None:
    query = """{ compounds(communityCode: "371329001001") { code
      wgs: geometry gcj: geometry(crs: GCJ02) } }"""
    for k in gql.data(query)["compounds"]:
        for (lon, lat), (glon, glat) in zip(k["wgs"]["coordinates"][0], k["gcj"]["coordinates"][0]):
            expected = from_wgs84(lon, lat, Crs.GCJ02)
            assert abs(glon - expected[0]) < 1e-6 and abs(glat - expected[1]) < 1e-6
            assert 300 < geodesic_distance_m(lon, lat, glon, glat) < 800


ONE_EACH = """query ($zone: String!, $compound: String!, $cell: String!, $facility: String!) {
  zone(code: $zone) { code name street { code } }
  compound(code: $compound) { code name households community { code } }
  gridCell(code: $cell) { code households community { code } }
  facility(code: $facility) { code name kind community { code } } }"""


def test_one_place_of_each_kind_by_code(gql: GraphQLClient, db: psycopg.Connection) -> None:
    compound = db.execute("SELECT code, name, households, community_code FROM compounds "
                          "ORDER BY code DESC LIMIT 1").fetchone()
    cell = db.execute("SELECT code, households, community_code FROM grid_cells "
                      "ORDER BY code DESC LIMIT 1").fetchone()
    facility = db.execute("SELECT code, name, kind, community_code FROM facilities "
                          "WHERE kind = 'CLINIC' ORDER BY code LIMIT 1").fetchone()
    assert compound and cell and facility
    data = gql.data(ONE_EACH, {"zone": "Z3", "compound": compound[0], "cell": cell[0],
                               "facility": facility[0]})
    assert data["zone"]["code"] == "Z3" and data["zone"]["street"]["code"]
    assert data["compound"] == {"code": compound[0], "name": compound[1],
                                "households": compound[2], "community": {"code": compound[3]}}
    assert data["gridCell"] == {"code": cell[0], "households": cell[1],
                                "community": {"code": cell[2]}}
    assert data["facility"] == {"code": facility[0], "name": facility[1], "kind": "CLINIC",
                                "community": {"code": facility[3]}}
    missing = gql.data(ONE_EACH, {"zone": "Z9", "compound": "X", "cell": "000000000000000",
                                  "facility": "F%"})
    assert missing == {"zone": None, "compound": None, "gridCell": None, "facility": None}


def test_facility_kinds_have_chinese_titles(gql: GraphQLClient) -> None:
    titles = {(f["kind"], f["kindName"])
              for f in gql.data("{ facilities { kind kindName } }")["facilities"]}
    assert titles == {("STATION", "驿站"), ("CLINIC", "社区诊疗点"), ("CANTEEN", "幸福食堂"),
                      ("SERVICE_ROOM", "社服用房")}
