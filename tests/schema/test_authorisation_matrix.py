"""The authorisation matrix: every role against every query and mutation that touches tickets
or people, as one table. An allowed write is made for real, on a ticket of its own, with the
ticket's version, and its effect is read back from the database; a denied one is a top-level
FORBIDDEN with nothing written. Every scoped role is tried again with a scope elsewhere, and
is refused there. Then the map's ways out (tiles, OGC API items, GraphQL layers, the heat
map), where the role decides exact or generalised. Subscriptions: tests/web/test_live.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import count
from typing import Any

import mapbox_vector_tile
import psycopg
import pytest

from tests.conftest import GraphQLClient, Minter

ROLES = ("PUBLIC", "RESIDENT", "GRID_WORKER", "SUPERVISOR", "COMMUNITY_STAFF", "ZONE_OFFICER",
         "STREET_OFFICER", "COUNTY_OFFICE", "PLANNER", "UNIT")
P, R, G, S, C, Z, ST, K, L, U = ROLES
SCOPED = (G, S, C, Z, ST, U)
RESIDENT_SUB = "matrix-resident"

# operation: roles allowed (each with a scope covering the ticket or place under test)
READS: dict[str, set[str]] = {
    "nearbyTickets": {R, G, S, C, Z, ST, K, U},
    "ticket": {R, G, S, C, Z, ST, K, U},
    "tickets": {R, G, S, C, Z, ST, K, U},
    "volunteers": {C, Z, ST, K, L},
    "volunteerCompliance": {C, Z, ST, K},
    "personalDataAccess": {K},
    "efficiencyReferrals": {C, Z, ST, K, L},
    "unitRatings": {C, Z, ST, K, L, U},
    "propertyRanking": {C, Z, ST, K, L},
    "bondLedger": {C, Z, ST, K, U},
    "unitNotifications": {K, U},
}
WRITES: dict[str, set[str]] = {
    "dispatchTicket": {C, Z, ST, K},
    "startTicket": {C, Z, ST, K, U},
    "resolveTicket": {C, Z, ST, K, U},
    "closeTicket": {R, G, S},
    "rejectTicket": {C, Z, ST, K},
    "reopenTicket": {R, G, S, C, Z, ST, K},
    "reassignTicket": {C, Z, ST, K},
    "escalateTicket": {C, Z, ST, K},
    "mergeTickets": {C, Z, ST, K},
    "cosignTicket": {R},
    "recordVolunteerService": {C, Z, ST, K},
    "coordinateTicket": {Z, K},
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
}
MOVE = """mutation ($input: TransitionTicketInput!) { transitionTicket(input: $input) {
  ticket { code } errors { code field message } } }"""
ESCALATE = """mutation ($code: String!, $version: Int!) { escalateTicket(input: {code: $code,
  expectedVersion: $version}) { ticket { code } errors { code field message } } }"""
COORDINATE = """mutation ($code: String!, $version: Int!) { coordinateTicket(input: {code: $code,
  expectedVersion: $version}) { ticket { code } errors { code field message } } }"""
MERGE = """mutation ($code: String!, $other: String!, $version: Int!) { mergeTickets(input: {
  duplicateCode: $code, originalCode: $other, expectedVersion: $version}) {
  ticket { code } errors { code field message } } }"""
COSIGN = """mutation ($code: String!) { cosignTicket(code: $code) {
  errors { code field message } } }"""
RECORD = """mutation ($v: String!, $code: String!) { recordVolunteerService(input: {
  volunteerCode: $v, kind: TICKET, ticketCode: $code}) { service { id } errors { code field } } }"""
CREATE = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
  ticket { code gridCell { code } responsibleUnit { code } } errors { code field message } } }"""


