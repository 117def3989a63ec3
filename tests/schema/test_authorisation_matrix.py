"""The authorisation matrix: every role against every query and mutation that touches tickets
or people, as one table. Allowed means no FORBIDDEN (other expected errors may follow);
denied means a top-level FORBIDDEN and nothing written. Subscriptions: tests/web/test_live.py.
"""

from __future__ import annotations

from typing import Any

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
