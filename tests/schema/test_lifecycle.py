"""The ticket lifecycle: the whole path, every illegal move, who may act, and conflicts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import product
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import namedtuple_row

from db.queries.notifications import enqueue_reminders
from resolvers.lifecycle import MOVES
from tests.conftest import GraphQLClient, Minter

STATUSES = ["SUBMITTED", "DISPATCHED", "IN_PROGRESS", "RESOLVED", "CLOSED", "REJECTED"]
CREATE = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
  ticket { code version status cellCode: gridCell { code } community { code }
           responsibleUnit { code } }
  possibleDuplicates { code itemCode distanceM }
  errors { code field } } }"""
MOVE = """mutation ($input: TransitionTicketInput!) { transitionTicket(input: $input) {
  ticket { code status version rating resolvedAt closedAt events { action fromStatus toStatus note } }
  errors { code field message } } }"""


def point_in(db: psycopg.Connection, compound: str) -> dict[str, float]:
    lon, lat = db.execute("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                          "FROM compounds WHERE name = %s", (compound,)).fetchone()  # type: ignore[misc]
    return {"lon": lon, "lat": lat}


def create(gql: GraphQLClient, point: dict[str, float], item: str = "P01") -> dict[str, Any]:
    out = gql.data(CREATE, {"input": {"point": point, "itemCode": item,
                                      "description": "楼道很脏", "channel": "ONLINE"}})
    assert out["createTicket"]["errors"] == []
    ticket: dict[str, Any] = out["createTicket"]["ticket"]
    ticket["cell"] = ticket.pop("cellCode")["code"]
    ticket["duplicates"] = out["createTicket"]["possibleDuplicates"]
    return ticket


def move(gql: GraphQLClient, code: str, to: str, version: int, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = gql.data(MOVE, {"input": {"code": code, "to": to,
                                                   "expectedVersion": version, **extra}})
    return out["transitionTicket"]


def forbidden(gql: GraphQLClient, code: str, to: str, version: int, **extra: Any) -> bool:
    """Whether the move is refused as a top-level FORBIDDEN error (never a payload error)."""
    error = gql.error(MOVE, {"input": {"code": code, "to": to, "expectedVersion": version, **extra}})
    return bool(error["extensions"]["code"] == "FORBIDDEN" and error["path"] == ["transitionTicket"])


@pytest.fixture()
def resident(gql: GraphQLClient, token: Minter) -> GraphQLClient:
    return gql.as_(token("RESIDENT", sub="resident-1"))


def test_the_whole_lifecycle(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                             resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "翡翠星城"))
    unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"]))
    assert (t["status"], t["version"]) == ("DISPATCHED", 2)
    assert move(unit, t["code"], "IN_PROGRESS", 2)["ticket"]["version"] == 3
    missing_note = move(unit, t["code"], "RESOLVED", 3)
    assert missing_note["errors"][0]["field"] == "input.note" and missing_note["ticket"] is None
    resolved = move(unit, t["code"], "RESOLVED", 3, note="已清扫")["ticket"]
    assert resolved["resolvedAt"] and resolved["version"] == 4
    bad_rating = move(resident, t["code"], "CLOSED", 4, rating=7)
    assert [(e["code"], e["field"]) for e in bad_rating["errors"]] == [("BAD_USER_INPUT", "input.rating")]
    closed = move(resident, t["code"], "CLOSED", 4, rating=4, note="满意")["ticket"]
    assert (closed["status"], closed["rating"], closed["version"]) == ("CLOSED", 4, 5)
    assert [e["action"] for e in closed["events"]] == [
        "CREATED", "DISPATCHED", "STARTED", "RESOLVED", "RATED"]
    assert closed["events"][-1]["note"] == "评价 4 星：满意"
    reopened = move(resident, t["code"], "DISPATCHED", 5)["ticket"]
    assert reopened["status"] == "DISPATCHED" and reopened["events"][-1]["action"] == "REOPENED"
    assert reopened["rating"] is None and reopened["closedAt"] is None


LEGAL = {(s, m.target) for m in MOVES for s in m.source}
ILLEGAL = [(a, b) for a, b in product(STATUSES, STATUSES) if (a, b) not in LEGAL]


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_move_is_refused(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                       resident: GraphQLClient, source: str, target: str) -> None:
    t = create(resident, point_in(db, "瓯龙现代城"))
    db.execute("UPDATE tickets SET status = %s, resolved_at = now() WHERE code = %s",
               (source, t["code"]))
    # Closing is for the reporter and field workers; every other move the county office may make.
    caller = gql.as_(token("GRID_WORKER", t["cell"]) if target == "CLOSED" else token("COUNTY_OFFICE"))
    out = move(caller, t["code"], target, t["version"], note="x", reason="INVALID", rating=3)
    assert out["errors"][0]["code"] == "INVALID_TRANSITION"
    assert db.execute("SELECT status, version FROM tickets WHERE code = %s",
                      (t["code"],)).fetchone() == (source, t["version"])


def test_who_may_act(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                     resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "翡翠星城"))
    other_cell = db.execute("SELECT code FROM grid_cells WHERE code <> %s LIMIT 1",
                            (t["cell"],)).fetchone()[0]  # type: ignore[index]
    denied = [gql, gql.as_(token("UNIT", "U-FIRE_RESCUE")), gql.as_(token("GRID_WORKER", other_cell)),
              gql.as_(token("COMMUNITY_STAFF", "371329002")), gql.as_(token("PLANNER"))]
    for caller in denied:
        assert forbidden(caller, t["code"], "IN_PROGRESS", 2)
    staff = gql.as_(token("COMMUNITY_STAFF", t["community"]["code"]))
    assert move(staff, t["code"], "IN_PROGRESS", 2)["ticket"]["status"] == "IN_PROGRESS"
    worker = gql.as_(token("GRID_WORKER", t["cell"]))
    unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"]))
    move(unit, t["code"], "RESOLVED", 3, note="修好了")
    no_note = move(worker, t["code"], "CLOSED", 4)
    assert no_note["errors"][0]["field"] == "input.note"
    verified = move(worker, t["code"], "CLOSED", 4, note="现场核实")["ticket"]
    assert verified["events"][-1]["action"] == "VERIFIED"


