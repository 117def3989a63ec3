"""Owners' committees 业委会: the demo's figures from the account, electing a committee by the
qualifications and the negative list, vetting members, the 60% party share at its boundary,
the compliance check, and who may read and act."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from db.committees import meets_party_share
from tests.conftest import GraphQLClient, Minter

COMPLIANCE = """query ($c: String) { ownersCommitteeCompliance(communityCode: $c) {
  communityCode compoundCount committeeCount leaderSeats partyLeaders partyShare meetsPartyShare
  vettedCount removedCount compoundsWithoutCommittee { code communityCode }
  committeesBelowPartyShare { compound { code } leaderSeats partyLeaders }
  membersOnNegativeList { compoundCode member { id name removedFor removedAt } } } }"""
COMMITTEE = """query ($c: String!) { compound(code: $c) { code ownersCommittee {
  compoundCode termStart termEnd meetsPartyShare
  members(includeRemoved: true) { id name role partyMember onCommunityCommittees removedFor }
} } }"""
ELECT = """mutation ($input: ElectOwnersCommitteeInput!) { electOwnersCommittee(input: $input) {
  committee { compoundCode termStart termEnd meetsPartyShare members { name role partyMember } }
  errors { code field message } } }"""
VET = """mutation ($id: Int!, $items: [String!]!) { vetCommitteeMember(memberId: $id,
  negativeItems: $items) { member { id removedFor removedAt } errors { code field message } } }"""
RULES = """{ ownersCommitteeRules { qualifications { code text } negativeList { code text }
  partyShare maxTermYears } }"""
ALL_QUALIFIED = ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]


def candidate(name: str, role: str = "MEMBER", party: bool = False, **more: Any) -> dict[str, Any]:
    return {"name": name, "role": role, "partyMember": party, "qualifications": ALL_QUALIFIED,
            **more}


def bare_compounds(db: psycopg.Connection) -> list[tuple[str, str]]:
    """Compounds without any committee, with their community, in code order."""
    return [tuple(r) for r in db.execute(  # type: ignore[misc]
        "SELECT c.code, c.community_code FROM compounds c WHERE NOT EXISTS (SELECT 1 FROM "
        "owners_committees oc WHERE oc.compound_code = c.code) ORDER BY c.code").fetchall()]


def test_the_demo_holds_the_accounts_figures(county: GraphQLClient, db: psycopg.Connection) -> None:
    c = county.data(COMPLIANCE)["ownersCommitteeCompliance"]
    # 210 of the chairs and vice-chairs are party members, 66.25%; 1,400+ vetted, 55 replaced.
    assert (c["leaderSeats"], c["partyLeaders"]) == (317, 210)
    assert round(c["partyShare"] * 100, 2) == 66.25 and c["meetsPartyShare"]
    assert c["vettedCount"] >= 1400 and c["removedCount"] == 55
    assert len(c["membersOnNegativeList"]) == 55
    assert all(m["member"]["removedFor"] in {f"N{i}" for i in range(1, 9)}
               for m in c["membersOnNegativeList"])
    assert c["compoundCount"] == 230
    assert c["committeeCount"] + len(c["compoundsWithoutCommittee"]) == 230
    below = c["committeesBelowPartyShare"]
    assert below and all(b["partyLeaders"] * 5 < b["leaderSeats"] * 3 for b in below)
    # Each committee listed as below is below by the database's own count.
    for b in below[:10]:
        seats, party = db.execute("""
            SELECT count(*), count(*) FILTER (WHERE m.party_member) FROM committee_members m
            JOIN owners_committees oc ON oc.id = m.committee_id
            WHERE oc.compound_code = %s AND m.removed_at IS NULL AND m.role <> 'MEMBER'
              AND oc.term_start = (SELECT max(term_start) FROM owners_committees
                                   WHERE compound_code = %s)""",
            (b["compound"]["code"], b["compound"]["code"])).fetchone()  # type: ignore[misc]
        assert (seats, party) == (b["leaderSeats"], b["partyLeaders"])


def test_oulong_re_elected_its_committee(county: GraphQLClient, db: psycopg.Connection) -> None:
    code = db.execute("SELECT code FROM compounds WHERE name = '瓯龙现代城'").fetchone()[0]  # type: ignore[index]
    terms = db.execute("SELECT term_start FROM owners_committees WHERE compound_code = %s "
                       "ORDER BY term_start", (code,)).fetchall()
    committee = county.data(COMMITTEE, {"c": code})["compound"]["ownersCommittee"]
    assert len(terms) == 2 and committee["termStart"] == terms[-1][0].isoformat()
    members = committee["members"]
    assert len(members) == 7 and sum(m["partyMember"] for m in members) == 6
    assert [m["role"] for m in members][:2] == ["CHAIR", "VICE_CHAIR"]
    assert committee["meetsPartyShare"]


@pytest.mark.parametrize(("party", "seats", "meets"), [
    (3, 5, True), (2, 5, False), (5, 9, False), (6, 10, True), (6, 9, True), (1, 1, True),
    (0, 1, False), (1, 2, False), (0, 0, True),
])
def test_the_party_share_at_its_boundary(party: int, seats: int, meets: bool) -> None:
    assert meets_party_share(party, seats) is meets


def test_sixty_percent_exactly_meets_the_share(gql: GraphQLClient, token: Minter,
                                               db: psycopg.Connection) -> None:
    (exact, community), (short, other) = bare_compounds(db)[:2]
    leaders = ["CHAIR", "VICE_CHAIR", "VICE_CHAIR", "VICE_CHAIR", "VICE_CHAIR"]
    county = gql.as_(token("COUNTY_OFFICE"))
    for compound, party_leaders in ((exact, 3), (short, 2)):
        members = [candidate(f"委员{i}", role, party=i < party_leaders)
                   for i, role in enumerate(leaders)] + [candidate("普通委员", party=True)]
        out = county.data(ELECT, {"input": {"compoundCode": compound, "termStart": "2024-05-01",
                                            "termEnd": "2029-05-01", "members": members}})
        result = out["electOwnersCommittee"]
        assert result["errors"] == []
        assert result["committee"]["meetsPartyShare"] is (party_leaders == 3)
    below = {b["compound"]["code"]: b for b in county.data(COMPLIANCE, {"c": community})[
        "ownersCommitteeCompliance"]["committeesBelowPartyShare"]}
    assert exact not in below
    below_other = {b["compound"]["code"]: b for b in county.data(COMPLIANCE, {"c": other})[
        "ownersCommitteeCompliance"]["committeesBelowPartyShare"]}
    assert below_other[short] == {"compound": {"code": short}, "leaderSeats": 5,
                                  "partyLeaders": 2}


def _count(db: psycopg.Connection) -> tuple[Any, ...]:
    row = db.execute("SELECT (SELECT count(*) FROM owners_committees), "
                     "(SELECT count(*) FROM committee_members), "
                     "(SELECT count(*) FROM committee_vettings)").fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"members": [candidate("甲", "CHAIR"), candidate("乙", qualifications=ALL_QUALIFIED[:5]),
                  candidate("丙")]}, "UNQUALIFIED_MEMBER", "input.members.1.qualifications"),
    ({"members": [candidate("甲", "CHAIR"), candidate("乙"),
                  candidate("丙", negativeItems=["N3"])]},
     "NEGATIVE_LIST_HIT", "input.members.2.negativeItems"),
    ({"members": [candidate("甲", "CHAIR"), candidate("乙", "CHAIR"), candidate("丙")]},
     "BAD_USER_INPUT", "input.members"),
    ({"members": [candidate("甲", "CHAIR"), candidate("乙")]}, "BAD_USER_INPUT", "input.members"),
    ({"members": [candidate("甲", "CHAIR"), candidate("乙", qualifications=["Q9"]),
                  candidate("丙")]}, "BAD_USER_INPUT", "input.members.1.qualifications"),
    ({"termEnd": "2029-05-02"}, "BAD_USER_INPUT", "input.termEnd"),
    ({"termEnd": "2024-05-01"}, "BAD_USER_INPUT", "input.termEnd"),
    ({"compoundCode": "371329001001C99"}, "NOT_FOUND", "input.compoundCode"),
])
def test_an_election_against_the_rules_writes_nothing(
        county: GraphQLClient, db: psycopg.Connection, change: dict[str, Any], code: str,
        field: str) -> None:
    compound = bare_compounds(db)[-1][0]
    before = _count(db)
    election = {"compoundCode": compound, "termStart": "2024-05-01", "termEnd": "2029-05-01",
                "members": [candidate("甲", "CHAIR", True), candidate("乙"), candidate("丙")],
                **change}
    out = county.data(ELECT, {"input": election})["electOwnersCommittee"]
    assert out["committee"] is None
    assert [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)]
    assert _count(db) == before


def test_a_new_term_follows_the_sitting_one(county: GraphQLClient, db: psycopg.Connection) -> None:
    compound = bare_compounds(db)[2][0]
    members = [candidate("甲", "CHAIR", True), candidate("乙"), candidate("丙")]
    # 5 years from 29 February end on 28 February, as the database counts them.
    long = county.data(ELECT, {"input": {"compoundCode": compound, "termStart": "2020-02-29",
                                         "termEnd": "2025-03-01", "members": members}})
    assert [(e["code"], e["field"]) for e in long["electOwnersCommittee"]["errors"]] == [
        ("BAD_USER_INPUT", "input.termEnd")]
    first = county.data(ELECT, {"input": {"compoundCode": compound, "termStart": "2020-02-29",
                                          "termEnd": "2025-02-28", "members": members}})
    assert first["electOwnersCommittee"]["errors"] == []
    again = county.data(ELECT, {"input": {"compoundCode": compound, "termStart": "2020-02-29",
                                          "termEnd": "2025-02-28", "members": members}})
    assert [(e["code"], e["field"]) for e in again["electOwnersCommittee"]["errors"]] == [
        ("BAD_USER_INPUT", "input.termStart")]
    later = county.data(ELECT, {"input": {"compoundCode": compound, "termStart": "2025-03-01",
                                          "termEnd": "2030-03-01", "members": members}})
    assert later["electOwnersCommittee"]["committee"]["termStart"] == "2025-03-01"
    assert county.data(COMMITTEE, {"c": compound})["compound"]["ownersCommittee"][
        "termStart"] == "2025-03-01"


def test_vetting_removes_a_member_on_the_negative_list(gql: GraphQLClient, token: Minter,
                                                       db: psycopg.Connection) -> None:
    compound, community = db.execute(
        "SELECT oc.compound_code, c.community_code FROM owners_committees oc "
        "JOIN compounds c ON c.code = oc.compound_code WHERE oc.elected_by = 'demo-seed' "
        "ORDER BY oc.id DESC LIMIT 1").fetchone()  # type: ignore[misc]
    staff = gql.as_(token("COMMUNITY_STAFF", community))
    members = staff.data(COMMITTEE, {"c": compound})["compound"]["ownersCommittee"]["members"]
    sitting = [m for m in members if m["removedFor"] is None]
    passed, removed = sitting[-1]["id"], sitting[-2]["id"]
    out = staff.data(VET, {"id": passed, "items": []})["vetCommitteeMember"]
    assert out["errors"] == [] and out["member"]["removedFor"] is None
    out = staff.data(VET, {"id": removed, "items": ["N7", "N3"]})["vetCommitteeMember"]
    assert out["errors"] == [] and out["member"]["removedFor"] == "N3" and out["member"]["removedAt"]
    outcomes = db.execute("SELECT outcome, negative_items FROM committee_vettings "
                          "WHERE member_id = %s ORDER BY id", (removed,)).fetchall()
    assert outcomes[-1] == ("REMOVED", ["N3", "N7"])
    after = staff.data(COMMITTEE, {"c": compound})["compound"]["ownersCommittee"]["members"]
    assert next(m for m in after if m["id"] == removed)["removedFor"] == "N3"
    listed = staff.data(COMPLIANCE, {"c": community})["ownersCommitteeCompliance"]
    assert removed in {m["member"]["id"] for m in listed["membersOnNegativeList"]}
    # A removed member is not vetted again; unknown items are refused.
    again = staff.data(VET, {"id": removed, "items": []})["vetCommitteeMember"]
    assert [e["code"] for e in again["errors"]] == ["INVALID_TRANSITION"]
    bad = staff.data(VET, {"id": passed, "items": ["N9"]})["vetCommitteeMember"]
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("BAD_USER_INPUT", "negativeItems")]


@pytest.mark.parametrize(("role", "scopes", "reads"), [
    (None, (), False), ("RESIDENT", (), False), ("GRID_WORKER", ("371329001001",), False),
    ("SUPERVISOR", ("371329001001C01",), False), ("UNIT", ("U-HOUSING_BUREAU",), False),
    ("PLANNER", (), True), ("COMMUNITY_STAFF", ("371329001001",), True),
    ("STREET_OFFICER", ("371329001",), True), ("COUNTY_OFFICE", (), True),
])
def test_who_reads_committees(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                              role: str | None, scopes: tuple[str, ...], reads: bool) -> None:
    caller = gql.as_(token(role, *scopes)) if role else gql
    compound = db.execute("SELECT compound_code FROM owners_committees WHERE compound_code "
                          "LIKE '371329001001%%' ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    for query, variables in ((COMPLIANCE, {}), (COMMITTEE, {"c": compound})):
        body = caller(query, variables)
        if not reads:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            continue
        assert "errors" not in body, body
    if not reads:
        return
    c = caller(COMPLIANCE)["data"]["ownersCommitteeCompliance"]
    want = db.execute("SELECT count(*) FROM compounds WHERE starts_with(community_code, %s)",
                      (scopes[0] if scopes else "",)).fetchone()
    assert (c["compoundCount"],) == want
    members = caller(COMMITTEE, {"c": compound})["data"]["compound"]["ownersCommittee"]["members"]
    names = [m["name"] for m in members]
    assert all(names) if role != "PLANNER" else not any(names)
    # The public reads the rules themselves.
    rules = gql.data(RULES)["ownersCommitteeRules"]
    assert len(rules["qualifications"]) == 6 and len(rules["negativeList"]) == 8
    assert rules["partyShare"] == 0.6 and rules["maxTermYears"] == 5


def test_staff_act_only_within_their_community(gql: GraphQLClient, token: Minter,
                                               db: psycopg.Connection) -> None:
    compound, community = bare_compounds(db)[3]
    outsider = gql.as_(token("COMMUNITY_STAFF", "371329002016" if not community.endswith("016")
                             else "371329002015"))
    before = _count(db)
    err = outsider.error(ELECT, {"input": {
        "compoundCode": compound, "termStart": "2024-05-01", "termEnd": "2029-05-01",
        "members": [candidate("甲", "CHAIR", True), candidate("乙"), candidate("丙")]}})
    assert err["extensions"]["code"] == "FORBIDDEN"
    member = db.execute("SELECT m.id FROM committee_members m JOIN owners_committees oc "
                        "ON oc.id = m.committee_id WHERE oc.compound_code LIKE %s "
                        "AND m.removed_at IS NULL LIMIT 1", (community + "%",)).fetchone()
    if member is not None:
        assert outsider.error(VET, {"id": member[0], "items": ["N1"]})["extensions"]["code"] \
            == "FORBIDDEN"
    assert outsider.error(COMPLIANCE, {"c": community})["extensions"] == {
        "code": "FORBIDDEN", "field": "communityCode"}
    planner = gql.as_(token("PLANNER"))
    assert planner.error(VET, {"id": 1, "items": []})["extensions"]["code"] == "FORBIDDEN"
    assert _count(db) == before