@pytest.fixture(scope="module")
def place(db: psycopg.Connection) -> dict[str, Any]:
    """Where the matrix files its tickets: 华丰现代城, whose property company under contract
    leads the item, in the grid cell most of its tickets lie in. It already has the county's
    highest ticket rate, so the matrix's tickets change no ranking of compounds or cells that
    other tests read. Codes elsewhere for the out-of-scope callers."""
    row = db.execute("""
        WITH c AS (SELECT * FROM compounds WHERE name = '华丰现代城'),
             m AS (SELECT mode() WITHIN GROUP (ORDER BY t.cell_code) AS cell
                   FROM tickets t JOIN c ON t.compound_code = c.code)
        SELECT ST_X(p.g), ST_Y(p.g), c.code, c.community_code, k.id, k.company_code,
               (SELECT zone_code FROM communities WHERE code = c.community_code),
               (SELECT i.code FROM demand_items i WHERE i.lead_unit_kind = 'PROPERTY_COMPANY'
                ORDER BY i.code LIMIT 1), m.cell
        FROM c JOIN property_contracts k ON k.compound_code = c.code AND k.end_date IS NULL
        CROSS JOIN m JOIN grid_cells g ON g.code = m.cell
        CROSS JOIN LATERAL (SELECT ST_PointOnSurface(ST_Intersection(c.geom, g.geom)) AS g) p
        """).fetchone()
    assert row is not None
    lon, lat, compound, community, contract, company, zone, item, cell = row
    street = community[:9]

    def other(sql: str, *args: Any) -> str:
        return str(db.execute(sql, args).fetchone()[0])  # type: ignore[index]

    return {
        "point": {"lon": lon, "lat": lat}, "item": item, "cell": cell, "compound": compound,
        "community": community, "street": street, "unit": company, "contract": contract,
        "zone": zone,
        "volunteer": other("SELECT code FROM volunteers WHERE community_code = %s ORDER BY code "
                           "LIMIT 1", community),
        "elsewhere": {
            G: other("SELECT code FROM grid_cells WHERE community_code <> %s ORDER BY code "
                     "LIMIT 1", community),
            S: other("SELECT code FROM compounds WHERE code <> %s ORDER BY code LIMIT 1", compound),
            C: other("SELECT code FROM communities WHERE code <> %s ORDER BY code LIMIT 1",
                     community),
            Z: other("SELECT code FROM zones WHERE code <> %s ORDER BY code LIMIT 1", zone),
            ST: other("SELECT code FROM streets WHERE code <> %s ORDER BY code LIMIT 1", street),
            U: other("SELECT code FROM units WHERE kind = 'PROPERTY_COMPANY' AND code <> %s "
                     "ORDER BY code LIMIT 1", company),
        },
        "other_unit": other("SELECT code FROM units WHERE kind <> 'PROPERTY_COMPANY' "
                            "ORDER BY code LIMIT 1"),
    }


def caller(gql: GraphQLClient, token: Minter, role: str, where: dict[str, Any],
           elsewhere: bool = False) -> GraphQLClient:
    """The role with a scope covering `where` (or, `elsewhere`, a scope that does not)."""
    if role == P:
        return gql
    if role == R:
        return gql.as_(token(R, sub=RESIDENT_SUB))
    own = {G: where["cell"], S: where["compound"], C: where["community"], Z: where["zone"],
           ST: where["street"], U: where["unit"]}
    scope = where["elsewhere"][role] if elsewhere else own.get(role)
    scopes = [scope] if scope else []
    return gql.as_(token(role, *scopes, sub=f"matrix-{role}{'-elsewhere' if elsewhere else ''}"))


_serial = count()


def fresh(gql: GraphQLClient, token: Minter, where: dict[str, Any],
          reporter: str = RESIDENT_SUB) -> str:
    """A new ticket filed by a resident at the matrix's place (routed: DISPATCHED, version 2)."""
    out = gql.as_(token(R, sub=reporter)).data(CREATE, {"input": {
        "point": where["point"], "itemCode": where["item"], "channel": "ONLINE",
        "description": f"矩阵测试 {next(_serial)}"}})["createTicket"]
    assert out["errors"] == [], out
    t = out["ticket"]
    assert (t["gridCell"]["code"], t["responsibleUnit"]["code"]) == (where["cell"], where["unit"])
    return str(t["code"])


def state(db: psycopg.Connection, code: str) -> tuple[Any, ...]:
    """Everything a write could change about a ticket."""
    row = db.execute("""
        SELECT t.status, t.version, t.level, t.priority, t.unit_code, t.resolved_at, t.closed_at,
               t.merged_into_id, t.reject_reason, t.rating,
               (SELECT array_agg(u.unit_code || ':' || u.role ORDER BY u.unit_code)
                FROM ticket_units u WHERE u.ticket_id = t.id),
               (SELECT count(*) FROM ticket_cosigners c WHERE c.ticket_id = t.id),
               (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id),
               (SELECT count(*) FROM volunteer_services s WHERE s.ticket_id = t.id)
        FROM tickets t WHERE t.code = %s""", (code,)).fetchone()
    assert row is not None
    return tuple(row)


def one(db: psycopg.Connection, sql: str, code: str) -> Any:
    row = db.execute(sql, (code,)).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else tuple(row)


