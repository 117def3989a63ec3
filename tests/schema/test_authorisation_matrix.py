"""The authorisation matrix: every role against every query and mutation that touches tickets
or people, as one table. Allowed means no FORBIDDEN (other expected errors may follow);
denied means a top-level FORBIDDEN and nothing written; then the map's ways out (tiles, OGC API
items, GraphQL layers, the heat map), where the role decides exact or generalised. Subscriptions:
tests/web/test_live.py.
"""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
import psycopg
import pytest

from tests.conftest import GraphQLClient, Minter

ROLES = ("PUBLIC", "RESIDENT", "GRID_WORKER", "SUPERVISOR", "COMMUNITY_STAFF", "STREET_OFFICER",
         "COUNTY_OFFICE", "PLANNER", "UNIT")
P, R, G, S, C, ST, K, L, U = ROLES

# operation: roles allowed (each with a scope covering the ticket under test)
MATRIX: dict[str, set[str]] = {
    "nearbyTickets": {R, G, S, C, ST, K, U},
    "ticket": {R, G, S, C, ST, K, U},
    "tickets": {R, G, S, C, ST, K, U},
    "volunteers": {C, ST, K, L},
    "volunteerCompliance": {C, ST, K},
    "personalDataAccess": {K},
    "efficiencyReferrals": {C, ST, K, L},
    "unitRatings": {C, ST, K, L, U},
    "propertyRanking": {C, ST, K, L},
    "bondLedger": {C, ST, K, U},
    "unitNotifications": {K, U},
    "startTicket": {C, ST, K, U},
    "escalateTicket": {C, ST, K},
    "mergeTickets": {C, ST, K},
    "recordVolunteerService": {C, ST, K},
    "cosignTicket": {R},
}

QUERIES: dict[str, str] = {
    "nearbyTickets": "query ($p: PointInput!) { nearbyTickets(point: $p, radiusM: 300) { distanceM } }",
    "ticket": "query ($code: String!) { ticket(code: $code) { code } }",
    "tickets": "query { tickets(first: 1) { totalCount } }",
    "volunteers": "query ($c: String!) { volunteers(communityCode: $c, first: 1) { totalCount } }",
    "volunteerCompliance": "query ($c: String!) { volunteerCompliance(year: 2023, communityCode: $c) "
                           "{ memberCount } }",
    "personalDataAccess": "query { personalDataAccess(first: 1) { totalCount } }",
    "efficiencyReferrals": "query { efficiencyReferrals { at } }",
    "unitRatings": "query ($u: String!) { unitRatings(unitCode: $u) { rated } }",
    "propertyRanking": "query { propertyRanking(year: 2023) { companies { bottom { rank } } } }",
    "bondLedger": "query ($id: Int!) { bondLedger(contractId: $id) { balance } }",
    "unitNotifications": "query ($u: String!) { unitNotifications(unitCode: $u) { id } }",
    "startTicket": "mutation ($code: String!) { transitionTicket(input: {code: $code, to: IN_PROGRESS, "
                   "expectedVersion: 999}) { errors { code } } }",
    "escalateTicket": "mutation ($code: String!) { escalateTicket(input: {code: $code, "
                      "expectedVersion: 999}) { errors { code } } }",
    "mergeTickets": "mutation ($code: String!, $other: String!) { mergeTickets(input: {duplicateCode: "
                    "$code, originalCode: $other, expectedVersion: 999}) { errors { code } } }",
    "recordVolunteerService": "mutation ($v: String!) { recordVolunteerService(input: {volunteerCode: "
                              "$v, kind: TICKET, ticketCode: \"none\"}) { errors { code } } }",
    "cosignTicket": "mutation ($code: String!) { cosignTicket(code: $code) { errors { code } } }",
}


@pytest.fixture(scope="module")
def subject(db: psycopg.Connection) -> dict[str, Any]:
    """An open demo ticket led by a property company, and what surrounds it."""
    row = db.execute("""
        SELECT t.code, t.cell_code, t.compound_code, t.community_code, t.street_code, t.unit_code,
               ST_X(t.geom), ST_Y(t.geom),
               (SELECT c.id FROM property_contracts c WHERE c.compound_code = t.compound_code
                ORDER BY c.start_date DESC LIMIT 1),
               (SELECT v.code FROM volunteers v WHERE v.community_code = t.community_code LIMIT 1),
               (SELECT o.code FROM tickets o WHERE o.cell_code = t.cell_code AND o.id <> t.id LIMIT 1)
        FROM tickets t WHERE t.unit_code LIKE 'PC%%' AND t.compound_code IS NOT NULL
          AND t.status IN ('DISPATCHED', 'IN_PROGRESS') ORDER BY t.id LIMIT 1""").fetchone()
    assert row is not None
    keys = ("code", "cell", "compound", "community", "street", "unit", "lon", "lat", "contract",
            "volunteer", "other")
    return dict(zip(keys, row))


