"""The policy table: the README shows it as it is, and its scope rules read the right codes."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from resolvers import policy
from resolvers.actor import Actor, Role
from resolvers.errors import DomainError, ErrorCode
from resolvers.policy import FILING_CHANNELS, POLICY, ROLES_SHOWN, Operation, Scope
from schema.scalars import Channel

README = Path(__file__).resolve().parents[2] / "README.md"
TICKET = SimpleNamespace(code="T1", cell_code="371329001002003", compound_code="371329001002C01",
                         unit_code="PC07", reporter_subject="r-1")


def test_the_readme_shows_the_table_rendered_from_the_policy() -> None:
    assert policy.role_table() in README.read_text(encoding="utf-8")


def _readme_channels() -> dict[Role, set[str]]:
    """The README's table of who files on which channel, as role → channels."""
    text = README.read_text(encoding="utf-8")
    lines = text[text.index("Who files tickets, on which channel"):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| role"))
    channels = {c.value for c in Channel}
    out: dict[Role, set[str]] = {}
    above: set[str] = set()
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        who, what = line.split("|")[1:3]
        named = set(re.findall(r"[A-Z][A-Z0-9_]+", what)) & channels
        if "every channel above" in what:
            named |= above
        above |= named
        for role in re.findall(r"[A-Z][A-Z_]+", who.replace("the public", "PUBLIC")):
            out[Role(role)] = named
    return out


def test_the_readme_channel_table_is_the_policys() -> None:
    assert _readme_channels() == {r: set(FILING_CHANNELS.get(r, ())) for r in ROLES_SHOWN}
    filers = {r for r, channels in FILING_CHANNELS.items() if channels}
    assert filers == set(POLICY[Operation.FILE_TICKET])


def test_every_operation_has_a_row_and_no_role_acts_as_the_public() -> None:
    assert set(POLICY) == set(Operation)
    assert all(Role.PUBLIC not in rule for rule in POLICY.values())


@pytest.mark.parametrize(("role", "scopes", "allowed"), [
    (Role.GRID_WORKER, ("371329001002003",), True),
    (Role.GRID_WORKER, ("371329001002004",), False),
    (Role.SUPERVISOR, ("371329001002C01",), True),
    (Role.SUPERVISOR, ("371329001002C02",), False),
    # A supervisor is judged by the compound alone, even with a wider code.
    (Role.SUPERVISOR, ("371329001002003",), False),
    (Role.COMMUNITY_STAFF, ("371329001002",), True),
    (Role.COMMUNITY_STAFF, ("371329001003",), False),
    (Role.STREET_OFFICER, ("371329001",), True),
    (Role.STREET_OFFICER, ("371329002",), False),
    (Role.UNIT, ("PC07",), True),
    (Role.UNIT, ("PC0",), False),  # a unit code is matched whole, never as a prefix
    (Role.COUNTY_OFFICE, (), True),
    (Role.PLANNER, (), False),
    (Role.PUBLIC, (), False),
])
def test_in_scope_reads_the_roles_own_code(role: Role, scopes: tuple[str, ...],
                                           allowed: bool) -> None:
    actor = Actor("a", role, scopes)
    assert policy.may(actor, Operation.READ_REPORTER, policy.ticket(TICKET)) is allowed


def test_own_and_nearby_for_residents() -> None:
    reporter, neighbour = Actor("r-1", Role.RESIDENT), Actor("r-2", Role.RESIDENT)
    assert policy.may(reporter, Operation.CLOSE, policy.ticket(TICKET))
    assert not policy.may(neighbour, Operation.CLOSE, policy.ticket(TICKET))
    assert not policy.may(neighbour, Operation.COSIGN, policy.ticket(TICKET))
    assert policy.may(neighbour, Operation.COSIGN, policy.ticket(TICKET, nearby_own=True))
    assert not policy.may(neighbour, Operation.CLOSE, policy.ticket(TICKET, nearby_own=True))


def test_missing_codes_are_forbidden_unless_the_caller_acts_anywhere() -> None:
    not_found = DomainError(ErrorCode.NOT_FOUND, "no ticket 'T9'")
    staff = Actor("s", Role.COMMUNITY_STAFF, ("371329001002",))
    county = Actor("k", Role.COUNTY_OFFICE)
    out = policy.missing(staff, Operation.ESCALATE, "ticket T9", not_found)
    assert (out.code.value, out.message) == ("FORBIDDEN", "ticket T9 is outside your scope")
    assert policy.missing(county, Operation.ESCALATE, "ticket T9", not_found) is not_found
    assert policy.rule_of(county, Operation.ESCALATE) is Scope.ANY


ROOT = Path(__file__).resolve().parents[2]
# A role compared or looked up outside the policy: `Role.X` named in an expression, or a role
# tested with is / == / != / in against a role, a set of roles or a literal.
ROLE_CHECK = re.compile(r"\bRole\.[A-Z_]+\b|\brole\s+(?:is not|is|==|!=|not in|in)\s+"
                        r"(?:Role\b|[A-Z][A-Z_]+\b|[{(\[])")
# What must stay, with the reason.
ALLOWED = {
    # The role model itself: what a role is, which roles see everything (`covers`) and which
    # token names zones. The policy is built on it.
    "resolvers/actor.py",
    # The table itself.
    "resolvers/policy.py",
}


def test_no_role_check_outside_the_policy() -> None:
    """Who may do what is read from `resolvers/policy.py`: no resolver or schema module
    branches on a role of its own (volunteer roles, `VolunteerRole`, are another thing)."""
    found = []
    for path in sorted([*ROOT.glob("resolvers/**/*.py"), *ROOT.glob("schema/**/*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in ALLOWED:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if ROLE_CHECK.search(code.replace("VolunteerRole.", "")):
                found.append(f"{name}:{n}: {line.strip()}")
    assert found == []


def test_every_role_that_closes_says_how() -> None:
    assert set(policy.CLOSING) == set(POLICY[Operation.CLOSE])
    assert {how.needs for how in policy.CLOSING.values()} <= {"rating", "note", "wait"}


def test_exact_counts_and_fine_periods_are_rows_of_the_table() -> None:
    """Planners and the county office count exactly everywhere; staff and field workers in
    their scope; only the county office (and the server's jobs) counts by finer periods."""
    exactly = POLICY[Operation.COUNT_EXACTLY]
    assert {r for r, s in exactly.items() if s is Scope.ANY} == {
        Role.PLANNER, Role.COUNTY_OFFICE, Role.SYSTEM}
    assert Role.PUBLIC not in exactly and Role.RESIDENT not in exactly
    assert set(POLICY[Operation.COUNT_ANY_PERIOD]) == {Role.COUNTY_OFFICE, Role.SYSTEM}
