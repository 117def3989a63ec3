"""Zones 片区 as a working level: a ZONE_OFFICER's token names zones and covers their
communities (and nothing else), tickets filter by zone, and a zone takes over a stuck
community-level ticket once, before it climbs to the street — shown in the ticket's history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from resolvers.actor import Actor, Role
from tests.conftest import GraphQLClient, Minter
from tests.schema.test_lifecycle import create
from web.app import create_app
from web.settings import Settings

PAGE = """query ($f: TicketFilter) { tickets(filter: $f, first: 200) {
  totalCount edges { node { code community { code } } } } }"""
COORDINATE = """mutation ($input: CoordinateTicketInput!) { coordinateTicket(input: $input) {
  ticket { version level dueAt events { action note } } errors { code field } } }"""
ESCALATE = """mutation ($input: EscalateTicketInput!) { escalateTicket(input: $input) {
  ticket { version level } errors { code } } }"""


@pytest.fixture(scope="module")
def zone(db: psycopg.Connection) -> tuple[str, set[str], dict[str, float]]:
    """Z1: its communities, and a point inside a compound of one of them."""
    communities = {r[0] for r in db.execute(
        "SELECT code FROM communities WHERE zone_code = 'Z1'")}
    lon, lat = db.execute(
        "SELECT ST_X(ST_PointOnSurface(k.geom)), ST_Y(ST_PointOnSurface(k.geom)) "
        "FROM compounds k JOIN communities c ON c.code = k.community_code "
        "WHERE c.zone_code = 'Z1' ORDER BY k.code LIMIT 1").fetchone()  # type: ignore[misc]
    return "Z1", communities, {"lon": lon, "lat": lat}


def test_a_zone_covers_its_zone_exactly_and_its_communities_by_prefix() -> None:
    officer = Actor("z", Role.ZONE_OFFICER, ("Z1",)).in_zones(
        {"Z1": ("371329001001", "371329001002"), "Z10": ("371329002001",)})
    assert officer.scopes == ("371329001001", "371329001002") and officer.zones == ("Z1",)
    assert officer.covers(["371329001002003"]) and officer.covers(["Z1"])
    assert not officer.covers(["Z10"]) and not officer.covers(["371329002001001"])
    assert not officer.covers(["371329001"])  # not the street


def test_the_zone_officer_sees_the_zones_tickets_and_no_others(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, zone: tuple) -> None:
    code, communities, _ = zone
    officer = gql.as_(token("ZONE_OFFICER", code))
    page = officer.data(PAGE)["tickets"]
    expected = db.execute("SELECT count(*) FROM tickets t JOIN communities c "
                          "ON c.code = t.community_code WHERE c.zone_code = %s",
                          (code,)).fetchone()
    assert (page["totalCount"],) == expected and page["totalCount"] > 0
    assert {e["node"]["community"]["code"] for e in page["edges"]} <= communities


def test_tickets_filter_by_zone(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                zone: tuple) -> None:
    county = gql.as_(token("COUNTY_OFFICE"))
    page = county.data(PAGE, {"f": {"zoneCode": "Z2", "status": ["SUBMITTED"]}})["tickets"]
    expected = db.execute("SELECT count(*) FROM tickets WHERE zone_code = 'Z2' "
                          "AND status = 'SUBMITTED'").fetchone()
    assert (page["totalCount"],) == expected and page["totalCount"] > 0
    z2 = {r[0] for r in db.execute("SELECT code FROM communities WHERE zone_code = 'Z2'")}
    assert {e["node"]["community"]["code"] for e in page["edges"]} <= z2
    # the zone officer of Z1 asking for Z2 gets nothing of Z2
    assert gql.as_(token("ZONE_OFFICER", "Z1")).data(
        PAGE, {"f": {"zoneCode": "Z2"}})["tickets"]["totalCount"] == 0


@pytest.fixture(scope="module")
def local(settings: Settings) -> Iterator[TestClient]:
    """A client on loopback, where development tokens are issued."""
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.mark.parametrize("scope", ["371329001001", "Z9", "371329001"])
def test_a_zone_officer_token_must_name_zones(client: TestClient, local: TestClient,
                                              token: Minter, scope: str) -> None:
    response = client.post("/graphql", json={"query": "{ zones { code } }"},
                           headers={"Authorization": f"Bearer {token('ZONE_OFFICER', scope)}"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refused = local.post("/auth/dev-token", json={"role": "ZONE_OFFICER", "scopes": [scope]})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNKNOWN_SCOPE"
    granted = local.post("/auth/dev-token", json={"role": "ZONE_OFFICER", "scopes": ["Z2"]})
    assert granted.status_code == 200
    zone_token = granted.json()["token"]
    answer = client.post("/graphql", json={"query": "{ zones { code } }"},
                         headers={"Authorization": f"Bearer {zone_token}"})
    assert answer.status_code == 200 and "errors" not in answer.json()


def _coordinate(client: GraphQLClient, code: str, version: int) -> dict[str, Any]:
    out: dict[str, Any] = client.data(COORDINATE, {"input": {
        "code": code, "expectedVersion": version, "note": "协调物业与水务"}})["coordinateTicket"]
    return out


def test_a_zone_takes_over_a_community_ticket_once(gql: GraphQLClient, token: Minter,
                                                    db: psycopg.Connection, zone: tuple) -> None:
    code, _, point = zone
    ticket = create(gql.as_(token("RESIDENT", sub="zone-resident")), point, "P02")
    due_before = db.execute("SELECT due_at FROM tickets WHERE code = %s",
                            (ticket["code"],)).fetchone()
    officer = gql.as_(token("ZONE_OFFICER", code))
    # another zone's officer and community staff may not
    assert gql.as_(token("ZONE_OFFICER", "Z5")).error(COORDINATE, {"input": {
        "code": ticket["code"], "expectedVersion": ticket["version"]}})["extensions"][
        "code"] == "FORBIDDEN"
    assert gql.as_(token("COMMUNITY_STAFF", ticket["community"]["code"])).error(
        COORDINATE, {"input": {"code": ticket["code"], "expectedVersion": ticket["version"]}})[
        "extensions"]["code"] == "FORBIDDEN"
    stale = _coordinate(officer, ticket["code"], ticket["version"] + 5)
    assert stale["errors"][0]["code"] == "CONFLICT"
    done = _coordinate(officer, ticket["code"], ticket["version"])
    assert done["errors"] == [] and done["ticket"]["level"] == "COMMUNITY"
    last = done["ticket"]["events"][-1]
    assert last == {"action": "ZONE_COORDINATED", "note": "片区协调：片区接手督办，重新计时：协调物业与水务"}
    due_after = db.execute("SELECT due_at FROM tickets WHERE code = %s",
                           (ticket["code"],)).fetchone()
    assert due_before is not None and due_after is not None and due_after[0] > due_before[0]
    again = _coordinate(officer, ticket["code"], done["ticket"]["version"])
    assert again["errors"][0]["code"] == "INVALID_TRANSITION"
    # once at street level, the zone's turn has passed
    other = create(gql.as_(token("RESIDENT", sub="zone-resident")), point, "P03")
    lifted = gql.as_(token("COUNTY_OFFICE")).data(ESCALATE, {"input": {
        "code": other["code"], "expectedVersion": other["version"]}})["escalateTicket"]
    assert lifted["ticket"]["level"] == "STREET"
    late = _coordinate(officer, other["code"], lifted["ticket"]["version"])
    assert late["errors"][0]["code"] == "INVALID_TRANSITION"


def test_a_zone_officer_reads_their_zone_exactly_in_area_statistics(
        gql: GraphQLClient, token: Minter) -> None:
    # One month: a zone officer has exact counts only in its zone (the disclosure rule).
    query = """{ areaStats(level: STREET, byZone: true, from: "2024-06-01", to: "2024-06-30") {
      code exact tickets } }"""
    rows = {r["code"]: r for r in gql.as_(token("ZONE_OFFICER", "Z1")).data(query)["areaStats"]}
    assert rows["Z1"]["exact"] is True
    assert all(r["exact"] is False for c, r in rows.items() if c != "Z1")


ZONE_HEAT = """query ($z: String, $r: HeatmapResolution) {
  heatmap(bbox: {west: 118.60, south: 34.88, east: 118.71, north: 34.96},
          from: "2024-01-01T00:00:00+08:00", to: "2024-04-01T00:00:00+08:00",
          resolution: $r, zoneCode: $z) { cells { id count zScore hotspot } } }"""


@pytest.mark.parametrize("resolution", ["GRID_CELL", "H3_8"])
def test_the_heat_map_of_a_zone_is_the_countys_cut_to_the_zone(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, resolution: str) -> None:
    county = gql.as_(token("COUNTY_OFFICE"))
    whole = {c["id"]: c for c in county.data(ZONE_HEAT, {"r": resolution})["heatmap"]["cells"]}
    zone = {c["id"]: c for c in county.data(
        ZONE_HEAT, {"r": resolution, "z": "Z3"})["heatmap"]["cells"]}
    assert zone and set(zone) < set(whole)
    assert all(zone[k] == whole[k] for k in zone)  # Gi* computed county-wide, not per zone
    if resolution == "GRID_CELL":
        cells = {r[0] for r in db.execute(
            "SELECT g.code FROM grid_cells g JOIN communities c ON c.code = g.community_code "
            "WHERE c.zone_code = 'Z3'")}
        assert set(zone) == cells
    error = county.error(ZONE_HEAT, {"z": "Z99"})
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_a_zone_has_its_staff_secretary_first(gql: GraphQLClient, db: psycopg.Connection) -> None:
    zones = gql.data("{ zones { code secretaryName staff { name post } } }")["zones"]
    assert len(zones) == 5
    for zone in zones:
        posts = [s["post"] for s in zone["staff"]]
        assert posts[0] == "SECRETARY" and posts.count("SECRETARY") == 1 and len(posts) == 6
        # the secretary is the 王书记 (…) the zones table names
        assert zone["staff"][0]["name"][0] == zone["secretaryName"][0]