# Where a write starts from, when not where a fresh ticket is (DISPATCHED); the version stays 2.
START = {"dispatchTicket": "SUBMITTED", "resolveTicket": "IN_PROGRESS", "closeTicket": "RESOLVED",
         "reopenTicket": "RESOLVED", "reassignTicket": "SUBMITTED"}


def _move(to: str, **extra: Any) -> Callable[..., Any]:
    def write(client: GraphQLClient, code: str, role: str, where: dict[str, Any],
              other: str | None) -> dict[str, Any]:
        fields = dict(extra)
        if to == "CLOSED":  # the reporter rates, field workers verify
            fields.update({"rating": 5} if role == R else {"note": "现场核实"})
        if fields.pop("reassign", False):
            fields["unitCode"] = where["other_unit"]
        return client(MOVE, {"input": {"code": code, "to": to, "expectedVersion": 2, **fields}})
    return write


def _escalate(client: GraphQLClient, code: str, role: str, where: dict[str, Any],
              other: str | None) -> dict[str, Any]:
    return client(ESCALATE, {"code": code, "version": 2})


def _coordinate(client: GraphQLClient, code: str, role: str, where: dict[str, Any],
                other: str | None) -> dict[str, Any]:
    return client(COORDINATE, {"code": code, "version": 2})


def _merge(client: GraphQLClient, code: str, role: str, where: dict[str, Any],
           other: str | None) -> dict[str, Any]:
    return client(MERGE, {"code": code, "other": other, "version": 2})


def _cosign(client: GraphQLClient, code: str, role: str, where: dict[str, Any],
            other: str | None) -> dict[str, Any]:
    return client(COSIGN, {"code": code})


def _record(client: GraphQLClient, code: str, role: str, where: dict[str, Any],
            other: str | None) -> dict[str, Any]:
    return client(RECORD, {"v": where["volunteer"], "code": code})


DO = {
    "dispatchTicket": _move("DISPATCHED"),
    "startTicket": _move("IN_PROGRESS"),
    "resolveTicket": _move("RESOLVED", note="已修好"),
    "closeTicket": _move("CLOSED"),
    "rejectTicket": _move("REJECTED", reason="INVALID"),
    "reopenTicket": _move("DISPATCHED"),
    "reassignTicket": _move("DISPATCHED", reassign=True),
    "escalateTicket": _escalate,
    "coordinateTicket": _coordinate,
    "mergeTickets": _merge,
    "cosignTicket": _cosign,
    "recordVolunteerService": _record,
}

# What each allowed write leaves in the database, read back after it.
WRITTEN: dict[str, tuple[str, Callable[[Any, dict[str, Any]], Any]]] = {
    "dispatchTicket": ("SELECT status, version FROM tickets WHERE code = %s",
                       lambda row, w: row == ("DISPATCHED", 3)),
    "startTicket": ("SELECT status, version FROM tickets WHERE code = %s",
                    lambda row, w: row == ("IN_PROGRESS", 3)),
    "resolveTicket": ("SELECT status, resolved_at IS NOT NULL FROM tickets WHERE code = %s",
                      lambda row, w: row == ("RESOLVED", True)),
    "closeTicket": ("SELECT status, closed_at IS NOT NULL FROM tickets WHERE code = %s",
                    lambda row, w: row == ("CLOSED", True)),
    "rejectTicket": ("SELECT status, reject_reason FROM tickets WHERE code = %s",
                     lambda row, w: row == ("REJECTED", "INVALID")),
    "reopenTicket": ("SELECT status, resolved_at IS NULL, unit_code FROM tickets WHERE code = %s",
                     lambda row, w: row == ("DISPATCHED", True, w["unit"])),
    "reassignTicket": ("SELECT t.unit_code, array_agg(u.unit_code) FILTER (WHERE u.role = 'LEAD') "
                       "FROM tickets t JOIN ticket_units u ON u.ticket_id = t.id "
                       "WHERE t.code = %s GROUP BY t.unit_code",
                       lambda row, w: row == (w["other_unit"], [w["other_unit"]])),
    "escalateTicket": ("SELECT level, version FROM tickets WHERE code = %s",
                       lambda row, w: row == ("STREET", 3)),
    "coordinateTicket": ("SELECT level, version, (SELECT count(*) FROM ticket_events e "
                         "WHERE e.ticket_id = t.id AND e.action = 'ZONE_COORDINATED') "
                         "FROM tickets t WHERE code = %s",
                         lambda row, w: row == ("COMMUNITY", 3, 1)),
    "mergeTickets": ("SELECT status, merged_into_id IS NOT NULL FROM tickets WHERE code = %s",
                     lambda row, w: row == ("CLOSED", True)),
    "cosignTicket": ("SELECT priority, version, (SELECT count(*) FROM ticket_cosigners c "
                     "WHERE c.ticket_id = t.id AND c.subject = 'matrix-resident') "
                     "FROM tickets t WHERE code = %s",
                     lambda row, w: row == (1, 2, 1)),
    "recordVolunteerService": ("SELECT count(*) FROM volunteer_services s JOIN tickets t "
                               "ON t.id = s.ticket_id WHERE t.code = %s",
                               lambda row, w: row == 1),
}


