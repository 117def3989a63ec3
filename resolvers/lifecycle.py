"""The ticket 工单 lifecycle: which move is legal, and what it needs. Who may make each move
is the policy table's (`resolvers/policy.py`).

| from | to | operation | needs |
|---|---|---|---|
| SUBMITTED | DISPATCHED | DISPATCH | a unit when none is set |
| DISPATCHED | IN_PROGRESS | START | |
| IN_PROGRESS | RESOLVED | RESOLVE | a note |
| RESOLVED | CLOSED | CLOSE | the reporter a rating 1–5, a grid worker or supervisor a note, \
  the system 7 days after resolution |
| SUBMITTED, DISPATCHED | REJECTED | REJECT | a reason: DUPLICATE, OUT_OF_SCOPE, INVALID |
| RESOLVED, CLOSED | DISPATCHED | REOPEN | within 30 days of resolution |
| any open | CLOSED | MERGE (by merging it into its original) | |

Naming a lead unit other than the ticket's own is REASSIGN as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db.vocabulary import OPEN_STATUSES
from db.vocabulary import TicketStatus as Status
from resolvers import policy
from resolvers.actor import Actor, Role
from resolvers.errors import DomainError, ErrorCode
from resolvers.policy import Operation

OPEN = frozenset(OPEN_STATUSES)
REOPEN_WINDOW = timedelta(days=30)
AUTO_CLOSE_AFTER = timedelta(days=7)
REJECT_REASONS = frozenset({"DUPLICATE", "OUT_OF_SCOPE", "INVALID"})


@dataclass(frozen=True)
class Move:
    source: frozenset[str]
    target: str
    operation: Operation


MOVES = (
    Move(frozenset({Status.SUBMITTED}), Status.DISPATCHED, Operation.DISPATCH),
    Move(frozenset({Status.DISPATCHED}), Status.IN_PROGRESS, Operation.START),
    Move(frozenset({Status.IN_PROGRESS}), Status.RESOLVED, Operation.RESOLVE),
    Move(frozenset({Status.RESOLVED}), Status.CLOSED, Operation.CLOSE),
    Move(frozenset({Status.SUBMITTED, Status.DISPATCHED}), Status.REJECTED, Operation.REJECT),
    Move(frozenset({Status.RESOLVED, Status.CLOSED}), Status.DISPATCHED, Operation.REOPEN),
)


def find_move(source: str, target: str) -> Move:
    for move in MOVES:
        if source in move.source and move.target == target:
            return move
    raise DomainError(ErrorCode.INVALID_TRANSITION,
                      f"a ticket cannot move from {source} to {target}", "input.to")


def moves_open_to(actor: Actor, target: str) -> list[Operation]:
    """The operations moving a ticket to `target` that the caller's role may make.

    FORBIDDEN when there are none (checked before the ticket is loaded, so a caller learns
    nothing about tickets they may not move)."""
    if not any(m.target == target for m in MOVES):
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"no ticket ever moves to {target}",
                          "input.to")
    ops = [m.operation for m in MOVES if m.target == target and policy.may(actor, m.operation)]
    if not ops:
        raise DomainError(ErrorCode.FORBIDDEN,
                          f"a {actor.role.value} may not move tickets to {target}")
    return ops


def in_scope(actor: Actor, ticket: Any) -> bool:
    """Whether the caller answers for this ticket's place, lead unit or report: they read its
    reporter unmasked."""
    return policy.may(actor, Operation.READ_REPORTER, policy.ticket(ticket))


def authorise(actor: Actor, move: Move, ticket: Any) -> None:
    if not policy.may(actor, move.operation):
        raise DomainError(ErrorCode.FORBIDDEN,
                          f"a {actor.role.value} may not move a ticket from {ticket.status} "
                          f"to {move.target}")
    policy.authorise(actor, move.operation, policy.ticket(ticket))


@dataclass(frozen=True)
class Request:
    """A caller's request to move a ticket."""

    target: str
    note: str | None = None
    reason: str | None = None
    unit_code: str | None = None
    rating: int | None = None


def needs_note(role: Role, target: str) -> bool:
    """Whether a move by `role` to `target` needs a note: what was done to resolve a ticket,
    what a grid worker or supervisor found when verifying it on site."""
    how = policy.CLOSING.get(role)
    return target == Status.RESOLVED or (target == Status.CLOSED and how is not None
                                         and how.needs == "note")


def check_needs(actor: Actor, ticket: Any, req: Request, now: datetime) -> None:
    """Raises when the move lacks what it needs (a note, a reason, a rating, a unit)."""
    note = (req.note or "").strip()
    if len(note) > 2000:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "note must be at most 2,000 characters",
                          "input.note")
    if needs_note(actor.role, req.target) and not note:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "say what was done: a note is required "
                          "to resolve a ticket" if req.target == Status.RESOLVED else
                          "an on-site verification needs a note", "input.note")
    if req.target == Status.REJECTED and req.reason not in REJECT_REASONS:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "a rejection needs a reason: DUPLICATE, "
                          "OUT_OF_SCOPE or INVALID", "input.reason")
    if req.rating is not None and not 1 <= req.rating <= 5:
        raise DomainError(ErrorCode.BAD_USER_INPUT, f"rating must be 1–5, got {req.rating}",
                          "input.rating")
    closing = policy.closing(actor) if req.target == Status.CLOSED else None
    if closing is not None and closing.needs == "rating" and req.rating is None:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "rate the outcome 1–5 to close your ticket",
                          "input.rating")
    if closing is not None and closing.needs == "wait" and (
            ticket.resolved_at is None or now - ticket.resolved_at < AUTO_CLOSE_AFTER):
        raise DomainError(ErrorCode.INVALID_TRANSITION, "closes by itself only 7 days after "
                          "resolution")
    if req.unit_code and req.target != Status.DISPATCHED:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "a unitCode goes only with to: DISPATCHED",
                          "input.unitCode")
    if req.target == Status.DISPATCHED and ticket.status in (Status.RESOLVED, Status.CLOSED) and (
            ticket.resolved_at is None or now - ticket.resolved_at > REOPEN_WINDOW):
        raise DomainError(ErrorCode.INVALID_TRANSITION, "a ticket can be reopened only within "
                          "30 days of its resolution", "input.to")
    if req.target == Status.DISPATCHED and ticket.status == Status.SUBMITTED and not (
            req.unit_code or ticket.unit_code):
        raise DomainError(ErrorCode.BAD_USER_INPUT, "name the unit to dispatch to",
                          "input.unitCode")