def test_rejection_needs_a_reason(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                  resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "华丰现代城"))
    staff = gql.as_(token("COMMUNITY_STAFF", t["community"]["code"]))
    assert move(staff, t["code"], "REJECTED", 2)["errors"][0]["field"] == "input.reason"
    out = move(staff, t["code"], "REJECTED", 2, reason="OUT_OF_SCOPE", note="非物业事项")
    assert out["ticket"]["status"] == "REJECTED"
    assert out["ticket"]["events"][-1]["note"] == "不属受理范围：非物业事项"


def test_stale_version_is_a_conflict_and_writes_nothing(gql: GraphQLClient, token: Minter,
                                                        db: psycopg.Connection,
                                                        resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "翡翠星城"))
    unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"]))
    events = db.execute("SELECT count(*) FROM ticket_events").fetchone()
    out = move(unit, t["code"], "IN_PROGRESS", 1)
    assert out["errors"][0]["code"] == "CONFLICT" and out["ticket"] is None
    assert db.execute("SELECT count(*) FROM ticket_events").fetchone() == events


def test_concurrent_updates_exactly_one_wins(live_server: str, token: Minter,
                                             db: psycopg.Connection, gql: GraphQLClient,
                                             resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "华丰现代城"))
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE')}"}
    # Ten different moves (an identical one sent again is the same move: see below).
    bodies = [{"query": MOVE, "variables": {"input": {"code": t["code"], "to": to,
                                                      "expectedVersion": 2, "reason": "INVALID",
                                                      "note": f"第 {i} 次"}}}
              for i, to in enumerate(("IN_PROGRESS", "REJECTED") * 5)]

    async def race() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=live_server, headers=headers, timeout=60) as c:
            responses = await asyncio.gather(*(c.post("/graphql", json=b) for b in bodies))
        return [r.json()["data"]["transitionTicket"] for r in responses]

    results = asyncio.run(race())
    winners = [r for r in results if r["ticket"]]
    assert len(winners) == 1
    assert all(r["errors"][0]["code"] == "CONFLICT" for r in results if not r["ticket"])
    status, version, n = db.execute(
        "SELECT t.status, t.version, (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id) "
        "FROM tickets t WHERE code = %s", (t["code"],)).fetchone()  # type: ignore[misc]
    assert (status, version, n) == (winners[0]["ticket"]["status"], 3, 3)


def test_reopen_only_within_30_days(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                    resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "瓯龙现代城"))
    db.execute("UPDATE tickets SET status = 'RESOLVED', resolved_at = now() - interval '31 days' "
               "WHERE code = %s", (t["code"],))
    out = move(resident, t["code"], "DISPATCHED", t["version"])
    assert out["errors"][0]["code"] == "INVALID_TRANSITION"


def test_someone_elses_resident_cannot_close(gql: GraphQLClient, token: Minter,
                                             db: psycopg.Connection, resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "翡翠星城"))
    db.execute("UPDATE tickets SET status = 'RESOLVED', resolved_at = now() WHERE code = %s",
               (t["code"],))
    stranger = gql.as_(token("RESIDENT", sub="resident-2"))
    assert forbidden(stranger, t["code"], "CLOSED", 2, rating=5)


