"""Who may do what 权限: one table of operations × roles × scope rule, consulted by every resolver.

A role missing from an operation's row may not perform it at all. A role in the row may, where
the scope rule holds for the ticket or place at hand:

- `ANY`: anywhere in the county;
- `IN_SCOPE`: the ticket or place lies inside the caller's scope codes. A ticket is judged by
  its grid cell for grid workers, community staff and street officers, by its compound for
  supervisors and by its lead unit for units (for reading, a unit also sees the tickets it
  cooperates on); a place by its own code;
- `OWN`: the resident reported the ticket;
- `OWN_OR_NEARBY`: the resident reported the ticket, or it is a ticket of the same item within
  100 m of one of their reports and from the 30 days before it — the tickets `createTicket`
  lists to them as possible duplicates.

`authorise` raises FORBIDDEN; a caller outside the scope hears the same whether or not the
ticket exists (`outside_scope`). The README's role table is rendered from `POLICY`. Beside it,
two smaller tables say what a role's scope codes name (`SCOPE_KEYS`) and how each role that
may close a ticket closes it (`CLOSING`); resolvers read roles through these, never directly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from resolvers.actor import Actor, Role
from resolvers.errors import DomainError, ErrorCode


class Scope(enum.Enum):
    ANY = "any"
    IN_SCOPE = "in scope"
    OWN = "own"
    OWN_OR_NEARBY = "own or nearby"


class Operation(enum.Enum):
    """What a caller does; the value names it in the API."""

    READ_TICKETS = "read tickets: `ticket`, `tickets`, `nearbyTickets`"
    READ_REPORTER = "read a ticket's reporter name and phone unmasked"
    FILE_TICKET = "file a ticket: `createTicket` (channels below)"
    SEE_DUPLICATE_DISTANCES = "exact distances of possible duplicates (else rounded to 50 m)"
    DISPATCH = "dispatch: SUBMITTED → DISPATCHED"
    START = "start: DISPATCHED → IN_PROGRESS"
    RESOLVE = "resolve: IN_PROGRESS → RESOLVED"
    CLOSE = "close: RESOLVED → CLOSED (rate, verify)"
    REJECT = "reject: SUBMITTED, DISPATCHED → REJECTED"
    REOPEN = "reopen: RESOLVED, CLOSED → DISPATCHED"
    REASSIGN = "reassign: name another lead `unitCode`"
    ESCALATE = "escalate: `escalateTicket`"
    MERGE = "merge: `mergeTickets` (both tickets)"
    COSIGN = "co-sign: `cosignTicket`"
    COORDINATE = "zone coordination 片区协调: `coordinateTicket` (a community-level ticket)"
    READ_SERVICE_ROOMS = "the service rooms' ledger 社服用房: `serviceRooms`, applications"
    APPLY_SERVICE_ROOM = "apply for a service room for the owners' committee: `applyForServiceRoom`"
    REVIEW_SERVICE_ROOM = "review it for the community party organisation: `reviewServiceRoomApplication`"
    APPROVE_SERVICE_ROOM = "approve it for the street: `approveServiceRoomApplication`"
    READ_CADRES = "community cadres 社区干部 and their record: `cadres`, `cadreCompliance`, trainings"
    READ_ASSESSMENT = "the community scorecard 社区考核: `communityAssessment`"
    READ_VOLUNTEERS = "list volunteers: `volunteers`"
    READ_VOLUNTEER_NAMES = "volunteers' names and employers"
    READ_BUILDING_HEADS = "a building's head 楼栋长 by name: `Building.head`"
    READ_COMPLIANCE = "volunteers' compliance: `volunteerCompliance`"
    RECORD_SERVICE = "record service: `recordVolunteerService` (volunteer and ticket)"
    REPORT_DUTY_YEAR = "report members' years to their employers: `reportVolunteerYear`"
    READ_YEAR_RECORDS = "members' reported years: `volunteerYearRecords` (a unit: its employees)"
    READ_COMMITTEES = "owners' committees: `Compound.ownersCommittee`, " \
        "`ownersCommitteeCompliance`"
    READ_COMMITTEE_NAMES = "owners' committee members' names"
    ELECT_COMMITTEE = "elect an owners' committee: `electOwnersCommittee`"
    VET_COMMITTEE_MEMBER = "vet a member against the negative list: `vetCommitteeMember`"
    READ_REFERRALS = "efficiency-office referrals: `efficiencyReferrals`"
    READ_UNIT_RATINGS = "a unit's ratings: `unitRatings`"
    READ_ACCESS_LOG = "the personal-data access log: `personalDataAccess`"
    READ_PROPERTY_RANKING = "the property companies' ranking: `propertyRanking`"
    READ_SUMMONS = "summons of companies and units: `summonsRecords` (a unit: its own)"
    RECORD_SUMMONS = "record a summons: `recordSummons`"
    READ_BONDS = "a contract's performance bond: `bondLedger`, `compoundBonds`"
    KEEP_BONDS = "draw on or top up a bond: `drawBond`, `topUpBond`"
    PLAN = "planner analytics: `coverage`, `suggestSites`, `whatIf`, `marketGroups`, " \
        "`areaStats`, `/exports`"
    WATCH_EVENTS = "live ticket events: `ticketEvents` (a filter inside the scope)"
    READ_UNIT_NOTIFICATIONS = "a unit's notifications: `unitNotifications`"
    SET_WEBHOOK = "set a unit's webhook: `setUnitWebhook` (a unit: after a handshake)"
    RECORD_PATROL = "record a patrol visit: `recordPatrolVisit`"
    RECEIVE_PUSH = "push notifications on a phone: `subscribePush` (tickets in scope)"
    READ_PATROLS = "patrol coverage: `patrolCoverage`, `patrolCoverageByCommunity`, the " \
        "`patrol_coverage` layer 巡查覆盖"
    COUNT_EXACTLY = "exact ticket counts, the small ones too (else withheld): every aggregate " \
        "route"
    COUNT_ANY_PERIOD = "ticket counts over periods finer than whole months"


Rule = Mapping[Role, Scope]

_ANY, _IN, _OWN = Scope.ANY, Scope.IN_SCOPE, Scope.OWN
_STAFF: Rule = {Role.COMMUNITY_STAFF: _IN, Role.ZONE_OFFICER: _IN, Role.STREET_OFFICER: _IN,
                Role.COUNTY_OFFICE: _ANY}
_FIELD: Rule = {Role.GRID_WORKER: _IN, Role.SUPERVISOR: _IN}
_ALL_STAFF: Rule = {Role.COMMUNITY_STAFF: _ANY, Role.ZONE_OFFICER: _ANY,
                    Role.STREET_OFFICER: _ANY, Role.COUNTY_OFFICE: _ANY}

POLICY: Mapping[Operation, Rule] = {
    Operation.READ_TICKETS: {Role.RESIDENT: _OWN, **_FIELD, **_STAFF, Role.UNIT: _IN,
                             Role.SYSTEM: _ANY},
    Operation.READ_REPORTER: {Role.RESIDENT: _OWN, **_FIELD, **_STAFF, Role.UNIT: _IN,
                              Role.SYSTEM: _ANY},
    Operation.FILE_TICKET: {Role.RESIDENT: _ANY, **_FIELD, **_STAFF},
    Operation.SEE_DUPLICATE_DISTANCES: {Role.GRID_WORKER: _ANY, Role.SUPERVISOR: _ANY,
                                        **_ALL_STAFF},
    Operation.DISPATCH: {**_STAFF, Role.SYSTEM: _ANY},
    Operation.START: {**_STAFF, Role.UNIT: _IN},
    Operation.RESOLVE: {**_STAFF, Role.UNIT: _IN},
    Operation.CLOSE: {Role.RESIDENT: _OWN, **_FIELD, Role.SYSTEM: _ANY},
    Operation.REJECT: {**_STAFF},
    Operation.REOPEN: {Role.RESIDENT: _OWN, **_FIELD, **_STAFF},
    Operation.REASSIGN: {**_STAFF, Role.SYSTEM: _ANY},
    Operation.ESCALATE: {**_STAFF, Role.SYSTEM: _ANY},
    Operation.MERGE: {**_STAFF},
    Operation.COSIGN: {Role.RESIDENT: Scope.OWN_OR_NEARBY},
    Operation.COORDINATE: {Role.ZONE_OFFICER: _IN, Role.COUNTY_OFFICE: _ANY},
    Operation.READ_SERVICE_ROOMS: {Role.SUPERVISOR: _IN, **_STAFF, Role.PLANNER: _ANY},
    Operation.APPLY_SERVICE_ROOM: {Role.SUPERVISOR: _IN, Role.COMMUNITY_STAFF: _IN,
                                   Role.COUNTY_OFFICE: _ANY},
    Operation.REVIEW_SERVICE_ROOM: {Role.COMMUNITY_STAFF: _IN, Role.COUNTY_OFFICE: _ANY},
    Operation.APPROVE_SERVICE_ROOM: {Role.STREET_OFFICER: _IN, Role.COUNTY_OFFICE: _ANY},
    Operation.READ_CADRES: {**_STAFF},
    Operation.READ_ASSESSMENT: {**_ALL_STAFF, Role.PLANNER: _ANY},
    Operation.READ_VOLUNTEERS: {**_STAFF, Role.PLANNER: _ANY},
    Operation.READ_VOLUNTEER_NAMES: {**_STAFF},
    Operation.READ_BUILDING_HEADS: {**_FIELD, **_STAFF},
    Operation.READ_COMPLIANCE: {**_STAFF},
    Operation.RECORD_SERVICE: {**_STAFF},
    Operation.REPORT_DUTY_YEAR: {**_STAFF},
    Operation.READ_YEAR_RECORDS: {**_STAFF, Role.UNIT: _IN},
    Operation.READ_COMMITTEES: {**_STAFF, Role.PLANNER: _ANY},
    Operation.READ_COMMITTEE_NAMES: {**_STAFF},
    Operation.ELECT_COMMITTEE: {**_STAFF},
    Operation.VET_COMMITTEE_MEMBER: {**_STAFF},
    Operation.READ_REFERRALS: {**_ALL_STAFF, Role.PLANNER: _ANY},
    Operation.READ_UNIT_RATINGS: {**_ALL_STAFF, Role.PLANNER: _ANY, Role.UNIT: _IN},
    Operation.READ_ACCESS_LOG: {Role.COUNTY_OFFICE: _ANY},
    Operation.READ_PROPERTY_RANKING: {**_ALL_STAFF, Role.PLANNER: _ANY},
    Operation.READ_SUMMONS: {**_ALL_STAFF, Role.PLANNER: _ANY, Role.UNIT: _IN},
    Operation.RECORD_SUMMONS: {Role.COUNTY_OFFICE: _ANY},
    Operation.READ_BONDS: {**_STAFF, Role.UNIT: _IN},
    Operation.KEEP_BONDS: {Role.STREET_OFFICER: _IN, Role.COUNTY_OFFICE: _ANY},
    Operation.PLAN: {Role.PLANNER: _ANY, Role.STREET_OFFICER: _ANY, Role.COUNTY_OFFICE: _ANY},
    Operation.WATCH_EVENTS: {**_FIELD, **_STAFF, Role.UNIT: _IN, Role.SYSTEM: _ANY},
    Operation.READ_UNIT_NOTIFICATIONS: {Role.COUNTY_OFFICE: _ANY, Role.UNIT: _IN,
                                        Role.SYSTEM: _ANY},
    Operation.SET_WEBHOOK: {Role.COUNTY_OFFICE: _ANY, Role.UNIT: _IN, Role.SYSTEM: _ANY},
    Operation.RECORD_PATROL: {**_FIELD},
    Operation.RECEIVE_PUSH: {**_FIELD, Role.COMMUNITY_STAFF: _IN},
    Operation.READ_PATROLS: {**_STAFF, Role.PLANNER: _ANY},
    # Planners count for analysis (never seeing a record); staff and field workers count what
    # they see as records anyway; everyone else sees small counts withheld (disclosure.py).
    Operation.COUNT_EXACTLY: {**_FIELD, **_STAFF, Role.PLANNER: _ANY, Role.SYSTEM: _ANY},
    # Finer periods would let two windows be differenced down to one report.
    Operation.COUNT_ANY_PERIOD: {Role.COUNTY_OFFICE: _ANY, Role.SYSTEM: _ANY},
}

# Who files on which channel (`createTicket`). Residents file for themselves; staff and field
# roles file what they collect; the county office takes the 12345 hotline and may enter any
# channel's backlog. Roles without FILE_TICKET file on none.
_COMMUNITY_CHANNELS = frozenset({"RECEPTION_DAY", "PLAZA_REPORT", "DOOR_KNOCKING"})
FILING_CHANNELS: Mapping[Role, frozenset[str]] = {
    Role.RESIDENT: frozenset({"ONLINE", "QR_CODE"}),
    Role.GRID_WORKER: frozenset({"GRID_PATROL"}),
    Role.SUPERVISOR: frozenset({"SUPERVISOR"}),
    Role.COMMUNITY_STAFF: _COMMUNITY_CHANNELS,
    Role.ZONE_OFFICER: _COMMUNITY_CHANNELS,
    Role.STREET_OFFICER: _COMMUNITY_CHANNELS,
    Role.COUNTY_OFFICE: frozenset({"HOTLINE_12345", "ONLINE", "QR_CODE", "GRID_PATROL",
                                   "SUPERVISOR"}) | _COMMUNITY_CHANNELS,
}

# What "nearby" means for OWN_OR_NEARBY: the reach of the possible-duplicate hints.
NEARBY_RADIUS_M = 100.0
NEARBY_WINDOW = timedelta(days=30)

class ScopeKey(enum.Enum):
    """What a role's scope codes name, and so which of a ticket's codes IN_SCOPE reads."""

    CELL = "cell"  # areas (street, community, grid cell): a ticket by its grid cell
    COMPOUND = "compound"  # compounds only: a ticket by its compound, never a wider area
    UNIT = "unit"  # units (a property company, a department): a ticket by its lead unit,
    # members by their employer, contracts by their company


# Roles whose scope codes are not areas; every other role's are.
SCOPE_KEYS: Mapping[Role, ScopeKey] = {Role.SUPERVISOR: ScopeKey.COMPOUND,
                                       Role.UNIT: ScopeKey.UNIT}


@dataclass(frozen=True)
class Closing:
    """How a role closes a ticket (CLOSE): what the move must carry and the event it writes."""

    needs: str  # "rating" (1–5), "note" (what was found on site) or "wait" (7 days resolved)
    action: str


# One row for every role with CLOSE: a resident rates its own ticket, field workers verify on
# site, the server's job closes what has stayed resolved for 7 days.
CLOSING: Mapping[Role, Closing] = {
    Role.RESIDENT: Closing("rating", "RATED"),
    Role.GRID_WORKER: Closing("note", "VERIFIED"),
    Role.SUPERVISOR: Closing("note", "VERIFIED"),
    Role.SYSTEM: Closing("wait", "AUTO_CLOSED"),
}


@dataclass(frozen=True)
class Target:
    """What a scope rule is checked against: a ticket, or a place on its own (`place_code`).

    `label` names it in the FORBIDDEN message, e.g. `ticket T20240301-0000042`.
    """

    label: str
    cell_code: str | None = None
    compound_code: str | None = None
    unit_code: str | None = None
    reporter_subject: str | None = None
    place_code: str | None = None
    nearby_own: bool = False


def ticket(row: Any, *, nearby_own: bool = False) -> Target:
    """A ticket row (with code, cell_code, compound_code, unit_code, reporter_subject)."""
    def get(column: str) -> str | None:
        return getattr(row, column, None)

    return Target(f"ticket {get('code')}", cell_code=get("cell_code"),
                  compound_code=get("compound_code"), unit_code=get("unit_code"),
                  reporter_subject=get("reporter_subject"), nearby_own=nearby_own)


def place(code: str, label: str | None = None) -> Target:
    """A place (street, community, grid cell, compound) or unit by its code."""
    return Target(label or code, place_code=code)


def contract(row: Any) -> Target:
    """A property contract (with id, compound_code, company_code): staff judge it by its
    compound, a unit by its company."""
    return Target(f"contract {row.id}", place_code=row.compound_code,
                  unit_code=row.company_code)


def rule_of(actor: Actor, operation: Operation) -> Scope | None:
    """The caller's scope rule for an operation; None when the role may not perform it."""
    return POLICY[operation].get(actor.role)


