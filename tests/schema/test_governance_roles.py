"""Who may read each of the governance queries of the county's account, role by role: the
public ones answer everyone, the others answer the roles the policy names and refuse the rest
as FORBIDDEN (scoped callers inside their scope)."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQLClient, Minter

COMMUNITY = "371329001001"
SCOPES = {"GRID_WORKER": COMMUNITY + "001", "SUPERVISOR": COMMUNITY + "C01",
          "COMMUNITY_STAFF": COMMUNITY, "ZONE_OFFICER": "Z1", "STREET_OFFICER": COMMUNITY[:9],
          "UNIT": "PC01"}
ROLES = ("PUBLIC", "RESIDENT", "GRID_WORKER", "SUPERVISOR", "COMMUNITY_STAFF", "ZONE_OFFICER",
         "STREET_OFFICER", "COUNTY_OFFICE", "PLANNER", "UNIT")
QUERIES = {
    "socialOrganisations": ("{ socialOrganisations { code } }", set(ROLES)),
    "marketFairs": ('{ marketFairs(from: "2024-06-01", to: "2024-06-30") { heldOn } }',
                    set(ROLES)),
    "cadreRules": ("{ cadreRules { code } }", set(ROLES)),
    "zones.staff": ("{ zones { staff { name } } }", set(ROLES)),
    "cadres": ("{ cadres { code } }",
               {"COMMUNITY_STAFF", "ZONE_OFFICER", "STREET_OFFICER", "COUNTY_OFFICE"}),
    "cadreCompliance": ("{ cadreCompliance(year: 2023) { checkHeld } }",
                        {"COMMUNITY_STAFF", "ZONE_OFFICER", "STREET_OFFICER", "COUNTY_OFFICE"}),
    "cadreTrainings": ("{ cadreTrainings(year: 2023) { title } }",
                       {"COMMUNITY_STAFF", "ZONE_OFFICER", "STREET_OFFICER", "COUNTY_OFFICE"}),
    "serviceRooms": ("{ serviceRooms { totals { code } } }",
                     {"SUPERVISOR", "COMMUNITY_STAFF", "ZONE_OFFICER", "STREET_OFFICER",
                      "COUNTY_OFFICE", "PLANNER"}),
    "serviceRoomApplications": ("{ serviceRoomApplications { id } }",
                                {"SUPERVISOR", "COMMUNITY_STAFF", "ZONE_OFFICER",
                                 "STREET_OFFICER", "COUNTY_OFFICE", "PLANNER"}),
    "communityAssessment": ("{ communityAssessment(year: 2023) { total } }",
                            {"COMMUNITY_STAFF", "ZONE_OFFICER", "STREET_OFFICER",
                             "COUNTY_OFFICE", "PLANNER"}),
}
CASES = [(name, role) for name in QUERIES for role in ROLES]


@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_each_governance_query_per_role(gql: GraphQLClient, token: Minter, name: str,
                                        role: str) -> None:
    query, allowed = QUERIES[name]
    client = gql if role == "PUBLIC" else gql.as_(
        token(role, *([SCOPES[role]] if role in SCOPES else [])))
    body = client(query)
    if role in allowed:
        assert "errors" not in body, body
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
