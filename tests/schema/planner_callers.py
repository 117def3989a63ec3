"""Who may ask for planner analytics, as the issue fixes it: planners, street officers and the
county office. Every other role a token can carry is refused, so a role added to `Role` later
is refused in the tests until someone decides otherwise."""

from __future__ import annotations

from resolvers.actor import Role
from tests.conftest import GraphQLClient, Minter

ALLOWED = (Role.PLANNER, Role.STREET_OFFICER, Role.COUNTY_OFFICE)
# SYSTEM is the server's own actor: no token carries it.
REFUSED = tuple(r for r in Role if r not in ALLOWED and r is not Role.SYSTEM)

# A scope each role's token is valid with.
SCOPES: dict[Role, tuple[str, ...]] = {
    Role.GRID_WORKER: ("371329001001001",), Role.SUPERVISOR: ("371329001001C01",),
    Role.COMMUNITY_STAFF: ("371329001001",), Role.ZONE_OFFICER: ("Z1",),
    Role.STREET_OFFICER: ("371329001",), Role.UNIT: ("PC01",),
}


def token_of(token: Minter, role: Role) -> str | None:
    """A token for the role (None for the public, who send none)."""
    if role is Role.PUBLIC:
        return None
    return token(role.value, *SCOPES.get(role, ()), sub=f"planner-callers-{role.value.lower()}")


def caller_as(gql: GraphQLClient, token: Minter, role: Role) -> GraphQLClient:
    """The GraphQL client as a caller of the role."""
    tok = token_of(token, role)
    return gql if tok is None else gql.as_(tok)