def anywhere(operation: Operation) -> frozenset[Role]:
    """The roles that may perform an operation anywhere (scope ANY)."""
    return frozenset(role for role, scope in POLICY[operation].items() if scope is Scope.ANY)


def may(actor: Actor, operation: Operation, target: Target | None = None) -> bool:
    """Whether the caller may perform the operation (on `target`, when given)."""
    scope = rule_of(actor, operation)
    if scope is None:
        return False
    return target is None or _holds(actor, scope, target)


def sql_scopes(actor: Actor, operation: Operation) -> list[str] | None:
    """The scope codes `db/` applies in SQL for an operation (`in_scopes`); None when the
    caller may perform it anywhere."""
    return None if rule_of(actor, operation) is Scope.ANY else list(actor.scopes)


def check_place(actor: Actor, operation: Operation, code: str | None, field: str) -> None:
    """FORBIDDEN when a caller filters on a place (`code`, given as `field`) they do not answer
    for; nothing to check without one."""
    if code is not None and not may(actor, operation, place(code)):
        raise DomainError(ErrorCode.FORBIDDEN, f"{code} is outside your scope", field)


def check_role(actor: Actor, operation: Operation, why: str | None = None) -> None:
    """FORBIDDEN unless the caller's role may ever perform the operation: checked before
    anything is loaded, so a caller learns nothing about what they may not act on.

    Args:
        why: the message, when the operation's name does not say enough.
    """
    if rule_of(actor, operation) is None:
        what = operation.name.lower().replace("_", " ")
        raise DomainError(ErrorCode.FORBIDDEN, why or f"a {actor.role.value} may not {what}")


