"""Volunteers 志愿者: who sees them, recording service, and the yearly compliance check
(fewer than 5 participations or 2 missed call-ups in a row → a talk)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from tests.conftest import GraphQLClient, Minter

VOLUNTEERS = """query ($cell: String, $compound: String, $community: String,
                       $role: VolunteerRole, $n: Int, $after: String) {
  volunteers(cellCode: $cell, compoundCode: $compound, communityCode: $community, role: $role,
             first: $n, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { code name role partyMember employer buildingCode
                          gridCell { code } compound { code } community { code } } } } }"""
RECORD = """mutation ($input: RecordVolunteerServiceInput!) {
  recordVolunteerService(input: $input) {
    service { id volunteerCode at kind ticketCode note recordedBy }
    errors { code field message } } }"""
COMPLIANCE = """query ($year: Int!, $community: String, $flagged: Boolean) {
  volunteerCompliance(year: $year, communityCode: $community, flaggedOnly: $flagged) {
    year yearComplete minimumParticipations memberCount flaggedCount
    members { volunteer { code name } participations misses longestMissRun talkReminder
              reasons } } }"""
COMMUNITY = "371329001002"
OTHER_COMMUNITY = "371329001003"
STREET = "371329001"
SHANGHAI = timezone(timedelta(hours=8))


def heads(db: psycopg.Connection, community: str = COMMUNITY) -> list[str]:
    """Building heads of a community in code order; tests take different ones."""
    rows = db.execute("SELECT code FROM volunteers WHERE role = 'BUILDING_HEAD' "
                      "AND community_code = %s ORDER BY code", (community,)).fetchall()
    return [r[0] for r in rows]


def services(db: psycopg.Connection, volunteer: str) -> int:
    row = db.execute("SELECT count(*) FROM volunteer_services WHERE volunteer_code = %s",
                     (volunteer,)).fetchone()
    assert row is not None
    return int(row[0])


def test_community_staff_see_their_community_with_names(gql: GraphQLClient, token: Minter,
                                                        db: psycopg.Connection) -> None:
    want = db.execute("SELECT count(*) FROM volunteers WHERE community_code = %s",
                      (COMMUNITY,)).fetchone()[0]  # type: ignore[index]
    out = gql.as_(token("COMMUNITY_STAFF", COMMUNITY)).data(VOLUNTEERS, {"n": 200})["volunteers"]
    assert out["totalCount"] == want == len(out["edges"]) and not out["pageInfo"]["hasNextPage"]
    nodes = [e["node"] for e in out["edges"]]
    assert {n["community"]["code"] for n in nodes} == {COMMUNITY}
    assert all(n["name"] and n["partyMember"] for n in nodes)
    head = next(n for n in nodes if n["role"] == "BUILDING_HEAD")
    assert head["buildingCode"] and head["gridCell"]["code"].startswith(COMMUNITY)
    assert head["compound"]["code"].startswith(COMMUNITY)


def test_pages_walk_a_street_once_in_code_order(gql: GraphQLClient, token: Minter,
                                                db: psycopg.Connection) -> None:
    want = [r[0] for r in db.execute(
        "SELECT code FROM volunteers WHERE role = 'SUPERVISOR' AND community_code LIKE %s "
        "ORDER BY code", (STREET + "%",)).fetchall()]
    client = gql.as_(token("STREET_OFFICER", STREET))
    seen: list[str] = []
    after = None
    for _ in range(50):
        page = client.data(VOLUNTEERS, {"role": "SUPERVISOR", "n": 7, "after": after})["volunteers"]
        assert page["totalCount"] == len(want)
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == want and len(want) > 7


def test_planner_sees_every_volunteer_without_names(gql: GraphQLClient, token: Minter) -> None:
    out = gql.as_(token("PLANNER")).data(VOLUNTEERS, {"role": "BUILDING_HEAD", "n": 20})[
        "volunteers"]
    assert out["totalCount"] == 2266
    assert all(e["node"]["name"] is None and e["node"]["employer"] is None for e in out["edges"])


def test_filters_narrow_to_a_cell(gql: GraphQLClient, token: Minter,
                                  db: psycopg.Connection) -> None:
    cell, n = db.execute("SELECT cell_code, count(*) FROM volunteers WHERE cell_code LIKE %s "
                         "GROUP BY 1 ORDER BY 1 LIMIT 1", (COMMUNITY + "%",)).fetchone()  # type: ignore[misc]
    out = gql.as_(token("COUNTY_OFFICE")).data(VOLUNTEERS, {"cell": cell})["volunteers"]
    assert out["totalCount"] == n
    assert {e["node"]["gridCell"]["code"] for e in out["edges"]} == {cell}


@pytest.mark.parametrize(("role", "scopes"), [
    (None, ()), ("RESIDENT", ()), ("GRID_WORKER", (COMMUNITY,)), ("SUPERVISOR", (COMMUNITY,)),
    ("UNIT", ("PC01",)),
])
def test_others_may_not_list_volunteers(gql: GraphQLClient, token: Minter, role: str | None,
                                        scopes: tuple[str, ...]) -> None:
    client = gql.as_(token(role, *scopes)) if role else gql
    assert client.error(VOLUNTEERS, {})["extensions"]["code"] == "FORBIDDEN"


def test_a_filter_outside_the_scope_is_forbidden(gql: GraphQLClient, token: Minter) -> None:
    err = gql.as_(token("COMMUNITY_STAFF", COMMUNITY)).error(
        VOLUNTEERS, {"community": OTHER_COMMUNITY})
    assert err["extensions"] == {"code": "FORBIDDEN", "field": "communityCode"}


@pytest.mark.parametrize(("args", "field"), [({"n": 0}, "first"), ({"after": "bm9wZQ=="}, "after"),
                                             ({"after": "%%%"}, "after")])
def test_bad_paging(gql: GraphQLClient, token: Minter, args: dict[str, Any], field: str) -> None:
    err = gql.as_(token("COUNTY_OFFICE")).error(VOLUNTEERS, args)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


@pytest.mark.parametrize(("n", "role", "scopes", "allowed"), [
    (0, "COMMUNITY_STAFF", (COMMUNITY,), True), (1, "STREET_OFFICER", (STREET,), True),
    (2, "COUNTY_OFFICE", (), True), (3, "COMMUNITY_STAFF", (OTHER_COMMUNITY,), False),
    (3, "STREET_OFFICER", ("371329002",), False), (3, "GRID_WORKER", (COMMUNITY,), False),
    (3, "PLANNER", (), False), (3, None, (), False),
])
def test_who_may_record_service(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                n: int, role: str | None, scopes: tuple[str, ...],
                                allowed: bool) -> None:
    volunteer = heads(db)[n]
    before = services(db, volunteer)
    client = gql.as_(token(role, *scopes, sub=f"rec-{n}")) if role else gql
    variables = {"input": {"volunteerCode": volunteer, "kind": "ACTIVITY", "note": "  楼道清扫  "}}
    if not allowed:
        assert client.error(RECORD, variables)["extensions"]["code"] == "FORBIDDEN"
        assert services(db, volunteer) == before
        return
    out = client.data(RECORD, variables)["recordVolunteerService"]
    if allowed:
        assert out["errors"] == []
        assert out["service"]["volunteerCode"] == volunteer and out["service"]["note"] == "楼道清扫"
        assert out["service"]["recordedBy"] == f"rec-{n}"
        assert services(db, volunteer) == before + 1


def test_a_ticket_service_names_its_ticket(gql: GraphQLClient, token: Minter,
                                          db: psycopg.Connection) -> None:
    volunteer = heads(db)[4]
    code = db.execute("SELECT code FROM tickets WHERE community_code = %s ORDER BY id LIMIT 1",
                      (COMMUNITY,)).fetchone()[0]  # type: ignore[index]
    out = gql.as_(token("COMMUNITY_STAFF", COMMUNITY)).data(RECORD, {"input": {
        "volunteerCode": volunteer, "kind": "TICKET", "ticketCode": code,
        "at": "2024-05-02T10:00:00+08:00"}})["recordVolunteerService"]
    assert out["errors"] == [] and out["service"]["ticketCode"] == code
    assert out["service"]["at"] == "2024-05-02T02:00:00+00:00"


LATER = (datetime.now(UTC) + timedelta(days=2)).isoformat()
BAD = [
    ({"kind": "TICKET"}, "BAD_USER_INPUT", "input.ticketCode"),
    ({"kind": "TICKET", "ticketCode": "T-none"}, "NOT_FOUND", "input.ticketCode"),
    ({"ticketCode": "T-none"}, "BAD_USER_INPUT", "input.ticketCode"),
    ({"volunteerCode": "V99999"}, "NOT_FOUND", "input.volunteerCode"),
    ({"at": LATER}, "BAD_USER_INPUT", "input.at"),
    ({"at": "2022-03-01T10:00:00"}, "BAD_USER_INPUT", "input.at"),
    ({"at": "1999-03-01T10:00:00+08:00"}, "BAD_USER_INPUT", "input.at"),
    ({"note": "长" * 2001}, "BAD_USER_INPUT", "input.note"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD, ids=[f"{b[1]}:{b[2]}" for b in BAD])
def test_bad_service_input_writes_nothing(gql: GraphQLClient, token: Minter,
                                          db: psycopg.Connection, change: dict[str, Any],
                                          code: str, field: str) -> None:
    volunteer = heads(db)[5]
    before = db.execute("SELECT count(*) FROM volunteer_services").fetchone()
    out = gql.as_(token("COUNTY_OFFICE")).data(RECORD, {"input": {
        "volunteerCode": volunteer, "kind": "ACTIVITY", **change}})["recordVolunteerService"]
    assert out["service"] is None
    assert [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)]
    assert db.execute("SELECT count(*) FROM volunteer_services").fetchone() == before


# Each member's 2022 record, in the order the services are recorded (not time order).
CASES: dict[str, list[tuple[str, str]]] = {
    "both": [("ACTIVITY", "03-01"), ("MISSED_CALLUP", "04-01"), ("ACTIVITY", "05-01"),
             ("MISSED_CALLUP", "06-01"), ("MISSED_CALLUP", "07-01"), ("TICKET", "08-01"),
             ("ACTIVITY", "09-01")],
    # Recorded M, M, P... but in time the misses lie apart.
    "complies": [("MISSED_CALLUP", "01-05"), ("MISSED_CALLUP", "06-05"), ("ACTIVITY", "03-05"),
                 ("ACTIVITY", "07-05"), ("ACTIVITY", "08-05"), ("ACTIVITY", "09-05"),
                 ("ACTIVITY", "10-05")],
    # Recorded apart, but in time 3 misses fall in a row.
    "misses": [("MISSED_CALLUP", "04-01"), ("ACTIVITY", "06-01"), ("MISSED_CALLUP", "04-20"),
               ("ACTIVITY", "01-10"), ("MISSED_CALLUP", "05-02"), ("ACTIVITY", "07-01"),
               ("ACTIVITY", "08-01"), ("ACTIVITY", "09-01")],
    "few": [("ACTIVITY", "02-01"), ("ACTIVITY", "03-01"), ("ACTIVITY", "04-01"),
            ("ACTIVITY", "12-31T23:50:00+08:00"), ("MISSED_CALLUP", "05-01"),
            # 2023-01-01 00:10 in Shanghai: next year's, though still 2022 in UTC.
            ("ACTIVITY", "12-31T16:10:00+00:00")],
}
EXPECT = {
    "both": (4, 3, 2, ["TOO_FEW_PARTICIPATIONS", "CONSECUTIVE_MISSES"]),
    "complies": (5, 2, 1, []),
    "misses": (5, 3, 3, ["CONSECUTIVE_MISSES"]),
    "few": (4, 1, 1, ["TOO_FEW_PARTICIPATIONS"]),
    "idle": (0, 0, 0, ["TOO_FEW_PARTICIPATIONS"]),
}


def test_compliance_flags_talks_by_the_rules(gql: GraphQLClient, token: Minter,
                                             db: psycopg.Connection) -> None:
    staff = gql.as_(token("COMMUNITY_STAFF", COMMUNITY))
    members = dict(zip([*CASES, "idle"], heads(db)[10:15], strict=True))
    tickets = [r[0] for r in db.execute("SELECT code FROM tickets WHERE community_code = %s "
                                        "ORDER BY id LIMIT 3", (COMMUNITY,)).fetchall()]
    for case, records in CASES.items():
        for kind, when in records:
            at = f"2022-{when}" if "T" in when else f"2022-{when}T09:00:00+08:00"
            ask = {"volunteerCode": members[case], "kind": kind, "at": at}
            if kind == "TICKET":
                ask["ticketCode"] = tickets[0]
            assert staff.data(RECORD, {"input": ask})["recordVolunteerService"]["errors"] == []
    report = staff.data(COMPLIANCE, {"year": 2022, "community": COMMUNITY})["volunteerCompliance"]
    assert report["year"] == 2022 and report["yearComplete"] and report["minimumParticipations"] == 5
    assert report["memberCount"] == len(heads(db))
    by_code = {m["volunteer"]["code"]: m for m in report["members"]}
    for case, (parts, misses, run, reasons) in EXPECT.items():
        m = by_code[members[case]]
        assert (m["participations"], m["misses"], m["longestMissRun"], m["reasons"]) == (
            parts, misses, run, reasons), case
        assert m["talkReminder"] is bool(reasons) and m["volunteer"]["name"]
    flagged = staff.data(COMPLIANCE, {"year": 2022, "community": COMMUNITY, "flagged": True})[
        "volunteerCompliance"]
    assert members["complies"] not in {m["volunteer"]["code"] for m in flagged["members"]}
    assert flagged["flaggedCount"] == len(flagged["members"]) == report["memberCount"] - 1


def test_demo_year_most_comply_and_a_minority_is_flagged(gql: GraphQLClient,
                                                         token: Minter) -> None:
    report = gql.as_(token("COUNTY_OFFICE")).data(COMPLIANCE, {"year": 2023})[
        "volunteerCompliance"]
    assert report["memberCount"] == 2266 and report["yearComplete"]
    assert 0.05 * 2266 < report["flaggedCount"] < 0.25 * 2266
    reasons = {r for m in report["members"] for r in m["reasons"]}
    assert reasons == {"TOO_FEW_PARTICIPATIONS", "CONSECUTIVE_MISSES"}
    for m in report["members"]:
        assert m["talkReminder"] == (m["participations"] < 5 or m["longestMissRun"] >= 2)


def test_a_year_in_progress_counts_so_far(gql: GraphQLClient, token: Minter,
                                          db: psycopg.Connection) -> None:
    year = datetime.now(SHANGHAI).year
    volunteer = heads(db, OTHER_COMMUNITY)[0]
    staff = gql.as_(token("STREET_OFFICER", STREET))
    assert staff.data(RECORD, {"input": {"volunteerCode": volunteer, "kind": "ACTIVITY"}})[
        "recordVolunteerService"]["errors"] == []
    report = staff.data(COMPLIANCE, {"year": year, "community": OTHER_COMMUNITY})[
        "volunteerCompliance"]
    member = next(m for m in report["members"] if m["volunteer"]["code"] == volunteer)
    assert member["participations"] >= 1 and report["yearComplete"] is False
    err = staff.error(COMPLIANCE, {"year": year + 1})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "year"}


@pytest.mark.parametrize(("role", "scopes", "community"), [
    (None, (), None), ("PLANNER", (), None), ("GRID_WORKER", (COMMUNITY,), COMMUNITY),
    ("COMMUNITY_STAFF", (COMMUNITY,), OTHER_COMMUNITY),
])
def test_compliance_is_for_staff_within_scope(gql: GraphQLClient, token: Minter,
                                              role: str | None, scopes: tuple[str, ...],
                                              community: str | None) -> None:
    client = gql.as_(token(role, *scopes)) if role else gql
    err = client.error(COMPLIANCE, {"year": 2023, "community": community})
    assert err["extensions"]["code"] == "FORBIDDEN"


def test_a_service_links_only_tickets_in_the_callers_scope(gql: GraphQLClient, token: Minter,
                                                           db: psycopg.Connection) -> None:
    volunteer = heads(db)[6]
    elsewhere = db.execute("SELECT code FROM tickets WHERE community_code = %s ORDER BY id LIMIT 1",
                           (OTHER_COMMUNITY,)).fetchone()[0]  # type: ignore[index]
    staff = gql.as_(token("COMMUNITY_STAFF", COMMUNITY))
    before = services(db, volunteer)
    errors = []
    for code in (elsewhere, "T20240101-9999999"):
        error = staff.error(RECORD, {"input": {"volunteerCode": volunteer, "kind": "TICKET",
                                               "ticketCode": code}})
        errors.append((error["extensions"], error["message"].replace(code, "<code>")))
    # The same answer whether or not the ticket exists: the error tells nothing about it.
    assert errors[0] == errors[1] and errors[0][0]["code"] == "FORBIDDEN"
    assert services(db, volunteer) == before
