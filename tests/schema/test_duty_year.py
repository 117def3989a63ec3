"""The third tier of the duty rule (a public criticism notice 通报批评 at 3 missed call-ups in
a row) and each member's year reported to their employer: `reportVolunteerYear`,
`volunteerYearRecords`, and the demo's reported year."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.conftest import GraphQLClient, Minter

SHANGHAI = timezone(timedelta(hours=8))
COMMUNITY = "371329002003"
OTHER_COMMUNITY = "371329002004"
YEAR = 2021  # a year no other test records services in
RECORD = """mutation ($input: RecordVolunteerServiceInput!) {
  recordVolunteerService(input: $input) { errors { code } } }"""
COMPLIANCE = """query ($year: Int!, $community: String) {
  volunteerCompliance(year: $year, communityCode: $community) {
    flaggedCount publicCriticismCount
    members { volunteer { code } longestMissRun talkReminder publicCriticism tier } } }"""
REPORT = """mutation ($year: Int!, $community: String) {
  reportVolunteerYear(year: $year, communityCode: $community) {
    year reportedCount talkCount publicCriticismCount errors { code field message } } }"""
RECORDS = """query ($year: Int!, $community: String, $tier: DutyTier, $n: Int, $after: String) {
  volunteerYearRecords(year: $year, communityCode: $community, tier: $tier, first: $n,
                       after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    records { year employer participations misses longestMissRun tier reportedAt
              volunteer { code name community { code } } } } }"""

# Each member's year: participations, then misses in a row (and misses apart for "apart").
CASES = {
    "two": ["ACTIVITY"] * 5 + ["MISSED_CALLUP"] * 2,
    "three": ["ACTIVITY"] * 5 + ["MISSED_CALLUP"] * 3,
    "apart": ["ACTIVITY", "MISSED_CALLUP"] * 5,
}
TIERS = {"two": "TALK", "three": "PUBLIC_CRITICISM", "apart": "NONE"}


def _heads(db: psycopg.Connection, community: str) -> list[tuple[str, str, str]]:
    """Building heads with an employer that is a unit: (code, employer, unit code)."""
    return [tuple(r) for r in db.execute(  # type: ignore[misc]
        "SELECT v.code, v.employer, u.code FROM volunteers v JOIN units u ON u.name = v.employer "
        "WHERE v.role = 'BUILDING_HEAD' AND v.community_code = %s ORDER BY v.code",
        (community,)).fetchall()]


def _record(staff: GraphQLClient, volunteer: str, kinds: list[str], year: int = YEAR) -> None:
    for day, kind in enumerate(kinds, start=1):
        at = f"{year}-03-{day:02d}T09:00:00+08:00"
        out = staff.data(RECORD, {"input": {"volunteerCode": volunteer, "kind": kind, "at": at}})
        assert out["recordVolunteerService"]["errors"] == []


@pytest.fixture(scope="module")
def members(gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> dict[str, tuple[str, str, str]]:
    staff = gql.as_(token("COMMUNITY_STAFF", COMMUNITY))
    heads = _heads(db, COMMUNITY)
    chosen = dict(zip(CASES, heads, strict=False))
    for case, kinds in CASES.items():
        _record(staff, chosen[case][0], kinds)
    return chosen


def test_three_misses_in_a_row_come_to_a_public_criticism_notice(
        gql: GraphQLClient, token: Minter, members: dict[str, tuple[str, str, str]]) -> None:
    staff = gql.as_(token("COMMUNITY_STAFF", COMMUNITY))
    report = staff.data(COMPLIANCE, {"year": YEAR, "community": COMMUNITY})["volunteerCompliance"]
    by_code = {m["volunteer"]["code"]: m for m in report["members"]}
    for case, tier in TIERS.items():
        m = by_code[members[case][0]]
        assert m["tier"] == tier, case
        assert m["publicCriticism"] is (tier == "PUBLIC_CRITICISM")
        assert m["talkReminder"] is (tier != "NONE")
    assert by_code[members["two"][0]]["longestMissRun"] == 2
    assert by_code[members["three"][0]]["longestMissRun"] == 3
    # Everyone else recorded nothing that year: a talk for too few participations.
    assert report["publicCriticismCount"] == 1
    assert report["flaggedCount"] == len(by_code) - 1


def test_a_year_is_reported_to_each_members_employer(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        members: dict[str, tuple[str, str, str]]) -> None:
    staff = gql.as_(token("COMMUNITY_STAFF", COMMUNITY))
    out = staff.data(REPORT, {"year": YEAR, "community": COMMUNITY})["reportVolunteerYear"]
    heads = db.execute("SELECT count(*) FROM volunteers WHERE role = 'BUILDING_HEAD' "
                       "AND community_code = %s", (COMMUNITY,)).fetchone()
    assert out["errors"] == [] and out["year"] == YEAR
    assert (out["reportedCount"],) == heads
    assert out["publicCriticismCount"] == 1 and out["talkCount"] == heads[0] - 2  # type: ignore[index]
    records = staff.data(RECORDS, {"year": YEAR, "n": 200})["volunteerYearRecords"]
    assert records["totalCount"] == heads[0] == len(records["records"])  # type: ignore[index]
    by_code = {r["volunteer"]["code"]: r for r in records["records"]}
    for case, (code, employer, _) in members.items():
        r = by_code[code]
        assert (r["tier"], r["employer"]) == (TIERS[case], employer)
        assert r["volunteer"]["name"] and r["reportedAt"]

    # The employer (a unit) reads the records of its own employees only, names included.
    code, employer, unit = members["three"]
    mine = gql.as_(token("UNIT", unit)).data(RECORDS, {"year": YEAR, "n": 200})[
        "volunteerYearRecords"]
    want = db.execute("SELECT count(*) FROM volunteer_year_records WHERE year = %s "
                      "AND employer = %s", (YEAR, employer)).fetchone()
    assert (mine["totalCount"],) == want and want[0] >= 1  # type: ignore[index]
    assert {r["employer"] for r in mine["records"]} == {employer}
    assert code in {r["volunteer"]["code"] for r in mine["records"]}
    only = gql.as_(token("UNIT", unit)).data(RECORDS, {"year": YEAR, "tier": "PUBLIC_CRITICISM"})
    assert [r["volunteer"]["code"] for r in only["volunteerYearRecords"]["records"]] == [code]


def test_reporting_again_writes_the_year_anew(gql: GraphQLClient, token: Minter,
                                              members: dict[str, tuple[str, str, str]]) -> None:
    staff = gql.as_(token("COMMUNITY_STAFF", COMMUNITY))
    assert staff.data(REPORT, {"year": YEAR, "community": COMMUNITY})[
        "reportVolunteerYear"]["errors"] == []
    # A fourth miss in a row, recorded late.
    code = members["three"][0]
    staff.data(RECORD, {"input": {"volunteerCode": code, "kind": "MISSED_CALLUP",
                                  "at": f"{YEAR}-03-20T09:00:00+08:00"}})
    again = staff.data(REPORT, {"year": YEAR, "community": COMMUNITY})["reportVolunteerYear"]
    assert again["errors"] == [] and again["publicCriticismCount"] == 1
    records = staff.data(RECORDS, {"year": YEAR, "community": COMMUNITY, "n": 200})[
        "volunteerYearRecords"]["records"]
    mine = next(r for r in records if r["volunteer"]["code"] == code)
    assert (mine["misses"], mine["longestMissRun"], mine["tier"]) == (4, 4, "PUBLIC_CRITICISM")


def test_a_year_in_progress_is_not_reported(gql: GraphQLClient, token: Minter,
                                            db: psycopg.Connection) -> None:
    year = datetime.now(SHANGHAI).year
    before = db.execute("SELECT count(*) FROM volunteer_year_records").fetchone()
    out = gql.as_(token("COUNTY_OFFICE")).data(REPORT, {"year": year})["reportVolunteerYear"]
    assert [(e["code"], e["field"]) for e in out["errors"]] == [("BAD_USER_INPUT", "year")]
    assert out["reportedCount"] == 0
    assert db.execute("SELECT count(*) FROM volunteer_year_records").fetchone() == before
    err = gql.as_(token("COUNTY_OFFICE")).error(RECORDS, {"year": 1999})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "year"}


@pytest.mark.parametrize(("role", "scopes", "report", "read"), [
    (None, (), False, False), ("RESIDENT", (), False, False),
    ("GRID_WORKER", (COMMUNITY,), False, False), ("SUPERVISOR", (COMMUNITY + "C01",), False, False),
    ("PLANNER", (), False, False), ("UNIT", ("U-PUBLIC_SECURITY",), False, True),
    ("COMMUNITY_STAFF", (COMMUNITY,), True, True), ("STREET_OFFICER", (COMMUNITY[:9],), True, True),
    ("COUNTY_OFFICE", (), True, True),
])
def test_who_reports_and_who_reads(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                   role: str | None, scopes: tuple[str, ...], report: bool,
                                   read: bool) -> None:
    caller = gql.as_(token(role, *scopes)) if role else gql
    before = db.execute("SELECT count(*), max(reported_at) FROM volunteer_year_records").fetchone()
    body = caller(REPORT, {"year": 2020, "community": COMMUNITY})
    if report:
        assert body["data"]["reportVolunteerYear"]["errors"] == []
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert db.execute("SELECT count(*), max(reported_at) FROM volunteer_year_records"
                          ).fetchone() == before
    body = caller(RECORDS, {"year": 2023, "n": 5})
    if read:
        assert "errors" not in body and body["data"]["volunteerYearRecords"]["totalCount"] > 0
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_staff_outside_a_community_neither_report_nor_read_it(gql: GraphQLClient,
                                                             token: Minter) -> None:
    other = gql.as_(token("COMMUNITY_STAFF", OTHER_COMMUNITY))
    err = other.error(REPORT, {"year": YEAR, "community": COMMUNITY})
    assert err["extensions"] == {"code": "FORBIDDEN", "field": "communityCode"}
    err = other.error(RECORDS, {"year": 2023, "community": COMMUNITY})
    assert err["extensions"]["code"] == "FORBIDDEN"
    mine = other.data(RECORDS, {"year": 2023, "n": 200})["volunteerYearRecords"]
    assert mine["records"] and {r["volunteer"]["community"]["code"] for r in mine["records"]} \
        == {OTHER_COMMUNITY}


def test_the_demo_year_is_reported_by_the_rule(county: GraphQLClient) -> None:
    compliance = county.data(COMPLIANCE, {"year": 2023})["volunteerCompliance"]
    tiers = {m["volunteer"]["code"]: m["tier"] for m in compliance["members"]}
    records, after = {}, None
    while True:
        page = county.data(RECORDS, {"year": 2023, "n": 200, "after": after})[
            "volunteerYearRecords"]
        records |= {r["volunteer"]["code"]: r["tier"] for r in page["records"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(records) == page["totalCount"] == 2266  # the account's building heads
    assert records == tiers
    counts = {t: list(records.values()).count(t) for t in ("NONE", "TALK", "PUBLIC_CRITICISM")}
    assert counts["PUBLIC_CRITICISM"] > 0 and counts["TALK"] > 0 and counts["NONE"] > 0.75 * 2266
    assert compliance["publicCriticismCount"] == counts["PUBLIC_CRITICISM"]