READ = "query ($code: String!) { ticket(code: $code) { code } }"


def units_of(db: psycopg.Connection, code: str) -> tuple[str | None, set[tuple[str, str]], int]:
    """The lead unit on the ticket row, its ticket_units rows and its version."""
    unit, version = db.execute("SELECT unit_code, version FROM tickets WHERE code = %s",
                               (code,)).fetchone()  # type: ignore[misc]
    rows = db.execute("SELECT tu.unit_code, tu.role FROM ticket_units tu JOIN tickets t "
                      "ON t.id = tu.ticket_id WHERE t.code = %s", (code,)).fetchall()
    return unit, {(r[0], r[1]) for r in rows}, version


def resolved(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
             resident: GraphQLClient) -> dict[str, Any]:
    """A resident's ticket worked on by its lead unit and resolved (version 4)."""
    t = create(resident, point_in(db, "翡翠星城"))
    unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"]))
    move(unit, t["code"], "IN_PROGRESS", 2)
    assert move(unit, t["code"], "RESOLVED", 3, note="修好了")["ticket"]["version"] == 4
    return t


def other_unit(db: psycopg.Connection, than: str) -> str:
    return str(db.execute("SELECT code FROM units WHERE code <> %s AND kind <> 'PROPERTY_COMPANY' "
                          "ORDER BY code LIMIT 1", (than,)).fetchone()[0])  # type: ignore[index]


@pytest.mark.parametrize("role", ["GRID_WORKER", "SUPERVISOR", "RESIDENT"])
def test_reopening_does_not_reroute(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                    resident: GraphQLClient, role: str) -> None:
    t = resolved(gql, token, db, resident)
    lead = t["responsibleUnit"]["code"]
    compound = db.execute("SELECT compound_code FROM tickets WHERE code = %s",
                          (t["code"],)).fetchone()[0]  # type: ignore[index]
    who = {"GRID_WORKER": gql.as_(token("GRID_WORKER", t["cell"])),
           "SUPERVISOR": gql.as_(token("SUPERVISOR", compound)), "RESIDENT": resident}[role]
    before = units_of(db, t["code"])
    assert forbidden(who, t["code"], "DISPATCHED", 4, unitCode=other_unit(db, lead))
    assert units_of(db, t["code"]) == before
    reopened = move(who, t["code"], "DISPATCHED", 4)["ticket"]
    assert reopened["status"] == "DISPATCHED"
    unit, rows, version = units_of(db, t["code"])
    assert (unit, rows, version) == (lead, before[1], 5)


def test_staff_reopen_and_reassign_with_an_event(gql: GraphQLClient, token: Minter,
                                                 db: psycopg.Connection, conninfo: str,
                                                 resident: GraphQLClient) -> None:
    t = resolved(gql, token, db, resident)
    old = t["responsibleUnit"]["code"]
    new = other_unit(db, old)
    old_unit = gql.as_(token("UNIT", old))
    assert old_unit.data(READ, {"code": t["code"]})["ticket"] == {"code": t["code"]}
    staff = gql.as_(token("COMMUNITY_STAFF", t["community"]["code"]))
    out = move(staff, t["code"], "DISPATCHED", 4, unitCode=new, note="原物业未处理好")
    assert out["errors"] == [] and out["ticket"]["status"] == "DISPATCHED"
    unit, rows, version = units_of(db, t["code"])
    assert unit == new and (new, "LEAD") in rows and old not in {u for u, _ in rows}
    assert [r for r in rows if r[1] == "LEAD"] == [(new, "LEAD")]
    assert [e["action"] for e in out["ticket"]["events"]][-2:] == ["REOPENED", "REASSIGNED"]
    assert out["ticket"]["events"][-1]["note"] == f"改派：{old} → {new}"
    assert old_unit.data(READ, {"code": t["code"]})["ticket"] is None
    assert gql.as_(token("UNIT", new)).data(READ, {"code": t["code"]})["ticket"] == {
        "code": t["code"]}
    assert forbidden(old_unit, t["code"], "IN_PROGRESS", version)
    # The new lead unit is told, as on a first dispatch; the old one is not.
    asyncio.run(_enqueue(conninfo))
    told = db.execute("SELECT n.unit_code, n.kind FROM notifications n JOIN tickets t "
                      "ON t.id = n.ticket_id JOIN ticket_events e ON e.ticket_id = t.id "
                      "AND n.dedupe_key = e.action || ':' || t.code || ':' || e.id "
                      "WHERE t.code = %s AND e.action = 'REOPENED'", (t["code"],)).fetchall()
    assert (new, "DISPATCHED") in told and old not in {u for u, _ in told}