def caller(gql: GraphQLClient, token: Minter, role: str, t: dict[str, Any]) -> GraphQLClient:
    scopes = {"GRID_WORKER": [t["cell"]], "SUPERVISOR": [t["compound"]],
              "COMMUNITY_STAFF": [t["community"]], "STREET_OFFICER": [t["street"]],
              "UNIT": [t["unit"]]}.get(role, [])
    return gql if role == "PUBLIC" else gql.as_(token(role, *scopes, sub=f"matrix-{role}"))


CASES = [(op, role) for op in MATRIX for role in ROLES]


@pytest.mark.parametrize(("operation", "role"), CASES, ids=[f"{o}-{r}" for o, r in CASES])
def test_matrix(gql: GraphQLClient, token: Minter, db: psycopg.Connection, subject: dict[str, Any],
                operation: str, role: str) -> None:
    t = subject
    variables = {"p": {"lon": t["lon"], "lat": t["lat"]}, "code": t["code"], "c": t["community"],
                 "u": t["unit"], "id": t["contract"], "v": t["volunteer"], "other": t["other"]}
    query = QUERIES[operation]
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    before = db.execute("SELECT version, priority FROM tickets WHERE code = %s", (t["code"],)).fetchone()
    body = caller(gql, token, role, t)(query, used)
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    if role in MATRIX[operation]:
        assert "FORBIDDEN" not in codes, body
    else:
        assert codes[:1] == ["FORBIDDEN"], body
        after = db.execute("SELECT version, priority FROM tickets WHERE code = %s",
                           (t["code"],)).fetchone()
        assert after == before


# The map's other ways out: which roles see the subject ticket exactly (its point and working
# fields) in a tile, an OGC item and a GraphQL layer, and exact small counts in the heat map.
# Everyone else gets the ticket generalised (or merged into its square) and no personal data.
EXACT = {G, S, C, ST, K, U}
WAYS_OUT: dict[str, set[str]] = {
    "tile": EXACT, "ogcItem": EXACT, "layer": EXACT,
    "heatmap": {G, S, C, ST, K, U},
}
LAYER = """query ($b: BBoxInput!) { layer(name: TICKETS, bbox: $b) }"""
HTTP_CASES = [(way, role) for way in WAYS_OUT for role in ROLES]


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _exact_in(way: str, body: Any, t: dict[str, Any]) -> bool:
    """Whether the answer shows the subject ticket exactly."""
    if way == "tile":
        layer = mapbox_vector_tile.decode(body).get("tickets", {"features": []})
        return any(f["properties"].get("code") == t["code"] for f in layer["features"])
    if way == "ogcItem":
        return bool(body["properties"]["precise"]) and body["geometry"]["coordinates"] == \
            pytest.approx([t["lon"], t["lat"]], abs=1e-7)
    if way == "layer":
        return any(f["properties"]["code"] == t["code"] and f["properties"]["precise"]
                   for f in body["features"])
    return bool(body["exact"])


@pytest.mark.parametrize(("way", "role"), HTTP_CASES, ids=[f"{w}-{r}" for w, r in HTTP_CASES])
def test_ways_out_of_the_map(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                             subject: dict[str, Any], way: str, role: str) -> None:
    t = subject
    who = caller(gql, token, role, t)
    headers = {"Authorization": f"Bearer {who.token}"} if who.token else {}
    name, phone = db.execute("SELECT reporter_name, reporter_phone FROM tickets WHERE code = %s",
                             (t["code"],)).fetchone()  # type: ignore[misc]
    box = {"west": t["lon"] - 0.002, "south": t["lat"] - 0.002,
           "east": t["lon"] + 0.002, "north": t["lat"] + 0.002}
    if way == "tile":
        x, y = _tile_of(t["lon"], t["lat"], 16)
        response = gql.client.get(f"/tiles/tickets/16/{x}/{y}.mvt", headers=headers)
        text, body = response.content.decode("latin-1"), response.content
    elif way == "ogcItem":
        response = gql.client.get(f"/ogc/collections/tickets/items/{t['code']}", headers=headers)
        text, body = response.text, response.json()
    elif way == "layer":
        response = gql.client.post("/graphql", json={"query": LAYER, "variables": {"b": box}},
                                   headers=headers)
        text, body = response.text, response.json()["data"]["layer"]
    else:
        response = gql.client.post("/graphql", headers=headers, json={"query": """
            query ($b: BBoxInput!) { heatmap(bbox: $b, from: "2023-01-01T00:00:00+08:00",
              to: "2024-07-01T00:00:00+08:00") { exact cells { count } } }""",
            "variables": {"b": box}})
        text, body = response.text, response.json()["data"]["heatmap"]
    assert response.status_code == 200, response.text
    assert _exact_in(way, body, t) == (role in WAYS_OUT[way])
    for secret in (name, phone):
        assert not secret or secret not in text
