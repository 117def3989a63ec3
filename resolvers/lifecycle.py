"""The ticket 工单 lifecycle: which move is legal, for whom, and what it needs.

| from | to | who | needs |
|---|---|---|---|
| SUBMITTED | DISPATCHED | routing (system), community staff or above | a unit when none is set |
| DISPATCHED | IN_PROGRESS | the lead unit, community staff or above | |
| IN_PROGRESS | RESOLVED | the lead unit, community staff or above | a note |
| RESOLVED | CLOSED | the reporter (rating 1–5); a grid worker or supervisor (on-site check, \
  a note); the system (7 days after resolution) | |
| SUBMITTED, DISPATCHED | REJECTED | community staff or above | a reason: DUPLICATE, OUT_OF_SCOPE, INVALID |
| RESOLVED, CLOSED | DISPATCHED | the reporter, a grid worker or supervisor, within 30 days of resolution | |
| any open | CLOSED | community staff or above, by merging it into its original | |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from resolvers.actor import FIELD, STAFF, Actor, Role
from resolvers.errors import DomainError, ErrorCode

OPEN = frozenset({"SUBMITTED", "DISPATCHED", "IN_PROGRESS"})
REOPEN_WINDOW = timedelta(days=30)
AUTO_CLOSE_AFTER = timedelta(days=7)
REJECT_REASONS = frozenset({"DUPLICATE", "OUT_OF_SCOPE", "INVALID"})


@dataclass(frozen=True)
class Move:
    source: frozenset[str]
    target: str
    roles: frozenset[Role]


MOVES = (
    Move(frozenset({"SUBMITTED"}), "DISPATCHED", STAFF | {Role.SYSTEM}),
    Move(frozenset({"DISPATCHED"}), "IN_PROGRESS", STAFF | {Role.UNIT}),
    Move(frozenset({"IN_PROGRESS"}), "RESOLVED", STAFF | {Role.UNIT}),
    Move(frozenset({"RESOLVED"}), "CLOSED", FIELD | {Role.RESIDENT, Role.SYSTEM}),
    Move(frozenset({"SUBMITTED", "DISPATCHED"}), "REJECTED", STAFF),
    Move(frozenset({"RESOLVED", "CLOSED"}), "DISPATCHED", FIELD | {Role.RESIDENT}),
)


def find_move(source: str, target: str) -> Move:
    for move in MOVES:
        if source in move.source and move.target == target:
            return move
    raise DomainError(ErrorCode.INVALID_TRANSITION,
                      f"a ticket cannot move from {source} to {target}", "input.to")


def may_aim_for(actor: Actor, target: str) -> None:
    """FORBIDDEN when no move to `target` is ever the caller's to make (checked before the
    ticket's state, so a caller learns nothing about tickets they may not move)."""
    if not any(m.target == target for m in MOVES):
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"no ticket ever moves to {target}",
                          "input.to")
    if not any(actor.role in m.roles for m in MOVES if m.target == target):
        raise DomainError(ErrorCode.FORBIDDEN,
                          f"a {actor.role.value} may not move tickets to {target}")


def in_scope(actor: Actor, ticket: Any) -> bool:
    """Whether the caller answers for this ticket's place, unit or report."""
    role = actor.role
    if role in (Role.COUNTY_OFFICE, Role.SYSTEM):
        return True
    if role is Role.RESIDENT:
        return bool(ticket.reporter_subject) and ticket.reporter_subject == actor.subject
    if role is Role.UNIT:
        return ticket.unit_code in actor.scopes
    if role is Role.SUPERVISOR:
        return actor.covers([ticket.compound_code])
    if role in (Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_OFFICER):
        return actor.covers([ticket.cell_code])
    return False


def authorise(actor: Actor, move: Move, ticket: Any) -> None:
    if actor.role not in move.roles:
        raise DomainError(ErrorCode.FORBIDDEN,
                          f"a {actor.role.value} may not move a ticket from {ticket.status} "
                          f"to {move.target}")
    if not in_scope(actor, ticket):
        raise DomainError(ErrorCode.FORBIDDEN, f"ticket {ticket.code} is outside your scope")


@dataclass(frozen=True)
class Request:
    """A caller's request to move a ticket."""

    target: str
    note: str | None = None
    reason: str | None = None
    unit_code: str | None = None
    rating: int | None = None


def check_needs(actor: Actor, ticket: Any, req: Request, now: datetime) -> None:
    """Raises when the move lacks what it needs (a note, a reason, a rating, a unit)."""
    note = (req.note or "").strip()
    if len(note) > 2000:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "note must be at most 2,000 characters",
                          "input.note")
    if req.target == "RESOLVED" and not note:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "say what was done: a note is required "
                          "to resolve a ticket", "input.note")
    if req.target == "REJECTED" and req.reason not in REJECT_REASONS:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "a rejection needs a reason: DUPLICATE, "
                          "OUT_OF_SCOPE or INVALID", "input.reason")
    if req.rating is not None and not 1 <= req.rating <= 5:
        raise DomainError(ErrorCode.BAD_USER_INPUT, f"rating must be 1–5, got {req.rating}",
                          "input.rating")
    if req.target == "CLOSED" and actor.role is Role.RESIDENT and req.rating is None:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "rate the outcome 1–5 to close your ticket",
                          "input.rating")
    if req.target == "CLOSED" and actor.role in FIELD and not note:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "an on-site verification needs a note",
                          "input.note")
    if req.target == "CLOSED" and actor.role is Role.SYSTEM and (
            ticket.resolved_at is None or now - ticket.resolved_at < AUTO_CLOSE_AFTER):
        raise DomainError(ErrorCode.INVALID_TRANSITION, "closes by itself only 7 days after "
                          "resolution")
    if ticket.status in ("RESOLVED", "CLOSED") and req.target == "DISPATCHED" and (
            ticket.resolved_at is None or now - ticket.resolved_at > REOPEN_WINDOW):
        raise DomainError(ErrorCode.INVALID_TRANSITION, "a ticket can be reopened only within "
                          "30 days of its resolution", "input.to")
    if req.target == "DISPATCHED" and ticket.status == "SUBMITTED" and not (
            req.unit_code or ticket.unit_code):
        raise DomainError(ErrorCode.BAD_USER_INPUT, "name the unit to dispatch to",
                          "input.unitCode")
