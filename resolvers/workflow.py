"""Moving tickets 工单 along: transitions, escalation up the ladder, co-signing, merging.

Every change is a conditional update on the ticket's version with its event, in one
transaction: of two concurrent writes with the same expected version exactly one wins and
the other gets CONFLICT.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.catalogue import DEADLINES
from db.database import Database
from db.queries import ticket_updates as q
from resolvers.actor import STAFF, Actor, Role
from resolvers.errors import DomainError, ErrorCode
from resolvers.lifecycle import (
    OPEN,
    Request,
    authorise,
    check_needs,
    find_move,
    in_scope,
    may_aim_for,
)

LADDER = ("COMMUNITY", "STREET", "COUNTY")


def _not_found(code: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"no ticket {code!r}", "input.code")


def _conflict(code: str) -> DomainError:
    return DomainError(ErrorCode.CONFLICT, f"ticket {code} was changed by someone else; "
                       "reload it and try again", "input.expectedVersion")


async def _load(conn: Any, actor: Actor, code: str, expected_version: int | None) -> Any:
    """The ticket to change: NOT_FOUND, then FORBIDDEN outside the caller's scope (before
    anything about its state is told), then CONFLICT on a stale version."""
    ticket = await q.ticket_for_change(conn, code)
    if ticket is None:
        raise _not_found(code)
    if not in_scope(actor, ticket):
        raise DomainError(ErrorCode.FORBIDDEN, f"ticket {code} is outside your scope")
    if expected_version is not None and ticket.version != expected_version:
        raise _conflict(code)
    return ticket


def _changes(ticket: Any, req: Request, actor: Actor, now: datetime) -> dict[str, Any]:
    target = req.target
    changes: dict[str, Any] = {"status": target}
    if target == "DISPATCHED":
        if req.unit_code:
            changes["unit_code"] = req.unit_code
        if ticket.status in ("RESOLVED", "CLOSED"):  # reopened: a fresh deadline, no outcome
            changes.update(due_at=now + DEADLINES[ticket.deadline_class], resolved_at=None,
                           closed_at=None, rating=None)
    elif target == "RESOLVED":
        changes["resolved_at"] = now
    elif target == "CLOSED":
        changes["closed_at"] = now
        if req.rating is not None:
            changes.update(rating=req.rating, rating_comment=(req.note or "").strip() or None)
    elif target == "REJECTED":
        changes["reject_reason"] = req.reason
    return changes


def _action(ticket: Any, req: Request, actor: Actor) -> str:
    if req.target == "DISPATCHED" and ticket.status in ("RESOLVED", "CLOSED"):
        return "REOPENED"
    if req.target == "CLOSED":
        return {Role.RESIDENT: "RATED", Role.SYSTEM: "AUTO_CLOSED"}.get(actor.role, "VERIFIED")
    return {"DISPATCHED": "DISPATCHED", "IN_PROGRESS": "STARTED", "RESOLVED": "RESOLVED",
            "REJECTED": "REJECTED"}[req.target]


async def transition(db: Database, actor: Actor, code: str, expected_version: int, req: Request,
                     now: datetime) -> str:
    """Moves a ticket to `req.target`; returns its code."""
    async with db.transaction() as conn:
        ticket = await _load(conn, actor, code, None)
        may_aim_for(actor, req.target)
        if ticket.version != expected_version:
            raise _conflict(code)
        move = find_move(ticket.status, req.target)
        authorise(actor, move, ticket)
        check_needs(actor, ticket, req, now)
        if req.unit_code and not await q.unit_exists(conn, req.unit_code):
            raise DomainError(ErrorCode.NOT_FOUND, f"no unit {req.unit_code!r}", "input.unitCode")
        note = (req.note or "").strip() or None
        if req.target == "REJECTED":
            note = f"{req.reason}: {note}" if note else req.reason
        if req.target == "CLOSED" and req.rating is not None:
            note = f"rating {req.rating}" + (f": {note}" if note else "")
        event = {"action": _action(ticket, req, actor), "actor": actor.subject,
                 "from_status": ticket.status, "to_status": req.target, "note": note}
        if await q.apply_change(conn, ticket.id, ticket.version, now,
                                _changes(ticket, req, actor, now), event) is None:
            raise _conflict(code)
        if req.target == "DISPATCHED" and req.unit_code:
            await q.set_units(conn, ticket.id, req.unit_code, [])
        if req.target == "CLOSED" and ticket.level == "COUNTY" and ticket.unit_code:
            await q.refer_if_three_at_county(conn, ticket.unit_code, now)
    return code


async def escalate(db: Database, actor: Actor, code: str, expected_version: int | None,
                   note: str | None, now: datetime) -> str:
    """Lifts an open ticket one step up community → street → county, with a fresh deadline."""
    if actor.role not in STAFF | {Role.SYSTEM}:
        raise DomainError(ErrorCode.FORBIDDEN, "escalation is for community staff or above")
    async with db.transaction() as conn:
        ticket = await _load(conn, actor, code, expected_version)
        if ticket.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"only open tickets climb the ladder; {code} is {ticket.status}")
        step = LADDER.index(ticket.level)
        if step == len(LADDER) - 1:
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"{code} is already supervised at county level")
        level = LADDER[step + 1]
        text = f"{ticket.level} → {level}" + (f": {note.strip()}" if note and note.strip() else "")
        changes = {"level": level, "escalated_at": now,
                   "due_at": now + DEADLINES[ticket.deadline_class]}
        event = {"action": "ESCALATED", "actor": actor.subject, "note": text}
        if await q.apply_change(conn, ticket.id, ticket.version, now, changes, event) is None:
            raise _conflict(code)
        if level == "COUNTY" and ticket.unit_code:
            await q.refer_if_three_at_county(conn, ticket.unit_code, now)
    return code


async def cosign(db: Database, actor: Actor, code: str, note: str | None, now: datetime) -> str:
    """Adds the caller's support to an open ticket, once per caller; raises its priority."""
    if actor.role is not Role.RESIDENT:
        raise DomainError(ErrorCode.FORBIDDEN, "co-signing is a resident's support: sign in as a "
                          "resident to co-sign a ticket")
    async with db.transaction() as conn:
        ticket = await q.ticket_for_change(conn, code)
        if ticket is None:
            raise _not_found(code)
        if ticket.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{code} is {ticket.status}: only "
                              "open tickets can be co-signed")
        if ticket.reporter_subject == actor.subject:
            raise DomainError(ErrorCode.BAD_USER_INPUT, "you reported this ticket yourself")
        if await q.add_cosigner(conn, ticket.id, actor.subject, now, note):
            await q.raise_priority(conn, ticket.id, 1, now)
            await q.add_event(conn, ticket.id, now, "COSIGNED", actor.subject)
    return code


