"""Community life beyond tickets: social organisations 社会组织 and market fairs 万市大集
(public), and the service rooms' 社服用房 ledger with its approval chain — the owners'
committee applies (entered by the compound's supervisor or community staff), the community
party organisation reviews (community staff), the street approves (street officers); the
county office may act at every step. An approved application puts the room in use or rents
it out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from db.database import Database
from db.queries import community_life as q
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import limit
from resolvers.policy import Operation

MAX_FAIRS = 500
MAX_APPLICATIONS = 200
MAX_PURPOSE = 500
FAIR_SPAN_DAYS = 3 * 366
USES = ("USE", "RENT")
OPEN = ("APPLIED", "REVIEWED")


async def social_organisations(db: Database, *, community_code: str | None, kind: str | None,
                               field: str | None) -> list[Any]:
    async with db.connection() as conn:
        return await q.social_organisations(conn, community_code=community_code, kind=kind,
                                            field=field)


async def market_fairs(db: Database, *, first: date, last: date, community_code: str | None,
                       first_n: int) -> list[Any]:
    if first > last:
        raise bad_input("`from` must not be after `to`", "from")
    if (last - first).days > FAIR_SPAN_DAYS:
        raise bad_input(f"at most {FAIR_SPAN_DAYS} days at a time", "to")
    async with db.connection() as conn:
        return await q.market_fairs(conn, first=first, last=last, community_code=community_code,
                                    limit=limit(first_n, cap=MAX_FAIRS))


@dataclass(frozen=True)
class RoomTotals:
    """A community's (or the county's) service rooms: recovered and rented m², rent income."""

    code: str
    rooms: int
    recovered_m2: Decimal
    rented_m2: Decimal
    income: Decimal


async def service_rooms(db: Database, actor: Actor, *, community_code: str | None,
                        first: date, last: date) -> list[Any]:
    operation = Operation.READ_SERVICE_ROOMS
    policy.check_role(actor, operation, "the service rooms' ledger is for supervisors, staff "
                      "and planners")
    policy.check_place(actor, operation, community_code, "communityCode")
    if first > last:
        raise bad_input("`from` must not be after `to`", "from")
    async with db.connection() as conn:
        return await q.service_rooms(conn, community_code=community_code,
                                     scopes=policy.sql_scopes(actor, operation), first=first,
                                     last=last)


def totals(rooms: Sequence[Any], county_code: str) -> list[RoomTotals]:
    """Per community, then the whole (`county_code`) last."""
    groups: dict[str, list[Any]] = defaultdict(list)
    for r in rooms:
        groups[r.community_code].append(r)
    groups[county_code] = list(rooms)

    def total(code: str, mine: list[Any]) -> RoomTotals:
        return RoomTotals(code, len(mine), sum((r.area_m2 for r in mine), Decimal(0)),
                          sum((r.area_m2 for r in mine if r.status == "RENTED"), Decimal(0)),
                          sum((r.income for r in mine), Decimal(0)))

    return [total(code, groups[code]) for code in sorted(groups) if code != county_code] + [
        total(county_code, groups[county_code])]


async def applications(db: Database, actor: Actor, *, community_code: str | None,
                       statuses: Sequence[str] | None, first: int,
                       application_id: int | None = None) -> tuple[list[Any], list[Any]]:
    """Applications newest first (or the one `application_id`) with their steps."""
    operation = Operation.READ_SERVICE_ROOMS
    policy.check_role(actor, operation, "the service rooms' ledger is for supervisors, staff "
                      "and planners")
    policy.check_place(actor, operation, community_code, "communityCode")
    async with db.connection() as conn:
        rows = await q.applications(conn, scopes=policy.sql_scopes(actor, operation),
                                    community_code=community_code, statuses=statuses,
                                    limit=limit(first, cap=MAX_APPLICATIONS),
                                    application_id=application_id)
        steps = await q.steps(conn, [r.id for r in rows])
    return rows, steps


def _target(row: Any, label: str) -> policy.Target:
    return policy.place(row.compound_code or row.community_code, label)


def _authorised(actor: Actor, operation: Operation, row: Any, label: str, missing: str,
                field: str) -> Any:
    """`row` (a room or an application), once it is found and within the caller's scope for
    `operation`; NOT_FOUND with `missing` at `field` when there is no such row."""
    if row is None:
        raise policy.missing(actor, operation, label,
                             DomainError(ErrorCode.NOT_FOUND, missing, field))
    policy.authorise(actor, operation, _target(row, label))
    return row


async def apply(db: Database, actor: Actor, *, room_code: str, use: str, purpose: str,
                note: str | None, now: datetime) -> int:
    operation = Operation.APPLY_SERVICE_ROOM
    policy.check_role(actor, operation, "an owners' committee's application is entered by its "
                      "compound's supervisor or community staff")
    if use not in USES:
        raise bad_input(f"`use` must be one of {', '.join(USES)}", "input.use")
    purpose = purpose.strip()
    if not 1 <= len(purpose) <= MAX_PURPOSE:
        raise bad_input(f"`purpose` must be 1–{MAX_PURPOSE} characters", "input.purpose")
    async with db.transaction() as conn:
        room = _authorised(actor, operation, await q.room(conn, room_code),
                           f"service room {room_code}", f"no service room {room_code!r}",
                           "input.roomCode")
        if room.status != "IDLE":
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{room_code} is {room.status}: only "
                              "an idle room is applied for", "input.roomCode")
        if await q.open_application(conn, room_code):
            raise DomainError(ErrorCode.CONFLICT, f"{room_code} has an application on its way "
                              "already", "input.roomCode")
        return await q.insert_application(conn, room_code=room_code, use=use, purpose=purpose,
                                          at=now, actor=actor.subject,
                                          note=note or "业委会提出申请")


# step → (operation, the status it starts from, the status a yes leads to)
STEPS = {
    "REVIEW": (Operation.REVIEW_SERVICE_ROOM, "APPLIED", "REVIEWED"),
    "APPROVE": (Operation.APPROVE_SERVICE_ROOM, "REVIEWED", "APPROVED"),
}


async def decide(db: Database, actor: Actor, step: str, *, application_id: int,
                 expected_version: int, approve: bool, note: str | None, now: datetime) -> int:
    """The community's review or the street's approval: yes moves the application on (an
    approval puts the room in use or rents it out), no rejects it."""
    operation, start, yes = STEPS[step]
    policy.check_role(actor, operation)
    async with db.transaction() as conn:
        label = f"service-room application {application_id}"
        row = _authorised(actor, operation, await q.application(conn, application_id), label,
                          f"no application {application_id}", "input.id")
        if row.version != expected_version:
            raise DomainError(ErrorCode.CONFLICT, f"{label} has changed (version {row.version}); "
                              "read it again", "input.expectedVersion")
        if row.status != start:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{label} is {row.status}; "
                              f"{step.lower()} needs it {start}", "input.id")
        status = yes if approve else "REJECTED"
        if not await q.move_application(conn, application_id, expected_version, status):
            raise DomainError(ErrorCode.CONFLICT, f"{label} has changed; read it again",
                              "input.expectedVersion")
        default = {"REVIEW": ("社区党组织审核同意", "社区党组织审核未通过"),
                   "APPROVE": ("街道审批同意", "街道审批未通过")}[step][0 if approve else 1]
        await q.add_step(conn, application_id, now, step if approve else "REJECT",
                         actor.subject, (note or "").strip() or default)
        if status == "APPROVED":
            await q.set_room_status(conn, row.room_code,
                                    "RENTED" if row.use == "RENT" else "IN_USE")
    return application_id