def authorise(actor: Actor, operation: Operation, target: Target) -> None:
    """FORBIDDEN unless the caller may perform the operation on `target`."""
    check_role(actor, operation)
    if not may(actor, operation, target):
        raise outside_scope(target.label)


def outside_scope(label: str) -> DomainError:
    """The one answer for a ticket or place outside the caller's scope, or one that does not
    exist where the caller may not look."""
    return DomainError(ErrorCode.FORBIDDEN, f"{label} is outside your scope")


def missing(actor: Actor, operation: Operation, label: str, not_found: DomainError) -> DomainError:
    """The error for a code that names nothing: NOT_FOUND for callers who may act anywhere,
    otherwise the same FORBIDDEN as for something outside their scope."""
    return not_found if rule_of(actor, operation) is Scope.ANY else outside_scope(label)


def _holds(actor: Actor, scope: Scope, target: Target) -> bool:
    if scope is Scope.ANY:
        return True
    own = bool(target.reporter_subject) and target.reporter_subject == actor.subject
    if scope is Scope.OWN:
        return own
    if scope is Scope.OWN_OR_NEARBY:
        return own or target.nearby_own
    key = scope_key(actor)
    if key is ScopeKey.UNIT:
        return (target.unit_code or target.place_code) in actor.scopes
    if target.place_code is not None:
        return actor.covers([target.place_code])
    if key is ScopeKey.COMPOUND:
        return actor.covers([target.compound_code])
    return actor.covers([target.cell_code])


