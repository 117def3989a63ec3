"""`ticket` and `tickets`: every contract field, filters and opaque cursors."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import GraphQLClient

TICKET = """query ($code: String!) { ticket(code: $code) {
  code geometry status level itemCode createdAt dueAt version
  gridCell { code } compound { code name } community { code name }
  responsibleUnit { code name kind }
  events { at action fromStatus toStatus note } } }"""
PAGE = """query ($f: TicketFilter, $n: Int, $after: String) {
  tickets(filter: $f, first: $n, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { code status createdAt community { code } } } } }"""


def test_ticket_has_every_contract_field(county: GraphQLClient, db: psycopg.Connection) -> None:
    code, unit, n_events = db.execute("""
        SELECT t.code, t.unit_code, (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id)
        FROM tickets t WHERE t.compound_code IS NOT NULL AND t.status = 'CLOSED'
        ORDER BY t.id LIMIT 1""").fetchone()  # type: ignore[misc]
    t = county.data(TICKET, {"code": code})["ticket"]
    assert t["code"] == code and t["status"] == "CLOSED"
    assert t["geometry"]["type"] == "Point"
    assert t["gridCell"]["code"].startswith(t["community"]["code"])
    assert t["compound"]["code"].startswith(t["community"]["code"])
    assert t["responsibleUnit"]["code"] == unit
    assert t["dueAt"] > t["createdAt"] and t["createdAt"].endswith("+00:00")
    assert len(t["events"]) == n_events == t["version"]
    assert t["events"][0]["action"] == "CREATED" and t["events"][-1]["toStatus"] == "CLOSED"
    assert county.data(TICKET, {"code": "T-none"})["ticket"] is None


def test_pages_walk_every_ticket_once_newest_first(county: GraphQLClient,
                                                   db: psycopg.Connection) -> None:
    community = "371329001005"
    f = {"communityCode": community, "status": ["CLOSED", "RESOLVED"]}
    want = db.execute("SELECT count(*) FROM tickets WHERE community_code = %s "
                      "AND status IN ('CLOSED', 'RESOLVED')", (community,)).fetchone()[0]  # type: ignore[index]
    seen: list[str] = []
    stamps: list[str] = []
    after = None
    for _ in range(100):
        page = county.data(PAGE, {"f": f, "n": 37, "after": after})["tickets"]
        assert page["totalCount"] == want
        seen += [e["node"]["code"] for e in page["edges"]]
        stamps += [e["node"]["createdAt"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == want
    assert stamps == sorted(stamps, reverse=True)


def test_filters(county: GraphQLClient, db: psycopg.Connection) -> None:
    cell = db.execute("SELECT cell_code FROM tickets GROUP BY 1 ORDER BY count(*) DESC "
                      "LIMIT 1").fetchone()[0]  # type: ignore[index]
    by_cell = county.data(PAGE, {"f": {"cellCode": cell}, "n": 200})["tickets"]
    assert by_cell["totalCount"] == db.execute(
        "SELECT count(*) FROM tickets WHERE cell_code = %s", (cell,)).fetchone()[0]  # type: ignore[index]
    overdue = county.data(PAGE, {"f": {"overdue": True}, "n": 200})["tickets"]
    assert overdue["totalCount"] == db.execute(
        "SELECT count(*) FROM tickets WHERE status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS') "
        "AND due_at < now()").fetchone()[0]  # type: ignore[index]
    assert all(e["node"]["status"] in ("SUBMITTED", "DISPATCHED", "IN_PROGRESS")
               for e in overdue["edges"])
    window = {"createdFrom": "2023-03-01T00:00:00+08:00", "createdTo": "2023-04-01T00:00:00+08:00",
              "itemCode": "P01"}
    got = county.data(PAGE, {"f": window, "n": 200})["tickets"]
    assert got["totalCount"] == db.execute(
        "SELECT count(*) FROM tickets WHERE item_code = 'P01' AND created_at >= "
        "'2023-03-01T00:00+08' AND created_at < '2023-04-01T00:00+08'").fetchone()[0]  # type: ignore[index]
    assert got["totalCount"] > 0


NAIVE_PAGE = """query ($from: DateTime, $to: DateTime) {
  tickets(filter: {createdFrom: $from, createdTo: $to}, first: 1) { totalCount } }"""


@pytest.mark.parametrize(("start", "end"), [
    ("0197-07-19T12:43:49+00:00", "2024-06-01"),
    ("0001-01-01T00:00:00", "0197-07-19T12:43:49+00:00"),
])
def test_a_time_without_an_offset_is_read_as_shanghai_time(
        county: GraphQLClient, start: str, end: str) -> None:
    # A period given with and without offsets is compared, not refused with a 500.
    assert county.data(NAIVE_PAGE, {"from": start, "to": end})["tickets"]["totalCount"] >= 0
    naive = county.data(NAIVE_PAGE, {"from": "2024-06-01T00:00:00", "to": "2024-06-02T00:00:00"})
    aware = county.data(NAIVE_PAGE, {"from": "2024-06-01T00:00:00+08:00",
                                     "to": "2024-06-02T00:00:00+08:00"})
    assert naive == aware and aware["tickets"]["totalCount"] > 0
