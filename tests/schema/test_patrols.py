"""The patrol log: visits recorded once per key, in the caller's cells only, and coverage per
cell per week with proactive tickets apart from residents'."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from db.vocabulary import SHANGHAI
from resolvers.patrols import week_of
from tests.conftest import GraphQLClient, Minter

RECORD = """mutation ($input: PatrolVisitInput!, $key: String) {
  recordPatrolVisit(input: $input, idempotencyKey: $key) {
    visit { at cellCode compoundCode buildingCode findings nothingFound ticketCode geometry }
    errors { code field message } } }"""
COVERAGE = """query ($c: String!, $w: Date!) { patrolCoverage(communityCode: $c, weekOf: $w) {
  weekStart weekEnd cells { cellCode visits buildingsVisited buildings visitsWithFindings
                            proactiveTickets residentTickets } } }"""


@pytest.fixture(scope="module")
def building(db: psycopg.Connection) -> Any:
    """A building, a point inside it, its cell, compound and community."""
    row = db.execute(
        "SELECT b.code, ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) "
        "AS lat, b.cell_code, b.compound_code, g.community_code FROM buildings b "
        "JOIN grid_cells g ON g.code = b.cell_code ORDER BY b.code LIMIT 1").fetchone()
    assert row is not None
    return row


def record(client: GraphQLClient, building: Any, key: str | None = None,
           **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = client.data(RECORD, {"input": {
        "point": {"lon": building[1], "lat": building[2]}, **extra}, "key": key})
    return out["recordPatrolVisit"]


def visits(db: psycopg.Connection, worker: str) -> int:
    return int(db.execute("SELECT count(*) FROM patrol_visits WHERE worker = %s",
                          (worker,)).fetchone()[0])  # type: ignore[index]


def test_a_visit_is_recorded_once_per_key_at_its_building(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, building: Any) -> None:
    worker = gql.as_(token("GRID_WORKER", building[3], sub="patrol-w1"))
    at = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    first = record(worker, building, "visit-1", at=at.isoformat())
    assert first["errors"] == []
    visit = first["visit"]
    assert (visit["cellCode"], visit["compoundCode"], visit["buildingCode"]) == (
        building[3], building[4], building[0])
    assert visit["nothingFound"] is True and visit["findings"] is None
    assert datetime.fromisoformat(visit["at"]) == at
    assert visit["geometry"]["coordinates"] == pytest.approx([building[1], building[2]])

    # when: the phone sends it again (a lost answer), then: the same visit, written once
    again = record(worker, building, "visit-1", at=at.isoformat())
    assert again == first and visits(db, "patrol-w1") == 1
    # another input with the same key is a conflict, and writes nothing
    other = record(worker, building, "visit-1", at=at.isoformat(), findings="楼道堆物")
    assert other["errors"][0]["code"] == "IDEMPOTENCY_CONFLICT" and other["visit"] is None
    assert visits(db, "patrol-w1") == 1


def test_bad_visits_are_refused_and_write_nothing(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, building: Any) -> None:
    worker = gql.as_(token("GRID_WORKER", building[3], sub="patrol-w2"))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    cases = [({"at": future}, "BAD_USER_INPUT", "input.at"),
             ({"at": old}, "BAD_USER_INPUT", "input.at"),
             ({"findings": "很" * 2001}, "BAD_USER_INPUT", "input.findings"),
             ({"buildingCode": "NO-SUCH"}, "NOT_FOUND", "input.buildingCode"),
             ({"ticketCode": "T20240101-9999999"}, "NOT_FOUND", "input.ticketCode")]
    for extra, code, field in cases:
        out = record(worker, building, **extra)
        assert [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)], extra
    outside = worker.data(RECORD, {"input": {"point": {"lon": 100.0, "lat": 30.0}}})
    assert outside["recordPatrolVisit"]["errors"][0]["code"] == "OUTSIDE_COVERAGE"
    assert visits(db, "patrol-w2") == 0


def test_only_field_roles_patrol_and_only_their_own_cells(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, building: Any) -> None:
    elsewhere = db.execute("SELECT code FROM grid_cells WHERE code <> %s ORDER BY code LIMIT 1",
                           (building[3],)).fetchone()[0]  # type: ignore[index]
    for client in (gql.as_(token("GRID_WORKER", elsewhere, sub="patrol-w3")),
                   gql.as_(token("COMMUNITY_STAFF", building[5], sub="patrol-w3")),
                   gql.as_(token("RESIDENT", sub="patrol-w3")), gql):
        error = client.error(RECORD, {"input": {"point": {"lon": building[1],
                                                          "lat": building[2]}}})
        assert error["extensions"]["code"] == "FORBIDDEN"
    assert visits(db, "patrol-w3") == 0
    supervisor = gql.as_(token("SUPERVISOR", building[4], sub="patrol-s1"))
    assert record(supervisor, building)["errors"] == []


def test_coverage_counts_visits_and_tickets_per_cell_per_week(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, building: Any) -> None:
    community = building[5]
    day = date.fromisoformat("2024-06-12")  # a Wednesday of the demo's last month
    start, end = week_of(day)
    assert start == datetime(2024, 6, 10, tzinfo=SHANGHAI) and end - start == timedelta(days=7)
    staff = gql.as_(token("COMMUNITY_STAFF", community))
    out = staff.data(COVERAGE, {"c": community, "w": day.isoformat()})["patrolCoverage"]
    cells = {c["cellCode"]: c for c in out["cells"]}
    expected = db.execute(
        "SELECT g.code, (SELECT count(*) FROM buildings b WHERE b.cell_code = g.code), "
        "(SELECT count(*) FROM tickets t WHERE t.cell_code = g.code AND t.created_at >= %(s)s "
        " AND t.created_at < %(e)s AND t.channel IN ('GRID_PATROL', 'SUPERVISOR')), "
        "(SELECT count(*) FROM tickets t WHERE t.cell_code = g.code AND t.created_at >= %(s)s "
        " AND t.created_at < %(e)s AND t.channel NOT IN ('GRID_PATROL', 'SUPERVISOR')) "
        "FROM grid_cells g WHERE g.community_code = %(c)s ORDER BY g.code",
        {"s": start, "e": end, "c": community}).fetchall()
    assert [(c, cells[c]["buildings"], cells[c]["proactiveTickets"], cells[c]["residentTickets"])
            for c in cells] == [tuple(r) for r in expected]
    assert sum(c["residentTickets"] + c["proactiveTickets"] for c in cells.values()) > 0

    # when: a worker records two visits in the week, one with findings
    worker = gql.as_(token("GRID_WORKER", building[3], sub="patrol-w4"))
    now = datetime.now(UTC).replace(microsecond=0)
    this_week = now.astimezone(SHANGHAI).date()
    before = staff.data(COVERAGE, {"c": community, "w": this_week.isoformat()})
    cell_before = next(c for c in before["patrolCoverage"]["cells"] if c["cellCode"] == building[3])
    for findings in (None, "单元门禁损坏"):
        assert record(worker, building, at=now.isoformat(), findings=findings)["errors"] == []

    # then: the cell's visits, buildings visited and findings count them
    after = staff.data(COVERAGE, {"c": community, "w": this_week.isoformat()})
    cell = next(c for c in after["patrolCoverage"]["cells"] if c["cellCode"] == building[3])
    assert cell["visits"] == cell_before["visits"] + 2
    assert cell["visitsWithFindings"] == cell_before["visitsWithFindings"] + 1
    assert 1 <= cell["buildingsVisited"] <= cell["buildings"]


def test_coverage_is_for_staff_in_scope_and_planners(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, building: Any) -> None:
    community = building[5]
    other = db.execute("SELECT code FROM communities WHERE code <> %s ORDER BY code LIMIT 1",
                       (community,)).fetchone()[0]  # type: ignore[index]
    variables = {"c": community, "w": "2024-06-12"}
    assert gql.as_(token("PLANNER")).data(COVERAGE, variables)["patrolCoverage"]["cells"]
    for client in (gql, gql.as_(token("GRID_WORKER", building[3])),
                   gql.as_(token("COMMUNITY_STAFF", other))):
        assert client.error(COVERAGE, variables)["extensions"]["code"] == "FORBIDDEN"
    missing = gql.as_(token("COUNTY_OFFICE")).error(COVERAGE, {"c": "371329999999", "w": "2024-06-12"})
    assert missing["extensions"]["code"] == "NOT_FOUND"
    far = gql.as_(token("COUNTY_OFFICE")).error(COVERAGE, {"c": community, "w": "0001-01-01"})
    assert (far["extensions"]["code"], far["extensions"]["field"]) == ("BAD_USER_INPUT", "weekOf")


BY_COMMUNITY = """query ($w: Date!, $z: String) { patrolCoverageByCommunity(weekOf: $w, zoneCode: $z) {
  weekStart communities { communityCode name cells cellsVisited cellsNotVisited visits
                          visitsWithFindings proactiveTickets residentTickets } } }"""


def test_coverage_by_community_sums_each_communitys_cells(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    county = gql.as_(token("COUNTY_OFFICE"))
    out = county.data(BY_COMMUNITY, {"w": "2024-06-26"})["patrolCoverageByCommunity"]
    assert datetime.fromisoformat(out["weekStart"]) == datetime(2024, 6, 24, tzinfo=SHANGHAI)
    rows = {c["communityCode"]: c for c in out["communities"]}
    assert len(rows) == 43 and sum(c["cells"] for c in rows.values()) == 429
    assert 0 < sum(c["cellsNotVisited"] for c in rows.values()) < 429 / 3
    for community in sorted(rows)[:3]:
        cells = county.data(COVERAGE, {"c": community, "w": "2024-06-26"})["patrolCoverage"]["cells"]
        got = rows[community]
        assert (got["cells"], got["cellsVisited"], got["cellsNotVisited"]) == (
            len(cells), sum(c["visits"] > 0 for c in cells), sum(c["visits"] == 0 for c in cells))
        for field in ("visits", "visitsWithFindings", "proactiveTickets", "residentTickets"):
            assert got[field] == sum(c[field] for c in cells), field
    assert sum(c["proactiveTickets"] + c["residentTickets"] for c in rows.values()) > 0


def test_planners_get_patrols_without_the_weeks_ticket_counts(
        gql: GraphQLClient, token: Minter) -> None:
    """Planners see no ticket record and count tickets by whole months: a week's counts per
    cell are withheld from them (null), on every way out; the visits are theirs."""
    planner, county = gql.as_(token("PLANNER")), gql.as_(token("COUNTY_OFFICE"))
    week = {"w": "2024-06-26"}
    sums = planner.data(BY_COMMUNITY, week)["patrolCoverageByCommunity"]["communities"]
    exact = county.data(BY_COMMUNITY, week)["patrolCoverageByCommunity"]["communities"]
    assert [c["visits"] for c in sums] == [c["visits"] for c in exact]
    assert {(c["proactiveTickets"], c["residentTickets"]) for c in sums} == {(None, None)}
    community = sums[0]["communityCode"]
    cells = planner.data(COVERAGE, {"c": community, **week})["patrolCoverage"]["cells"]
    assert cells and all(c["proactiveTickets"] is None and c["residentTickets"] is None
                         for c in cells)
    staff = gql.as_(token("COMMUNITY_STAFF", community))
    own = staff.data(COVERAGE, {"c": community, **week})["patrolCoverage"]["cells"]
    assert all(isinstance(c["proactiveTickets"], int) for c in own)
    layer = planner.data("""query ($w: Date!) { layer(name: PATROL_COVERAGE, weekOf: $w) }""",
                         week)["layer"]
    features = layer["features"]
    assert len(features) == 429
    assert all(f["properties"].get("proactive_tickets") is None
               and f["properties"].get("resident_tickets") is None for f in features)


def test_coverage_by_community_keeps_to_the_scope(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    zone = {r[0] for r in db.execute("SELECT code FROM communities WHERE zone_code = 'Z1'")}
    officer = gql.as_(token("ZONE_OFFICER", "Z1"))
    for variables in ({"w": "2024-06-26"}, {"w": "2024-06-26", "z": "Z1"}):
        out = officer.data(BY_COMMUNITY, variables)["patrolCoverageByCommunity"]
        assert {c["communityCode"] for c in out["communities"]} == zone
    assert officer.error(BY_COMMUNITY, {"w": "2024-06-26", "z": "Z2"})["extensions"]["code"] \
        == "FORBIDDEN"
    staff = gql.as_(token("COMMUNITY_STAFF", min(zone)))
    own = staff.data(BY_COMMUNITY, {"w": "2024-06-26"})["patrolCoverageByCommunity"]
    assert [c["communityCode"] for c in own["communities"]] == [min(zone)]
    for client in (gql, gql.as_(token("GRID_WORKER", f"{min(zone)}001")),
                   gql.as_(token("RESIDENT"))):
        assert client.error(BY_COMMUNITY, {"w": "2024-06-26"})["extensions"]["code"] == "FORBIDDEN"
    county = gql.as_(token("COUNTY_OFFICE"))
    missing = county.error(BY_COMMUNITY, {"w": "2024-06-26", "z": "Z9"})["extensions"]
    assert (missing["code"], missing["field"]) == ("NOT_FOUND", "zoneCode")
    far = county.error(BY_COMMUNITY, {"w": "3000-01-01"})["extensions"]
    assert (far["code"], far["field"]) == ("BAD_USER_INPUT", "weekOf")
