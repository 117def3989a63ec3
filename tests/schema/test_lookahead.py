"""`ticket` and `locate` load what their selection leads to in one statement, with the same
answers the nested fields' own loaders give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQLClient, Minter, observed

NESTED = """query ($code: String!) { ticket(code: $code) {
  code status gridCell { code households } compound { code name }
  community { code name } responsibleUnit { code name kind }
  events { at action fromStatus toStatus note } } }"""
# The same selection through a named and an inline fragment.
FRAGMENTS = """query ($code: String!) { ticket(code: $code) { ...Where
  ... on Ticket { events { action } responsibleUnit { code } } } }
fragment Where on Ticket { gridCell { code } compound { code } community { code } }"""
# A page of tickets: the nested fields through their DataLoaders, nothing looked ahead.
PAGE_NESTED = """query ($cell: String!) { tickets(filter: {cellCode: $cell}, first: 200) {
  edges { node { code status gridCell { code households } compound { code name }
  community { code name } responsibleUnit { code name kind }
  events { at action fromStatus toStatus note } } } } }"""
LOCATE = """query ($p: PointInput!) { locate(point: $p) {
  gridCell { code households } building { code floors } compound { code name }
  community { code name } zone { code name } street { code name }
  nearestFacilities(kind: CLINIC, first: 2) { distanceM facility { code name } } } }"""
LOCATE_VARIABLES = """query ($p: PointInput!, $kind: FacilityKind, $n: Int) { locate(point: $p) {
  gridCell { code } near: nearestFacilities(kind: $kind, first: $n) { facility { code } } } }"""
TWO_NEAREST = """query ($p: PointInput!) { locate(point: $p) {
  clinics: nearestFacilities(kind: CLINIC, first: 2) { facility { code kind } }
  any: nearestFacilities(first: 3) { distanceM facility { code } } } }"""
BAD_FIRST = """query ($p: PointInput!) { locate(point: $p) {
  community { code } nearestFacilities(first: 0) { facility { code } } } }"""


@pytest.fixture()
def statements(client: TestClient) -> Iterator[list[str]]:
    with observed(client.app.state.db) as seen:  # type: ignore[attr-defined]
        yield seen


@pytest.fixture(scope="module")
def county(token: Minter) -> str:
    return token("COUNTY_OFFICE")


def _cell_with_varied_tickets(db: psycopg.Connection) -> str:
    """A grid cell holding tickets with and without a compound, all on one page."""
    row = db.execute("""SELECT cell_code FROM tickets GROUP BY cell_code
        HAVING bool_or(compound_code IS NULL) AND bool_or(compound_code IS NOT NULL)
           AND count(*) <= 100
        ORDER BY count(*) DESC, cell_code LIMIT 1""").fetchone()
    assert row is not None, "the demo has a cell with varied tickets"
    return str(row[0])


def test_a_nested_ticket_is_one_statement_with_the_loaders_answers(
        gql: GraphQLClient, county: str, db: psycopg.Connection,
        statements: list[str]) -> None:
    caller = gql.as_(county)
    cell = _cell_with_varied_tickets(db)
    page = [e["node"] for e in caller.data(PAGE_NESTED, {"cell": cell})["tickets"]["edges"]]
    assert len(page) >= 4
    assert any(t["compound"] is None for t in page) and any(t["compound"] for t in page)
    assert all(t["events"] for t in page)
    for expected in page:
        statements.clear()
        got = caller.data(NESTED, {"code": expected["code"]})["ticket"]
        assert got == expected
        assert len(statements) == 1, statements


def test_events_come_in_order_and_complete(gql: GraphQLClient, county: str,
                                           db: psycopg.Connection) -> None:
    ticket_id, code, n = db.execute("""SELECT t.id, t.code, count(*) FROM tickets t
        JOIN ticket_events e ON e.ticket_id = t.id GROUP BY t.id
        ORDER BY count(*) DESC, t.id LIMIT 1""").fetchone()  # type: ignore[misc]
    assert n >= 4
    expected = [r[0] for r in db.execute(
        "SELECT action FROM ticket_events WHERE ticket_id = %s ORDER BY at, id",
        (ticket_id,))]
    got = gql.as_(county).data(NESTED, {"code": code})["ticket"]["events"]
    assert [e["action"] for e in got] == expected


def test_fragments_are_looked_through(gql: GraphQLClient, county: str, db: psycopg.Connection,
                                      statements: list[str]) -> None:
    code, cell, compound, community, unit = db.execute(
        "SELECT code, cell_code, compound_code, community_code, unit_code FROM tickets "
        "WHERE compound_code IS NOT NULL AND unit_code IS NOT NULL ORDER BY id LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    got = gql.as_(county).data(FRAGMENTS, {"code": code})["ticket"]
    assert len(statements) == 1, statements
    assert (got["gridCell"]["code"], got["compound"]["code"], got["community"]["code"],
            got["responsibleUnit"]["code"]) == (cell, compound, community, unit)
    assert got["events"]


def test_a_ticket_out_of_scope_stays_hidden(gql: GraphQLClient, token: Minter,
                                            db: psycopg.Connection) -> None:
    code, cell = db.execute("SELECT code, cell_code FROM tickets ORDER BY id LIMIT 1"
                            ).fetchone()  # type: ignore[misc]
    other = db.execute("SELECT code FROM grid_cells WHERE code <> %s ORDER BY code LIMIT 1",
                       (cell,)).fetchone()[0]  # type: ignore[index]
    assert gql.as_(token("GRID_WORKER", other)).data(NESTED, {"code": code})["ticket"] is None
    mine = gql.as_(token("GRID_WORKER", cell)).data(NESTED, {"code": code})["ticket"]
    assert mine["gridCell"]["code"] == cell
    # The public sees no ticket, nested or not.
    assert gql.error(NESTED, {"code": code})["extensions"]["code"] == "FORBIDDEN"


def _points(db: psycopg.Connection, n: int) -> list[dict[str, float]]:
    """Points inside compounds with buildings (every relation present) and inside cells only."""
    rows = db.execute("""(SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p
            FROM buildings ORDER BY code LIMIT %(n)s) b)
        UNION ALL (SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(c.geom) p
            FROM grid_cells c WHERE NOT EXISTS (SELECT 1 FROM compounds k
                WHERE ST_Intersects(k.geom, ST_PointOnSurface(c.geom)))
            ORDER BY c.code LIMIT %(n)s) c)""", {"n": n}).fetchall()
    return [{"lon": lon, "lat": lat} for lon, lat in rows]


def _separately(gql: GraphQLClient, p: dict[str, float]) -> dict[str, Any]:
    """The LOCATE answer put together from root fields, each loading on its own."""
    found = gql.data("""query ($p: PointInput!) { locate(point: $p) {
        gridCell { code } building { code } compound { code } community { code } zone { code }
        street { code } } }""", {"p": p})["locate"]

    def one(field: str, sub: str, code: str | None) -> Any:
        if code is None:
            return None
        return gql.data(f"query ($c: String!) {{ {field}(code: $c) {{ {sub} }} }}",
                        {"c": code})[field]

    code = {k: (v or {}).get("code") for k, v in found.items()}
    return {
        "gridCell": one("gridCell", "code households", code["gridCell"]),
        "building": one("building", "code floors", code["building"]),
        "compound": one("compound", "code name", code["compound"]),
        "community": one("community", "code name", code["community"]),
        "zone": one("zone", "code name", code["zone"]),
        "street": one("community", "street { code name }", code["community"])["street"],
    }


def test_locate_is_one_statement_with_the_same_places(gql: GraphQLClient, db: psycopg.Connection,
                                                     statements: list[str]) -> None:
    points = _points(db, 4)
    assert len(points) == 8
    for p in points:
        statements.clear()
        got = gql.data(LOCATE, {"p": p})["locate"]
        assert len(statements) == 1, statements
        nearest = got.pop("nearestFacilities")
        assert got == _separately(gql, p)
        clinics = db.execute("""SELECT code FROM facilities WHERE kind = 'CLINIC'
            ORDER BY ST_Distance(geom::geography,
                ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography), code LIMIT 2""",
                             p).fetchall()
        assert [h["facility"]["code"] for h in nearest] == [r[0] for r in clinics]
        assert nearest[0]["distanceM"] <= nearest[1]["distanceM"]
    assert any(_separately(gql, p)["building"] for p in points)
    assert any(_separately(gql, p)["compound"] is None for p in points)


def test_variables_aliases_and_a_second_nearest_list(gql: GraphQLClient, db: psycopg.Connection,
                                                     statements: list[str]) -> None:
    p = _points(db, 1)[0]
    statements.clear()
    by_variables = gql.data(LOCATE_VARIABLES, {"p": p, "kind": "CANTEEN", "n": 3})["locate"]
    assert len(statements) == 1, statements
    canteens = [r[0] for r in db.execute(
        "SELECT code FROM facilities WHERE kind = 'CANTEEN' ORDER BY ST_Distance(geom::geography,"
        " ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography), code LIMIT 3", p)]
    assert [h["facility"]["code"] for h in by_variables["near"]] == canteens
    # Two lists: one comes with the point, the other loads on its own; both are right.
    two = gql.data(TWO_NEAREST, {"p": p})["locate"]
    assert [h["facility"]["kind"] for h in two["clinics"]] == ["CLINIC", "CLINIC"]
    assert len(two["any"]) == 3
    assert two["any"][0]["distanceM"] <= two["any"][2]["distanceM"]


def test_a_bad_first_is_still_the_fields_error(gql: GraphQLClient, db: psycopg.Connection) -> None:
    body = gql(BAD_FIRST, {"p": _points(db, 1)[0]})
    assert body["errors"][0]["path"] == ["locate", "nearestFacilities"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "`first` must be at least 1" in body["errors"][0]["message"]


FILE = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
  ticket { code } errors { code } %s } }"""