def _prepare(gql: GraphQLClient, token: Minter, db: psycopg.Connection, where: dict[str, Any],
             operation: str) -> tuple[str, str | None]:
    """The ticket a write acts on, where the write starts from, and a second ticket where it
    needs one (merge's original)."""
    if operation == "cosignTicket":
        # A neighbour's report, then the resident's own of the same matter next to it: the
        # neighbour's is one `createTicket` tells the resident of.
        code = fresh(gql, token, where, reporter="matrix-neighbour")
        fresh(gql, token, where)
        return code, None
    code = fresh(gql, token, where)
    if operation in START:
        resolved = ", resolved_at = now()" if START[operation] == "RESOLVED" else ""
        db.execute(f"UPDATE tickets SET status = %s{resolved} WHERE code = %s",
                   (START[operation], code))
    return code, fresh(gql, token, where) if operation == "mergeTickets" else None


def _codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def _refused(db: psycopg.Connection, do: Callable[[], dict[str, Any]],
             codes: list[str]) -> None:
    """The write is a top-level FORBIDDEN and changes nothing about the tickets in `codes`."""
    before = [state(db, c) for c in codes]
    body = do()
    assert _codes(body)[:1] == ["FORBIDDEN"] and body["data"] is None, body
    assert [state(db, c) for c in codes] == before


WRITE_CASES = [(op, role) for op in WRITES for role in ROLES]


@pytest.mark.parametrize(("operation", "role"), WRITE_CASES,
                         ids=[f"{o}-{r}" for o, r in WRITE_CASES])
def test_writes(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                place: dict[str, Any], operation: str, role: str) -> None:
    code, other = _prepare(gql, token, db, place, operation)
    client = caller(gql, token, role, place)
    if role not in WRITES[operation]:
        _refused(db, lambda: DO[operation](client, code, role, place, other),
                 [c for c in (code, other) if c])
        return
    body = DO[operation](client, code, role, place, other)
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert payload["errors"] == [], body
    sql, check = WRITTEN[operation]
    assert check(one(db, sql, code), place), one(db, sql, code)


OUT_OF_SCOPE = [(op, role) for op in WRITES for role in SCOPED if role in WRITES[op]]


@pytest.mark.parametrize(("operation", "role"), OUT_OF_SCOPE,
                         ids=[f"{o}-{r}" for o, r in OUT_OF_SCOPE])
def test_writes_by_the_same_role_elsewhere_are_forbidden(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, place: dict[str, Any],
        operation: str, role: str) -> None:
    code, other = _prepare(gql, token, db, place, operation)
    client = caller(gql, token, role, place, elsewhere=True)
    _refused(db, lambda: DO[operation](client, code, role, place, other),
             [c for c in (code, other) if c])


READ_CASES = [(op, role) for op in READS for role in ROLES]


@pytest.mark.parametrize(("operation", "role"), READ_CASES,
                         ids=[f"{o}-{r}" for o, r in READ_CASES])
def test_reads(gql: GraphQLClient, token: Minter, place: dict[str, Any],
               subject: str, operation: str, role: str) -> None:
    variables = {"p": place["point"], "code": subject, "c": place["community"],
                 "u": place["unit"], "id": place["contract"]}
    query = QUERIES[operation]
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    body = caller(gql, token, role, place)(query, used)
    if role not in READS[operation]:
        assert _codes(body)[:1] == ["FORBIDDEN"], body
        return
    assert "errors" not in body, body
    if operation == "ticket":
        assert body["data"]["ticket"] == {"code": subject}
    if operation in ("tickets", "volunteers"):
        assert body["data"][operation]["totalCount"] >= 1
    if operation == "nearbyTickets":
        assert body["data"]["nearbyTickets"]


