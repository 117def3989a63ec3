"""The escalation ladder with a controlled clock, the efficiency-office rule, closing by
itself, co-signing, merging and duplicate hints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from db.database import Database
from resolvers.actor import SYSTEM, Actor, Role
from resolvers.errors import DomainError
from resolvers.jobs import run_jobs
from resolvers.workflow import escalate
from tests.conftest import GraphQLClient, Minter
from tests.schema.test_lifecycle import create, move, point_in

ESCALATE = """mutation ($input: EscalateTicketInput!) { escalateTicket(input: $input) {
  ticket { level dueAt version events { action note } } errors { code field } } }"""
REFERRALS = """{ efficiencyReferrals { at unit { code kind } ticketCodes } }"""
COSIGN = """mutation ($code: String!) { cosignTicket(code: $code) {
  ticket { version } errors { code } } }"""
MERGE = """mutation ($input: MergeTicketsInput!) { mergeTickets(input: $input) {
  ticket { code } errors { code field } } }"""
PRIORITY = "SELECT priority, version, status FROM tickets WHERE code = %s"


def level_and_due(db: psycopg.Connection, code: str) -> tuple[str, datetime, int]:
    row = db.execute("SELECT level, due_at, version FROM tickets WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def test_overdue_tickets_climb_the_ladder_with_fresh_deadlines(
        pool: Database, gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    t = create(gql.as_(token("RESIDENT", sub="r-esc")), point_in(db, "翡翠星城"), item="P11")
    _, due, _ = level_and_due(db, t["code"])
    assert await run_jobs(pool, due - timedelta(minutes=1)) is not None
    assert level_and_due(db, t["code"])[0] == "COMMUNITY"  # not yet overdue
    first = due + timedelta(minutes=1)
    await run_jobs(pool, first)
    level, new_due, _ = level_and_due(db, t["code"])
    assert level == "STREET" and new_due == first + timedelta(hours=2)  # P11: 2 h
    await run_jobs(pool, new_due + timedelta(minutes=1))
    assert level_and_due(db, t["code"])[0] == "COUNTY"
    await run_jobs(pool, new_due + timedelta(days=30))
    assert level_and_due(db, t["code"])[0] == "COUNTY"  # the top of the ladder
    actions = [r[0] for r in db.execute(
        "SELECT e.note FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
        "WHERE t.code = %s AND e.action = 'ESCALATED' ORDER BY e.id", (t["code"],)).fetchall()]
    assert actions == ["提级督办 社区 → 街道：逾期未办结", "提级督办 街道 → 县：逾期未办结"]


def test_escalation_by_hand(gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    t = create(gql.as_(token("RESIDENT", sub="r-hand")), point_in(db, "瓯龙现代城"))
    street = gql.as_(token("STREET_OFFICER", t["community"]["code"][:9]))
    out = street.data(ESCALATE, {"input": {"code": t["code"], "expectedVersion": 2,
                                           "note": "久拖未决"}})["escalateTicket"]
    assert out["errors"] == [] and out["ticket"]["level"] == "STREET"
    assert out["ticket"]["events"][-1] == {"action": "ESCALATED", "note": "提级督办 社区 → 街道：久拖未决"}
    worker = gql.as_(token("GRID_WORKER", t["cell"]))
    denied = worker.error(ESCALATE, {"input": {"code": t["code"], "expectedVersion": 3}})
    assert denied["extensions"]["code"] == "FORBIDDEN"


async def test_three_county_escalations_refer_the_unit(
        pool: Database, gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    resident = gql.as_(token("RESIDENT", sub="r-ref"))
    tickets = [create(resident, point_in(db, name), item="P35")
               for name in ("翡翠星城", "瓯龙现代城", "华丰现代城")]
    unit = tickets[0]["responsibleUnit"]["code"]
    assert unit == "U-MARKET_REGULATION"
    staff = Actor("county-1", Role.COUNTY_OFFICE)
    at = datetime.now(UTC) + timedelta(days=400)
    for i, t in enumerate(tickets):
        await escalate(pool, staff, t["code"], None, None, at + timedelta(minutes=2 * i))
        await escalate(pool, staff, t["code"], None, None, at + timedelta(minutes=2 * i + 1))
    with pytest.raises(DomainError):
        await escalate(pool, SYSTEM, tickets[0]["code"], None, None, at + timedelta(hours=1))
    county = gql.as_(token("COUNTY_OFFICE"))
    referrals = county.data(REFERRALS)["efficiencyReferrals"]
    # Earlier tests may have lifted other tickets of this unit to county level too; the
    # newest referral stands on the three tickets escalated here.
    mine = [r for r in referrals if r["unit"]["code"] == unit]
    assert mine[0]["ticketCodes"] == sorted(t["code"] for t in tickets)
    assert all(len(r["ticketCodes"]) == 3 for r in mine)
    assert gql.error(REFERRALS)["extensions"]["code"] == "FORBIDDEN"


async def test_resolved_tickets_close_by_themselves_after_7_days(
        pool: Database, gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    t = create(gql.as_(token("RESIDENT", sub="r-auto")), point_in(db, "翡翠星城"))
    unit = gql.as_(token("UNIT", t["responsibleUnit"]["code"]))
    move(unit, t["code"], "IN_PROGRESS", 2)
    resolved_at = move(unit, t["code"], "RESOLVED", 3, note="done")["ticket"]["resolvedAt"]
    at = datetime.fromisoformat(resolved_at)
    await run_jobs(pool, at + timedelta(days=6, hours=23))
    assert db.execute(PRIORITY, (t["code"],)).fetchone()[2] == "RESOLVED"  # type: ignore[index]
    await run_jobs(pool, at + timedelta(days=7, minutes=1))
    assert db.execute(PRIORITY, (t["code"],)).fetchone()[2] == "CLOSED"  # type: ignore[index]
    last = db.execute("SELECT e.action, e.note FROM ticket_events e "
                      "JOIN tickets t ON t.id = e.ticket_id "
                      "WHERE t.code = %s ORDER BY e.id DESC LIMIT 1", (t["code"],)).fetchone()
    assert last == ("AUTO_CLOSED", "办结满 7 天，自动关闭")


def test_cosigning_raises_priority_once_per_resident(gql: GraphQLClient, token: Minter,
                                                    db: psycopg.Connection) -> None:
    reporter = gql.as_(token("RESIDENT", sub="r-owner"))
    t = create(reporter, point_in(db, "华丰现代城"))
    neighbour = gql.as_(token("RESIDENT", sub="r-neighbour"))
    create(neighbour, point_in(db, "华丰现代城"))  # told of the ticket as a possible duplicate
    for _ in range(2):
        assert neighbour.data(COSIGN, {"code": t["code"]})["cosignTicket"]["errors"] == []
    assert db.execute(PRIORITY, (t["code"],)).fetchone()[0] == 1  # type: ignore[index]
    assert reporter.data(COSIGN, {"code": t["code"]})["cosignTicket"]["errors"][0]["code"] \
        == "BAD_USER_INPUT"
    assert gql.error(COSIGN, {"code": t["code"]})["extensions"]["code"] == "FORBIDDEN"


def test_merge_keeps_cosigners_and_history(gql: GraphQLClient, token: Minter,
                                           db: psycopg.Connection) -> None:
    p = point_in(db, "瓯龙现代城")
    original = create(gql.as_(token("RESIDENT", sub="r-a")), p, item="P02")
    duplicate = create(gql.as_(token("RESIDENT", sub="r-b")), p, item="P02")
    assert original["code"] in [d["code"] for d in duplicate["duplicates"]]
    assert all(d["distanceM"] % 50 == 0 for d in duplicate["duplicates"])
    cosigner = gql.as_(token("RESIDENT", sub="r-c"))
    create(cosigner, p, item="P02")  # shown both as possible duplicates
    assert cosigner.data(COSIGN, {"code": duplicate["code"]})["cosignTicket"]["errors"] == []
    staff = gql.as_(token("COMMUNITY_STAFF", original["community"]["code"]))
    stale = staff.data(MERGE, {"input": {"duplicateCode": duplicate["code"],
                                         "originalCode": original["code"], "expectedVersion": 1}})
    assert stale["mergeTickets"]["errors"][0]["code"] == "CONFLICT"
    out = staff.data(MERGE, {"input": {"duplicateCode": duplicate["code"],
                                       "originalCode": original["code"], "expectedVersion": 2}})
    assert out["mergeTickets"] == {"ticket": {"code": original["code"]}, "errors": []}
    assert db.execute(PRIORITY, (duplicate["code"],)).fetchone()[2] == "CLOSED"  # type: ignore[index]
    assert db.execute(PRIORITY, (original["code"],)).fetchone()[0] == 2  # type: ignore[index]
    cosigners = {r[0] for r in db.execute(
        "SELECT c.subject FROM ticket_cosigners c JOIN tickets t ON t.id = c.ticket_id "
        "WHERE t.code = %s", (original["code"],)).fetchall()}
    assert cosigners == {"r-b", "r-c"}
    history = db.execute(
        "SELECT e.action, e.note FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
        "WHERE t.code = %s ORDER BY e.id", (duplicate["code"],)).fetchall()
    assert [action for action, _ in history] == ["CREATED", "DISPATCHED", "COSIGNED", "MERGED"]
    assert history[-1][1] == f"合并至 {original['code']}"
    merged_in = db.execute(
        "SELECT e.note FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
        "WHERE t.code = %s AND e.action = 'MERGED_FROM'", (original["code"],)).fetchone()
    assert merged_in == (f"{duplicate['code']} 已并入",)
    merged_into = db.execute("SELECT o.code FROM tickets d JOIN tickets o ON o.id = d.merged_into_id "
                             "WHERE d.code = %s", (duplicate["code"],)).fetchone()
    assert merged_into == (original["code"],)


def test_cosigning_a_ticket_outside_the_residents_view_is_forbidden(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    t = create(gql.as_(token("RESIDENT", sub="r-far")), point_in(db, "瓯龙现代城"))
    stranger = gql.as_(token("RESIDENT", sub="r-stranger"))
    create(stranger, point_in(db, "翡翠星城"))  # a report of their own, far away
    before = db.execute(PRIORITY, (t["code"],)).fetchone()
    errors = []
    for code in (t["code"], "T20240101-9999999"):
        error = stranger.error(COSIGN, {"code": code})
        errors.append((error["extensions"], error["message"].replace(code, "<code>")))
    # The same answer whether or not the ticket exists, and nothing written.
    assert errors[0] == errors[1] and errors[0][0]["code"] == "FORBIDDEN"
    assert db.execute(PRIORITY, (t["code"],)).fetchone() == before
    assert db.execute("SELECT count(*) FROM ticket_cosigners c JOIN tickets t ON t.id = c.ticket_id "
                      "WHERE t.code = %s", (t["code"],)).fetchone() == (0,)


def test_a_cosign_between_a_staff_read_and_their_move_is_no_conflict(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    p = point_in(db, "翡翠星城")
    t = create(gql.as_(token("RESIDENT", sub="r-held")), p, item="P03")
    staff = gql.as_(token("COMMUNITY_STAFF", t["community"]["code"]))
    held = staff.data("query ($c: String!) { ticket(code: $c) { version } }",
                      {"c": t["code"]})["ticket"]["version"]
    neighbour = gql.as_(token("RESIDENT", sub="r-held-neighbour"))
    create(neighbour, p, item="P03")
    assert neighbour.data(COSIGN, {"code": t["code"]})["cosignTicket"]["errors"] == []
    assert db.execute(PRIORITY, (t["code"],)).fetchone()[0] == 1  # type: ignore[index]
    out = move(staff, t["code"], "IN_PROGRESS", held)
    assert out["errors"] == [] and out["ticket"]["status"] == "IN_PROGRESS"
