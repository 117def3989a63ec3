"""Moving tickets 工单 along: transitions, escalation up the ladder, co-signing, merging.

Every change is a conditional update on the ticket's version with its event, in one
transaction: of two concurrent writes with the same expected version exactly one wins and
the other gets CONFLICT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db import labels
from db.catalogue import DEADLINES
from db.database import Database
from db.queries import ticket_updates as q
from db.vocabulary import LEVELS
from db.vocabulary import TicketStatus as Status
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode
from resolvers.lifecycle import (
    OPEN,
    Request,
    authorise,
    check_needs,
    find_move,
    moves_open_to,
)
from resolvers.photos import MediaAccess, attaching, read_photos
from resolvers.policy import Operation

LADDER = LEVELS  # in the order tickets escalate
# Referrals and low-rated tickets listed at most (newest first): the lists grow with the years.
MAX_LISTED = 200


def _conflict(code: str) -> DomainError:
    return DomainError(ErrorCode.CONFLICT, f"ticket {code} was changed by someone else; "
                       "reload it and try again", "input.expectedVersion")


async def load(conn: Any, actor: Actor, operation: Operation, code: str, *,
               field: str = "input.code", nearby: bool = False) -> Any:
    """The ticket to act on, once the caller may perform `operation` on it.

    The role is checked first, then the scope: a caller outside the scope gets the same
    FORBIDDEN whether or not the code exists (only callers who act anywhere hear NOT_FOUND),
    and nothing about the ticket's state.

    Args:
        nearby: work out whether the ticket is near one of the caller's own reports (for
            the OWN_OR_NEARBY rule).
    """
    policy.check_role(actor, operation)
    ticket = await q.ticket_for_change(conn, code)
    label = f"ticket {code}"
    if ticket is None:
        raise policy.missing(actor, operation, label, DomainError(
            ErrorCode.NOT_FOUND, f"no ticket {code!r}", field))
    near = nearby and await q.near_own_report(conn, ticket.id, actor.subject,
                                              radius_m=policy.NEARBY_RADIUS_M,
                                              window=policy.NEARBY_WINDOW)
    policy.authorise(actor, operation, policy.ticket(ticket, nearby_own=near))
    return ticket


def _changes(ticket: Any, req: Request, actor: Actor, now: datetime) -> dict[str, Any]:
    target = req.target
    changes: dict[str, Any] = {"status": target}
    if target == Status.DISPATCHED:
        if req.unit_code:
            changes["unit_code"] = req.unit_code
        if ticket.status in (Status.RESOLVED, Status.CLOSED):  # reopened: a fresh deadline, no outcome
            changes.update(due_at=now + DEADLINES[ticket.deadline_class], resolved_at=None,
                           closed_at=None, rating=None)
    elif target == Status.RESOLVED:
        changes["resolved_at"] = now
    elif target == Status.CLOSED:
        changes["closed_at"] = now
        if req.rating is not None:
            changes.update(rating=req.rating, rating_comment=(req.note or "").strip() or None)
    elif target == Status.REJECTED:
        changes["reject_reason"] = req.reason
    return changes


# The event a move to each status writes, reopening and closing aside (`_action`).
_ACTIONS: dict[str, str] = {Status.DISPATCHED: "DISPATCHED", Status.IN_PROGRESS: "STARTED",
                            Status.RESOLVED: "RESOLVED", Status.REJECTED: "REJECTED"}


def _action(ticket: Any, req: Request, actor: Actor) -> str:
    if req.target == Status.DISPATCHED and ticket.status in (Status.RESOLVED, Status.CLOSED):
        return "REOPENED"
    if req.target == Status.CLOSED:
        how = policy.closing(actor)
        assert how is not None  # CLOSE was authorised: every role with it has a row
        return how.action
    return _ACTIONS[req.target]


def _note(req: Request) -> str | None:
    """The note a move writes in its event."""
    note = (req.note or "").strip() or None
    if req.target == Status.REJECTED and req.reason:
        note = labels.rejected(req.reason, note)
    if req.target == Status.CLOSED and req.rating is not None:
        note = labels.rated(req.rating, note)
    return note


async def _made_already(conn: Any, ticket: Any, expected_version: int, req: Request,
                        actor: Actor) -> bool:
    """Whether this very move was made already: the caller sent it again after losing the
    answer (a phone on a bad network). Versions only ever go up by one, so the ticket one
    version past the caller's, with its latest move the caller's own to the same status with
    the same note, can only be that move; anything else stays a CONFLICT."""
    if ticket.version != expected_version + 1 or ticket.status != req.target:
        return False
    last = await q.last_move(conn, ticket.id)
    return last is not None and (last.actor, last.to_status, last.note) == (
        actor.subject, req.target, _note(req))


async def transition(db: Database, actor: Actor, code: str, expected_version: int, req: Request,
                     now: datetime, *, photos: Sequence[Any] | None = None,
                     media: MediaAccess | None = None) -> str:
    """Moves a ticket to `req.target`, with the step's `photos` (uploads); returns its code.
    Naming another lead unit (`req.unit_code`) reassigns the ticket: the old lead unit loses
    it. Photos are read and checked once the caller's role may make the move, and stored only
    with the move (see resolvers/photos.py)."""
    operations = moves_open_to(actor, req.target)
    if req.unit_code:  # naming the unit is routing, whether or not one was set before
        policy.check_role(actor, Operation.REASSIGN, f"a {actor.role.value} may not name the "
                          "unit: only community staff and above route tickets")
    shots = await read_photos(photos, "photos")
    async with attaching(db, media, shots, actor.subject, "latest") as attach:
        return await _transition(db, actor, code, expected_version, req, now, operations,
                                 attach.hook)


async def _transition(db: Database, actor: Actor, code: str, expected_version: int,
                      req: Request, now: datetime, operations: list[Operation],
                      on_applied: Callable[[AsyncConnection[Any], int], Awaitable[None]] | None,
                      ) -> str:
    async with db.transaction() as conn:
        ticket = await load(conn, actor, operations[0], code)
        if ticket.version != expected_version:
            if await _made_already(conn, ticket, expected_version, req, actor):
                return code
            raise _conflict(code)
        move = find_move(ticket.status, req.target)
        authorise(actor, move, ticket)
        reassigned = bool(req.unit_code and ticket.unit_code and req.unit_code != ticket.unit_code)
        if reassigned:
            policy.authorise(actor, Operation.REASSIGN, policy.ticket(ticket))
        check_needs(actor, ticket, req, now)
        if req.unit_code and not await q.unit_exists(conn, req.unit_code):
            raise DomainError(ErrorCode.NOT_FOUND, f"no unit {req.unit_code!r}", "input.unitCode")
        event = {"action": _action(ticket, req, actor), "actor": actor.subject,
                 "from_status": ticket.status, "to_status": req.target, "note": _note(req)}
        if await q.apply_change(conn, ticket.id, ticket.version, now,
                                _changes(ticket, req, actor, now), event) is None:
            raise _conflict(code)
        if on_applied is not None:
            await on_applied(conn, ticket.id)
        if req.target == Status.DISPATCHED and req.unit_code:
            await q.set_lead_unit(conn, ticket.id, req.unit_code)
        if reassigned:
            await q.add_event(conn, ticket.id, now, "REASSIGNED", actor.subject,
                              labels.reassigned(ticket.unit_code or "", req.unit_code or ""))
        if req.target == Status.CLOSED and ticket.level == "COUNTY" and ticket.unit_code:
            await q.refer_if_three_at_county(conn, ticket.unit_code, now)
    return code


async def escalate(db: Database, actor: Actor, code: str, expected_version: int | None,
                   note: str | None, now: datetime) -> str:
    """Lifts an open ticket one step up community → street → county, with a fresh deadline."""
    policy.check_role(actor, Operation.ESCALATE, "escalation is for community staff or above")
    async with db.transaction() as conn:
        ticket = await load(conn, actor, Operation.ESCALATE, code)
        if expected_version is not None and ticket.version != expected_version:
            raise _conflict(code)
        if ticket.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"only open tickets climb the ladder; {code} is {ticket.status}")
        step = LADDER.index(ticket.level)
        if step == len(LADDER) - 1:
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"{code} is already supervised at county level")
        level = LADDER[step + 1]
        text = labels.escalated(ticket.level, level, note)
        changes = {"level": level, "escalated_at": now,
                   "due_at": now + DEADLINES[ticket.deadline_class]}
        event = {"action": "ESCALATED", "actor": actor.subject, "note": text}
        if await q.apply_change(conn, ticket.id, ticket.version, now, changes, event) is None:
            raise _conflict(code)
        if level == "COUNTY" and ticket.unit_code:
            await q.refer_if_three_at_county(conn, ticket.unit_code, now)
    return code


async def coordinate(db: Database, actor: Actor, code: str, expected_version: int,
                     note: str | None, now: datetime) -> str:
    """A zone 片区 takes over a stuck community-level ticket before it climbs to the street:
    once per ticket, with a fresh deadline of its class, recorded in its history."""
    policy.check_role(actor, Operation.COORDINATE, "zone coordination is for zone officers "
                      "(and the county office)")
    async with db.transaction() as conn:
        ticket = await load(conn, actor, Operation.COORDINATE, code)
        if ticket.version != expected_version:
            raise _conflict(code)
        if ticket.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"only open tickets are coordinated; {code} is {ticket.status}")
        if ticket.level != "COMMUNITY":
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"{code} is already supervised at {ticket.level.lower()} level: a "
                              "zone takes over community-level tickets only")
        if await q.has_event(conn, ticket.id, "ZONE_COORDINATED"):
            raise DomainError(ErrorCode.INVALID_TRANSITION,
                              f"the zone has taken {code} over already: next it goes to the street")
        changes = {"due_at": now + DEADLINES[ticket.deadline_class]}
        event = {"action": "ZONE_COORDINATED", "actor": actor.subject,
                 "note": labels.zone_coordinated(note)}
        if await q.apply_change(conn, ticket.id, ticket.version, now, changes, event) is None:
            raise _conflict(code)
    return code


async def cosign(db: Database, actor: Actor, code: str, note: str | None, now: datetime) -> str:
    """Adds a resident's support to an open ticket they may see (their own, or one near one of
    their reports), once per resident; raises its priority, not its version."""
    policy.check_role(actor, Operation.COSIGN, "co-signing is a resident's support: sign in "
                      "as a resident to co-sign a ticket")
    async with db.transaction() as conn:
        ticket = await load(conn, actor, Operation.COSIGN, code, nearby=True)
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
    policy.check_role(actor, Operation.MERGE, "merging is for community staff or above")
    if duplicate_code == original_code:
        raise DomainError(ErrorCode.BAD_USER_INPUT, "a ticket cannot be merged into itself",
                          "input.originalCode")
    async with db.transaction() as conn:
        duplicate = await load(conn, actor, Operation.MERGE, duplicate_code,
                               field="input.duplicateCode")
        if duplicate.version != expected_version:
            raise _conflict(duplicate_code)
        original = await load(conn, actor, Operation.MERGE, original_code,
                              field="input.originalCode")
        if duplicate.status not in OPEN:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{duplicate_code} is "
                              f"{duplicate.status}: only open tickets can be merged")
        if original.status == Status.REJECTED:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{original_code} was rejected and "
                              "cannot take merges", "input.originalCode")
        changes = {"status": Status.CLOSED, "closed_at": now, "merged_into_id": original.id}
        event = {"action": "MERGED", "actor": actor.subject, "from_status": duplicate.status,
                 "to_status": Status.CLOSED, "note": labels.merged_into(original_code)}
        if await q.apply_change(conn, duplicate.id, duplicate.version, now, changes, event) is None:
            raise _conflict(duplicate_code)
        added = await q.move_cosigners(conn, duplicate.id, original.id,
                                       duplicate.reporter_subject, now)
        await q.raise_priority(conn, original.id, added, now)
        await q.add_event(conn, original.id, now, "MERGED_FROM", actor.subject,
                          labels.merged_from(duplicate_code))
    return original_code


async def referrals(db: Database, actor: Actor) -> list[Any]:
    """Units referred to the county efficiency office, newest first."""
    policy.check_role(actor, Operation.READ_REFERRALS,
                      "for county, street and community staff and planners")
    async with db.connection() as conn:
        return await q.referrals(conn, MAX_LISTED)


async def unit_ratings(db: Database, actor: Actor, unit_code: str,
                       max_rating: int) -> tuple[Any, list[Any]]:
    """A unit's rating summary and its tickets rated at or below `max_rating`."""
    policy.check_role(actor, Operation.READ_UNIT_RATINGS,
                      "for county, street and community staff, planners and the unit itself")
    policy.authorise(actor, Operation.READ_UNIT_RATINGS, policy.place(unit_code, f"unit {unit_code}"))
    async with db.connection() as conn:
        return (await q.rating_summary(conn, unit_code),
                await q.rated_tickets(conn, unit_code, max_rating, MAX_LISTED))