def test_duplicates_are_looked_up_only_when_asked(gql: GraphQLClient, token: Minter,
                                                  db: psycopg.Connection,
                                                  statements: list[str]) -> None:
    lon, lat = db.execute("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                          "FROM compounds ORDER BY code DESC LIMIT 1").fetchone()  # type: ignore[misc]
    resident = gql.as_(token("RESIDENT", sub="resident-lookahead"))
    report = {"input": {"point": {"lon": lon, "lat": lat}, "itemCode": "P07",
                        "description": "路灯不亮", "channel": "ONLINE"}}
    first = resident.data(FILE % "", report)["createTicket"]
    without = len(statements)
    statements.clear()
    second = resident.data(FILE % "...on TicketPayload { possibleDuplicates { code } }",
                           report)["createTicket"]
    with_duplicates = len(statements)
    assert first["errors"] == second["errors"] == []
    # The second report lies where the first does: the first is its possible duplicate.
    assert first["ticket"]["code"] in [d["code"] for d in second["possibleDuplicates"]]
    assert with_duplicates == without + 1, statements
    # Without a key: the cells held, the point located, the item with its routing, the ticket
    # with its events and units, and the ticket read back.
    assert without == 5


def test_places_loaded_ahead_still_give_their_outlines(gql: GraphQLClient,
                                                       db: psycopg.Connection) -> None:
    p = _points(db, 1)[0]
    got = gql.data("""query ($p: PointInput!) { locate(point: $p) {
        gridCell { code geometry } compound { code geometry(crs: GCJ02) } } }""",
                   {"p": p})["locate"]
    cell = gql.data("query ($c: String!) { gridCell(code: $c) { geometry } }",
                    {"c": got["gridCell"]["code"]})["gridCell"]
    compound = gql.data("query ($c: String!) { compound(code: $c) { geometry(crs: GCJ02) } }",
                        {"c": got["compound"]["code"]})["compound"]
    assert got["gridCell"]["geometry"] == cell["geometry"]
    assert got["gridCell"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert got["compound"]["geometry"] == compound["geometry"]