async def _enqueue(conninfo: str) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=namedtuple_row) as conn:
        await enqueue_reminders(conn, datetime.now(UTC))


def test_dispatching_elsewhere_drops_the_old_lead(gql: GraphQLClient, token: Minter,
                                                 db: psycopg.Connection,
                                                 resident: GraphQLClient) -> None:
    t = create(resident, point_in(db, "瓯龙现代城"))
    old = t["responsibleUnit"]["code"]
    db.execute("UPDATE tickets SET status = 'SUBMITTED' WHERE code = %s", (t["code"],))
    new = other_unit(db, old)
    county = gql.as_(token("COUNTY_OFFICE"))
    out = move(county, t["code"], "DISPATCHED", 2, unitCode=new)
    assert out["errors"] == []
    unit, rows, _ = units_of(db, t["code"])
    assert unit == new and [r for r in rows if r[1] == "LEAD"] == [(new, "LEAD")]
    assert old not in {u for u, _ in rows}


ESCALATE = """mutation ($code: String!) { escalateTicket(input: {code: $code, expectedVersion: 2}) {
  errors { code } } }"""
MERGE = """mutation ($code: String!, $original: String!) { mergeTickets(input: {
  duplicateCode: $original, originalCode: $code, expectedVersion: 2}) { errors { code } } }"""
MISSING = "T20240101-9999999"


@pytest.mark.parametrize("operation", ["transitionTicket", "escalateTicket", "mergeTickets"])
def test_outside_the_scope_a_missing_code_looks_like_an_existing_one(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, resident: GraphQLClient,
        operation: str) -> None:
    here = create(resident, point_in(db, "翡翠星城"))
    there = create(resident, point_in(db, "瓯龙现代城"))
    assert here["community"]["code"] != there["community"]["code"]
    staff = gql.as_(token("COMMUNITY_STAFF", here["community"]["code"]))
    versions = db.execute("SELECT version FROM tickets WHERE code IN (%s, %s) ORDER BY code",
                          (here["code"], there["code"])).fetchall()
    errors = []
    for code in (there["code"], MISSING):
        if operation == "transitionTicket":
            error = staff.error(MOVE, {"input": {"code": code, "to": "IN_PROGRESS",
                                                 "expectedVersion": 2}})
        elif operation == "escalateTicket":
            error = staff.error(ESCALATE, {"code": code})
        else:  # the original lies outside the scope, or does not exist
            error = staff.error(MERGE, {"code": code, "original": here["code"]})
        errors.append((error["extensions"], error["message"].replace(code, "<code>")))
    assert errors[0] == errors[1] and errors[0][0]["code"] == "FORBIDDEN"
    assert db.execute("SELECT version FROM tickets WHERE code IN (%s, %s) ORDER BY code",
                      (here["code"], there["code"])).fetchall() == versions
    # The county office sees every ticket, so it is told a code does not exist.
    county = gql.as_(token("COUNTY_OFFICE"))
    assert move(county, MISSING, "IN_PROGRESS", 2)["errors"][0]["code"] == "NOT_FOUND"


def test_a_move_sent_again_after_a_lost_answer_is_not_a_conflict(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        resident: GraphQLClient) -> None:
    """A phone that lost the answer sends the same move again (same caller, version, target,
    note): it gets the ticket as that move left it, and nothing is written twice."""
    t = create(resident, point_in(db, "翡翠星城"))
    unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"], sub="unit-replay"))
    assert move(unit, t["code"], "IN_PROGRESS", 2)["errors"] == []
    first = move(unit, t["code"], "RESOLVED", 3, note="已清扫")
    events = db.execute("SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                        "WHERE t.code = %s", (t["code"],)).fetchone()

    # when: the same move again, as if its answer had been lost on the way
    again = move(unit, t["code"], "RESOLVED", 3, note="已清扫")

    # then: the ticket as the first one left it, and no second event
    assert again["errors"] == [] and again["ticket"] == first["ticket"]
    assert db.execute("SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                      "WHERE t.code = %s", (t["code"],)).fetchone() == events
    # but another note, another caller or a version further back is still a conflict
    other_unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"], sub="unit-other"))
    assert move(unit, t["code"], "RESOLVED", 3, note="已维修")["errors"][0]["code"] == "CONFLICT"
    assert move(other_unit, t["code"], "RESOLVED", 3, note="已清扫")["errors"][0]["code"] \
        == "CONFLICT"
    assert move(unit, t["code"], "IN_PROGRESS", 2)["errors"][0]["code"] == "CONFLICT"
    assert db.execute("SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                      "WHERE t.code = %s", (t["code"],)).fetchone() == events