def scope_key(actor: Actor) -> ScopeKey:
    """What the caller's scope codes name (`SCOPE_KEYS`)."""
    return SCOPE_KEYS.get(actor.role, ScopeKey.CELL)


def ticket_key(actor: Actor) -> str:
    """Which of a ticket's codes the caller's IN_SCOPE rule reads: `cell`, `compound` or `unit`."""
    return scope_key(actor).value


def closing(actor: Actor) -> Closing | None:
    """How the caller closes a ticket; None for a role without CLOSE."""
    return CLOSING.get(actor.role)


def files_own_reports(actor: Actor) -> bool:
    """Whether what the caller files is its own report (read back under an OWN rule), so the
    ticket keeps the caller as its reporter."""
    return rule_of(actor, Operation.READ_TICKETS) is Scope.OWN


ROLES_SHOWN = (Role.PUBLIC, Role.RESIDENT, Role.GRID_WORKER, Role.SUPERVISOR,
               Role.COMMUNITY_STAFF, Role.ZONE_OFFICER, Role.STREET_OFFICER, Role.COUNTY_OFFICE,
               Role.PLANNER, Role.UNIT)


def role_table() -> str:
    """The policy as a Markdown table, as the README shows it (SYSTEM, the server's own jobs,
    is left out: no token carries it)."""
    head = "| operation | " + " | ".join(r.value for r in ROLES_SHOWN) + " |"
    lines = [head, "|---|" + "---|" * len(ROLES_SHOWN)]
    for operation, rule in POLICY.items():
        cells = [rule[r].value if r in rule else "—" for r in ROLES_SHOWN]
        lines.append(f"| {operation.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
