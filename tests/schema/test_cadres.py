"""Community cadres 社区干部 under the management rules: the account's 397 cadres and the
rules as data (12 deductions, 10 suspensions, one check a year), the yearly check's boundary
(a check not yet held flags no one), scope, and new secretaries each with a mentor."""

from __future__ import annotations

import psycopg

from tests.conftest import GraphQLClient, Minter

CADRES = """query ($c: String) { cadres(communityCode: $c) { code name post electedOn
  community { code } mentorCodes menteeCodes } }"""
COMPLIANCE = """query ($y: Int!) { cadreCompliance(year: $y) { checkHeld missingCheck { code }
  failedCheck { code } deductions { cadre { code } case { rule { code kind } decidedOn } }
  suspensions { cadre { code } case { rule { kind nameZh } } } } }"""


def test_the_accounts_cadres_and_rules(gql: GraphQLClient, token: Minter) -> None:
    cadres = gql.as_(token("COUNTY_OFFICE")).data(CADRES)["cadres"]
    assert len(cadres) == 397
    secretaries = [c for c in cadres if c["post"] == "SECRETARY"]
    assert len(secretaries) == 43 == len({c["community"]["code"] for c in secretaries})
    rules = gql.data("{ cadreRules { code kind nameZh } }")["cadreRules"]  # public
    kinds = [r["kind"] for r in rules]
    assert (kinds.count("DEDUCTION"), kinds.count("SUSPENSION"), kinds.count("CHECK")) == (12, 10, 1)
    # every new secretary learns from an experienced one 以老带新
    by_code = {c["code"]: c for c in cadres}
    new = [c for c in secretaries if c["electedOn"] != "2021-05-20"]
    assert new and all(len(c["mentorCodes"]) == 1 for c in new)
    assert all(by_code[c["mentorCodes"][0]]["post"] == "SECRETARY"
               and by_code[c["mentorCodes"][0]]["electedOn"] == "2021-05-20" for c in new)


def test_cadres_are_for_staff_within_their_scope(gql: GraphQLClient, token: Minter,
                                                 db: psycopg.Connection) -> None:
    community = "371329001001"
    mine = gql.as_(token("COMMUNITY_STAFF", community)).data(CADRES)["cadres"]
    assert mine and {c["community"]["code"] for c in mine} == {community}
    zone = gql.as_(token("ZONE_OFFICER", "Z1")).data(CADRES)["cadres"]
    z1 = {r[0] for r in db.execute("SELECT code FROM communities WHERE zone_code = 'Z1'")}
    assert {c["community"]["code"] for c in zone} == z1
    other = gql.as_(token("COMMUNITY_STAFF", community)).error(CADRES, {"c": "371329002001"})
    assert other["extensions"]["code"] == "FORBIDDEN"
    for who in (gql, gql.as_(token("PLANNER")), gql.as_(token("GRID_WORKER", community + "001"))):
        assert who.error(CADRES)["extensions"]["code"] == "FORBIDDEN"


def test_the_yearly_check_and_the_cases_of_a_year(gql: GraphQLClient, token: Minter,
                                                  db: psycopg.Connection) -> None:
    county = gql.as_(token("COUNTY_OFFICE"))
    done = county.data(COMPLIANCE, {"y": 2023})["cadreCompliance"]
    assert done["checkHeld"] is True
    missing = {r[0] for r in db.execute(
        "SELECT c.code FROM cadres c WHERE c.elected_on <= '2023-12-31' AND NOT EXISTS ("
        "SELECT 1 FROM cadre_checks k WHERE k.cadre_code = c.code AND k.year = 2023)")}
    assert {c["code"] for c in done["missingCheck"]} == missing and len(missing) == 3
    failed = {r[0] for r in db.execute(
        "SELECT cadre_code FROM cadre_checks WHERE year = 2023 AND NOT passed")}
    assert {c["code"] for c in done["failedCheck"]} == failed
    cases = db.execute("SELECT count(*) FILTER (WHERE r.kind = 'DEDUCTION'), "
                       "count(*) FILTER (WHERE r.kind = 'SUSPENSION') FROM cadre_cases k "
                       "JOIN cadre_rules r ON r.code = k.rule_code "
                       "WHERE extract(year FROM k.decided_on) = 2023").fetchone()
    assert (len(done["deductions"]), len(done["suspensions"])) == cases
    assert all(d["case"]["rule"]["kind"] == "DEDUCTION" for d in done["deductions"])
    # 2024's check is held in December: at the end of June nobody is missing it yet
    pending = county.data(COMPLIANCE, {"y": 2024})["cadreCompliance"]
    assert pending["checkHeld"] is False and pending["missingCheck"] == []


def test_training_trips_show_only_the_callers_participants(gql: GraphQLClient,
                                                           token: Minter) -> None:
    query = "{ cadreTrainings(year: 2023) { title participantCount cadres { community { code } } } }"
    county = gql.as_(token("COUNTY_OFFICE")).data(query)["cadreTrainings"]
    assert county and all(len(t["cadres"]) == t["participantCount"] for t in county)
    community = county[0]["cadres"][0]["community"]["code"]
    staff = gql.as_(token("COMMUNITY_STAFF", community)).data(query)["cadreTrainings"]
    assert all({c["community"]["code"] for c in t["cadres"]} <= {community} for t in staff)
    assert [t["participantCount"] for t in staff] == [t["participantCount"] for t in county]