@pytest.fixture(scope="module")
def subject(gql: GraphQLClient, token: Minter, place: dict[str, Any]) -> str:
    """The ticket the reads look for: the resident's, led by the place's property company."""
    return fresh(gql, token, place)


@pytest.mark.parametrize("role", SCOPED)
def test_reads_by_the_same_role_elsewhere(gql: GraphQLClient, token: Minter,
                                          place: dict[str, Any], subject: str,
                                          role: str) -> None:
    client = caller(gql, token, role, place, elsewhere=True)
    assert client.data(QUERIES["ticket"], {"code": subject})["ticket"] is None
    if role in (C, ST):
        error = client.error(QUERIES["volunteers"], {"c": place["community"]})
        assert error["extensions"]["code"] == "FORBIDDEN"
    if role == U:
        error = client.error(QUERIES["unitRatings"], {"u": place["unit"]})
        assert error["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture(scope="module")
def demo_ticket(db: psycopg.Connection) -> dict[str, Any]:
    """An open demo ticket led by a property company, with its reporter's name and phone."""
    row = db.execute("""
        SELECT t.code, t.cell_code, t.compound_code, t.community_code, t.street_code, t.unit_code,
               ST_X(t.geom), ST_Y(t.geom), t.zone_code
        FROM tickets t WHERE t.unit_code LIKE 'PC%%' AND t.compound_code IS NOT NULL
          AND t.status IN ('DISPATCHED', 'IN_PROGRESS') ORDER BY t.id LIMIT 1""").fetchone()
    assert row is not None
    keys = ("code", "cell", "compound", "community", "street", "unit", "lon", "lat", "zone")
    return dict(zip(keys, row))


# The map's other ways out: which roles see the subject ticket exactly (its point and working
# fields) in a tile, an OGC item and a GraphQL layer, and an exact heat map (every count exact,
# small ones too) over a box around it. Everyone else gets the ticket merged into its 100 m
# square (no OGC item: 404) and no personal data; the disclosure rule (resolvers/disclosure.py)
# gives exact aggregates everywhere to the county office and planners, and to staff inside
# their scope. The heat map is exact for the county office and planners only: everyone else
# counts it on H3 hexagons (grid cells are refused them, as ticket tiles count every ticket per
# grid cell), which cross every scope's borders.
EXACT = {G, S, C, Z, ST, K, U}
WAYS_OUT: dict[str, set[str]] = {
    "tile": EXACT, "ogcItem": EXACT, "layer": EXACT,
    "heatmap": {K, L},
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
                             demo_ticket: dict[str, Any], way: str, role: str) -> None:
    t = demo_ticket
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
        if role not in EXACT:  # no single record outside the scope, not even its square
            assert response.status_code == 404, response.text
            assert "geometry" not in text and "properties" not in text
            return
    elif way == "layer":
        response = gql.client.post("/graphql", json={"query": LAYER, "variables": {"b": box}},
                                   headers=headers)
        text, body = response.text, response.json()["data"]["layer"]
    else:
        def heatmap(to: str, resolution: str | None = None) -> Any:
            return gql.client.post("/graphql", headers=headers, json={"query": """
                query ($b: BBoxInput!, $to: DateTime!, $r: HeatmapResolution) {
                  heatmap(bbox: $b, from: "2024-03-01T00:00:00+08:00", to: $to,
                          resolution: $r) { resolution exact cells { count } } }""",
                "variables": {"b": box, "to": to, "r": resolution}})

        def refusal(answer: Any) -> str | None:
            return answer["errors"][0]["extensions"]["code"] if "errors" in answer else None

        # Several months, which two answers could be differenced by, only with exact counts;
        # grid cells (counted for all time by ticket tiles) only with exact counts too.
        months = heatmap("2024-07-01T00:00:00+08:00").json()
        assert refusal(months) == (None if role in (K, L) else "PERIOD_NOT_ONE_MONTH"), months
        cells = heatmap("2024-04-01T00:00:00+08:00", "GRID_CELL").json()
        assert refusal(cells) == (None if role in (K, L) else "FILTER_NOT_ALLOWED"), cells
        response = heatmap("2024-04-01T00:00:00+08:00")
        text, body = response.text, response.json()["data"]["heatmap"]
        assert body["resolution"] == ("GRID_CELL" if role in (K, L) else "H3_8")
    assert response.status_code == 200, response.text
    assert _exact_in(way, body, t) == (role in WAYS_OUT[way])
    for secret in (name, phone):
        assert not secret or secret not in text
