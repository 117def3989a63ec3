"""Buildings 楼栋 as a type and a map layer: a compound's buildings, the building at a point,
and its building head 楼栋长 for the field workers and staff whose scope covers it — nobody
else, and never in tiles."""

from __future__ import annotations

import math

import mapbox_vector_tile
import psycopg
import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQLClient, Minter

AT = """query ($p: PointInput!) { locate(point: $p) {
  compound { code } building { code floors households head { code name }
    compound { code } gridCell { code } } } }"""


@pytest.fixture(scope="module")
def building(db: psycopg.Connection) -> tuple[str, str, str, str, str, float, float]:
    """A building with a head: code, cell, compound, head code and name, a point inside."""
    row = db.execute("""
        SELECT b.code, b.cell_code, b.compound_code, v.code, v.name,
               ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom))
        FROM buildings b JOIN volunteers v ON v.building_code = b.code
          AND v.role = 'BUILDING_HEAD'
        ORDER BY b.code LIMIT 1""").fetchone()
    assert row is not None
    return row  # type: ignore[return-value]


def test_a_compound_lists_its_buildings(gql: GraphQLClient, db: psycopg.Connection) -> None:
    code, expected = db.execute(
        "SELECT compound_code, array_agg(code ORDER BY code) FROM buildings "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()  # type: ignore[misc]
    data = gql.data("query ($c: String!) { compound(code: $c) { buildings { code floors } } }",
                    {"c": code})
    buildings = data["compound"]["buildings"]
    assert [b["code"] for b in buildings] == expected
    assert all(b["floors"] in (6, 11, 18, 26) for b in buildings)


def test_the_building_at_a_point_with_its_head_for_the_cells_worker(
        gql: GraphQLClient, token: Minter, building: tuple) -> None:
    code, cell, compound, head, name, lon, lat = building
    worker = gql.as_(token("GRID_WORKER", cell)).data(AT, {"p": {"lon": lon, "lat": lat}})
    found = worker["locate"]["building"]
    assert (found["code"], found["compound"]["code"], found["gridCell"]["code"]) == (
        code, compound, cell)
    assert found["head"] == {"code": head, "name": name}


@pytest.mark.parametrize(("role", "scope", "sees"), [
    ("PUBLIC", None, False), ("RESIDENT", None, False), ("PLANNER", None, False),
    ("UNIT", "PC01", False), ("GRID_WORKER", "elsewhere", False),
    ("SUPERVISOR", "compound", True), ("SUPERVISOR", "elsewhere", False),
    ("COMMUNITY_STAFF", "community", True), ("STREET_OFFICER", "street", True),
    ("COMMUNITY_STAFF", "elsewhere", False), ("COUNTY_OFFICE", None, True),
])
def test_who_sees_the_building_head(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                    building: tuple, role: str, scope: str | None,
                                    sees: bool) -> None:
    code, cell, compound, head, name, lon, lat = building
    other = db.execute("SELECT code FROM grid_cells WHERE community_code <> %s ORDER BY code "
                       "LIMIT 1", (cell[:12],)).fetchone()
    assert other is not None
    scopes = {"compound": compound, "community": cell[:12], "street": cell[:9],
              "elsewhere": other[0] if role != "SUPERVISOR" else other[0][:12] + "C01",
              "PC01": "PC01"}
    client = gql if role == "PUBLIC" else gql.as_(
        token(role, *([scopes[scope]] if scope else [])))
    found = client.data(AT, {"p": {"lon": lon, "lat": lat}})["locate"]["building"]
    assert found["code"] == code
    assert (found["head"] == {"code": head, "name": name}) if sees else found["head"] is None


def test_buildings_are_a_tile_layer_without_personal_data(client: TestClient,
                                                          building: tuple) -> None:
    code, *_, lon, lat = building
    z = 16
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    tile = client.get(f"/tiles/buildings/{z}/{x}/{y}.mvt")
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["buildings"]["features"]
    mine = [f["properties"] for f in features if f["properties"]["code"] == code]
    assert len(mine) == 1
    assert set(mine[0]) == {"code", "compound_code", "cell_code", "floors", "households"}
    assert client.get(f"/tiles/buildings/13/{x >> 3}/{y >> 3}.mvt").content == b""
