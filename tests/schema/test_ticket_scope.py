"""Who sees which tickets: scopes applied in SQL to nearbyTickets, ticket and tickets."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import GraphQLClient, Minter

CENTRE = {"lon": 118.657, "lat": 34.918}
NEARBY = """query ($p: PointInput!) { nearbyTickets(point: $p, radiusM: 5000, first: 200) {
  ticket { code gridCell { code } compound { code } responsibleUnit { code }
           cooperatingUnits { code } } } }"""
ONE = """query ($code: String!) { ticket(code: $code) { code } }"""
PAGE = """query ($f: TicketFilter) { tickets(filter: $f, first: 200) { totalCount
  edges { node { code gridCell { code } } } } }"""
COMMUNITY = "371329001017"  # the community around the centre point


@pytest.mark.parametrize(("role", "scopes", "allowed"), [
    (None, (), False), ("PLANNER", (), False), ("GRID_WORKER", (), False),
    ("GRID_WORKER", (COMMUNITY,), True), ("SUPERVISOR", (COMMUNITY + "C01",), True),
    ("COMMUNITY_STAFF", (COMMUNITY,), True), ("STREET_OFFICER", (COMMUNITY[:9],), True),
    ("COUNTY_OFFICE", (), True), ("UNIT", ("U-POWER_COMPANY",), True), ("RESIDENT", (), True),
])
def test_who_may_read_tickets(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                              role: str | None, scopes: tuple[str, ...], allowed: bool) -> None:
    caller = gql.as_(token(role, *scopes)) if role else gql
    code = db.execute("SELECT code FROM tickets ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    for query, variables in ((NEARBY, {"p": CENTRE}), (ONE, {"code": code}), (PAGE, {})):
        body = caller(query, variables)
        if allowed:
            assert "errors" not in body, body
        else:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert not body["data"] or all(v is None for v in body["data"].values())


def test_a_grid_worker_sees_only_their_cells(gql: GraphQLClient, token: Minter,
                                             db: psycopg.Connection) -> None:
    worker = gql.as_(token("GRID_WORKER", COMMUNITY))
    hits = worker.data(NEARBY, {"p": CENTRE})["nearbyTickets"]
    assert hits and all(h["ticket"]["gridCell"]["code"].startswith(COMMUNITY) for h in hits)
    page = worker.data(PAGE)["tickets"]
    want = db.execute("SELECT count(*) FROM tickets WHERE cell_code LIKE %s",
                      (COMMUNITY + "%",)).fetchone()[0]  # type: ignore[index]
    assert page["totalCount"] == want
    outside = db.execute("SELECT code FROM tickets WHERE cell_code NOT LIKE %s LIMIT 1",
                         (COMMUNITY + "%",)).fetchone()[0]  # type: ignore[index]
    assert worker.data(ONE, {"code": outside})["ticket"] is None


def test_a_unit_sees_the_tickets_it_leads_or_cooperates_on(gql: GraphQLClient, token: Minter,
                                                          db: psycopg.Connection) -> None:
    unit = db.execute("SELECT unit_code FROM tickets WHERE unit_code LIKE 'PC%%' "
                      "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]  # type: ignore[index]
    caller = gql.as_(token("UNIT", unit))
    page = caller.data(PAGE)["tickets"]
    want = db.execute("SELECT count(DISTINCT ticket_id) FROM ticket_units WHERE unit_code = %s",
                      (unit,)).fetchone()[0]  # type: ignore[index]
    assert page["totalCount"] == want > 0
    hits = caller.data(NEARBY, {"p": CENTRE})["nearbyTickets"]
    leads = [h for h in hits if h["ticket"]["responsibleUnit"]["code"] == unit]
    cooperates = [h for h in hits if {"code": unit} in h["ticket"]["cooperatingUnits"]]
    assert leads and cooperates  # heating and water items: the company cooperates
    assert len(leads) + len(cooperates) == len(hits)


def test_a_resident_sees_only_their_own(gql: GraphQLClient, token: Minter,
                                        db: psycopg.Connection) -> None:
    me = gql.as_(token("RESIDENT", sub="resident-scope"))
    assert me.data(PAGE)["tickets"]["totalCount"] == 0
    created = me.data("""mutation { createTicket(input: {point: {lon: 118.657, lat: 34.918},
        itemCode: "P12", description: "楼道灯坏了", channel: ONLINE}) { ticket { code } } }""")
    code = created["createTicket"]["ticket"]["code"]
    page = me.data(PAGE)["tickets"]
    assert page["totalCount"] == 1 and page["edges"][0]["node"]["code"] == code
    assert gql.as_(token("RESIDENT", sub="someone-else")).data(ONE, {"code": code})["ticket"] is None