async def merge(db: Database, actor: Actor, duplicate_code: str, original_code: str,
                expected_version: int, now: datetime) -> str:
    """Folds an open duplicate into its original: the duplicate closes pointing at the
    original, which keeps the duplicate's co-signers (and reporter) as its own."""
    if actor.role not in STAFF:
        raise DomainError(ErrorCode.FORBIDDEN, "merging is for community staff or above")
    if duplicate_code == original_code:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "a ticket cannot be merged into itself",
                          "input.originalCode")
    async with db.transaction() as conn:
        duplicate = await _load(conn, actor, duplicate_code, expected_version)
        original = await q.ticket_for_change(conn, original_code)
        if original is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no ticket {original_code!r}",
                              "input.originalCode")
        if not in_scope(actor, original):
            raise DomainError(ErrorCode.FORBIDDEN, f"ticket {original_code} is outside your scope")
        if duplicate.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{duplicate_code} is "
                              f"{duplicate.status}: only open tickets can be merged")
        if original.status == "REJECTED":
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{original_code} was rejected and "
                              "cannot take merges", "input.originalCode")
        changes = {"status": "CLOSED", "closed_at": now, "merged_into_id": original.id}
        event = {"action": "MERGED", "actor": actor.subject, "from_status": duplicate.status,
                 "to_status": "CLOSED", "note": f"merged into {original_code}"}
        if await q.apply_change(conn, duplicate.id, duplicate.version, now, changes, event) is None:
            raise _conflict(duplicate_code)
        added = await q.move_cosigners(conn, duplicate.id, original.id,
                                       duplicate.reporter_subject, now)
        await q.raise_priority(conn, original.id, added, now)
        await q.add_event(conn, original.id, now, "MERGED_FROM", actor.subject,
                          f"{duplicate_code} merged in")
    return original_code
